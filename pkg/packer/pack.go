// Package packer loads, lints, builds and unpacks Palette-style packs.
//
// A pack is a folder holding pack.json, values.yaml and, as the pack needs,
// a logo, a README, Helm chart archives, Kubernetes manifests and Ansible
// roles. [Load] reads one into a [Pack]; [Lint] checks it and says, for every
// problem, which file, line and field is wrong and how to fix it; [Build]
// turns it into the native OCI artifact and the Palette archive; [Unpack]
// writes either encoding back into a folder, safely.
//
// The package does no network I/O: it reads and writes folders, and content
// stores such as an OCI image layout (package ocilayout) or, through the
// same interfaces, a remote repository.
package packer

import (
	"github.com/packyard/packyard/internal/fileread"

	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Files every pack may hold at its top, by name.
const (
	PackJSONFile = "pack.json"
	ValuesFile   = "values.yaml"
	LogoFile     = "logo.png"
	ReadmeFile   = "README.md"
	PresetsFile  = "presets.yaml"
	SchemaFile   = "schema.yaml"
)

// Conventional folders of a pack.
const (
	ManifestsDir    = "manifests"
	AnsibleRolesDir = "ansible-roles"
	ChartsDir       = "charts"
)

// MaxPackJSONSize bounds the pack.json Load reads.
const MaxPackJSONSize = 1 << 20

// Metadata is the content of pack.json.
type Metadata struct {
	Name          string            `json:"name"`
	DisplayName   string            `json:"displayName"`
	Version       string            `json:"version"`
	Layer         string            `json:"layer"`
	AddonType     string            `json:"addonType,omitempty"`
	AddonSubType  string            `json:"addonSubType,omitempty"`
	CloudTypes    []string          `json:"cloudTypes,omitempty"`
	Group         string            `json:"group,omitempty"`
	EOL           string            `json:"eol,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
	KubeManifests []string          `json:"kubeManifests,omitempty"`
	Charts        []string          `json:"charts,omitempty"`
	AnsibleRoles  []string          `json:"ansibleRoles,omitempty"`
	Constraints   *Constraints      `json:"constraints,omitempty"`
}

// Constraints restrict where a pack can be used.
type Constraints struct {
	Dependencies []Dependency `json:"dependencies,omitempty"`
	Resources    []Resource   `json:"resources,omitempty"`
}

// Dependency relates a pack to another pack of a cluster profile.
type Dependency struct {
	PackName   string `json:"packName"`
	Layer      string `json:"layer"`
	Type       string `json:"type"`
	MinVersion string `json:"minVersion,omitempty"`
	MaxVersion string `json:"maxVersion,omitempty"`
}

// Resource is a resource a pack needs from the cluster.
type Resource struct {
	Type       string      `json:"type"`
	MinLimit   json.Number `json:"minLimit,omitempty"`
	Components []Component `json:"components,omitempty"`
}

// Component says where a resource requirement applies.
type Component struct {
	ScheduleType            string `json:"scheduleType"`
	ResourceRequestParamRef string `json:"resourceRequestParamRef,omitempty"`
	ReplicaCountParamRef    string `json:"replicaCountParamRef,omitempty"`
}

// FileKind is what an inventory entry is.
type FileKind int

// Kinds of inventory entries.
const (
	KindRegular FileKind = iota
	KindDir
	KindSymlink
	// KindOther is a device, pipe or socket: never part of a pack.
	KindOther
)

func (k FileKind) String() string {
	switch k {
	case KindRegular:
		return "file"
	case KindDir:
		return "folder"
	case KindSymlink:
		return "symbolic link"
	default:
		return "special file"
	}
}

// File is one entry of a pack folder.
type File struct {
	// Path is relative to the pack folder, with forward slashes.
	Path string
	Kind FileKind
	// Mode holds the permission bits as found on disk.
	Mode fs.FileMode
	// Size is the size of a regular file.
	Size int64
	// Target is where a symbolic link points, as written in the link.
	Target string
}

// Pack is a pack folder read into memory: its metadata and an inventory of
// its files. File contents stay on disk.
type Pack struct {
	// Dir is the pack folder as given to Load.
	Dir string
	// Meta is pack.json, decoded.
	Meta Metadata
	// PackJSON is pack.json exactly as it is on disk.
	PackJSON []byte
	// Files lists every file, folder and link under Dir, sorted by path.
	Files []File

	index     map[string]int
	json      *jsonIndex
	loadFinds []Finding
	// states are the file system's states of Files, in the same order;
	// loaded is when the inventory began, root the folder it walked (Dir,
	// links resolved), and trusted whether root's file system keeps true
	// change times (see StateKey).
	states  []fileState
	loaded  time.Time
	root    string
	trusted bool
}

// File returns the inventory entry at the slash-separated relative path.
func (p *Pack) File(rel string) (File, bool) {
	i, ok := p.index[rel]
	if !ok {
		return File{}, false
	}
	return p.Files[i], true
}

// FieldPosition is where the pack.json value at a field path ("layer",
// "charts[0]") starts.
func (p *Pack) FieldPosition(field string) Position { return p.json.pos(field) }

// Tag is the OCI tag the pack's version maps to.
func (p *Pack) Tag() string { return VersionTag(p.Meta.Version) }

// LoadError says that a folder could not be read as a pack. Findings holds
// the problems, each with its file and line.
type LoadError struct {
	Dir      string
	Findings []Finding
}

func (e *LoadError) Error() string {
	if len(e.Findings) == 0 {
		return "loading pack " + e.Dir
	}
	f := e.Findings[0]
	return fmt.Sprintf("loading pack %s: %s", e.Dir, f.Location()+f.Message)
}

// Unwrap lets errors.Is(err, ErrInvalidPack) match.
func (e *LoadError) Unwrap() error { return ErrInvalidPack }

// Load reads the pack folder at dir: pack.json, decoded with the position
// of every field kept, and an inventory of every file. It fails with a
// *LoadError when pack.json is missing, is not valid JSON, or holds a field
// of the wrong type; Lint reports everything else.
func Load(ctx context.Context, dir string) (*Pack, error) {
	p, err := load(ctx, dir)
	if err != nil {
		return nil, err
	}
	var errs []Finding
	for _, f := range p.loadFinds {
		if f.Severity == SeverityError {
			errs = append(errs, f)
		}
	}
	if len(errs) > 0 {
		return nil, &LoadError{Dir: dir, Findings: errs}
	}
	return p, nil
}

// load reads what it can of a pack, recording problems as findings. It
// fails only when dir cannot be read at all.
func load(ctx context.Context, dir string) (*Pack, error) {
	st, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, kindf(ErrInvalidPack, "pack folder %s does not exist", dir)
		}
		return nil, err
	}
	if !st.IsDir() {
		return nil, kindf(ErrInvalidPack, "%s is not a folder; give the pack's folder", dir)
	}
	p := &Pack{Dir: dir}
	if err := p.inventory(ctx); err != nil {
		return nil, err
	}
	p.readPackJSON()
	return p, nil
}

func (p *Pack) inventory(ctx context.Context) error {
	p.index = map[string]int{}
	p.loaded = time.Now()
	// A pack folder given as a link (pack-central's "latest") is walked
	// through the link; WalkDir does not follow a link at its root.
	root, err := filepath.EvalSymlinks(p.Dir)
	if err != nil {
		return err
	}
	p.root, p.trusted = root, trustedTimes(root)
	return filepath.WalkDir(root, func(full string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(root, full)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		f := File{Path: filepath.ToSlash(rel), Mode: info.Mode().Perm()}
		switch {
		case info.Mode().IsRegular():
			f.Kind, f.Size = KindRegular, info.Size()
		case info.IsDir():
			f.Kind = KindDir
		case info.Mode()&fs.ModeSymlink != 0:
			f.Kind = KindSymlink
			if f.Target, err = os.Readlink(full); err != nil {
				return err
			}
		default:
			f.Kind = KindOther
		}
		p.index[f.Path] = len(p.Files)
		p.Files = append(p.Files, f)
		p.states = append(p.states, stateOf(info))
		return nil
	})
}

// knownFields are the pack.json fields packyard understands.
var knownFields = []string{
	"name", "displayName", "version", "layer", "addonType", "addonSubType",
	"cloudTypes", "cloudType", "group", "eol", "annotations", "kubeManifests",
	"charts", "ansibleRoles", "constraints",
	// Written by pack-central's publishing pipeline; Palette ignores it.
	"commit_msg",
}

func (p *Pack) readPackJSON() {
	full := filepath.Join(p.Dir, PackJSONFile)
	fi, ok := p.File(PackJSONFile)
	if !ok {
		p.loadFinds = append(p.loadFinds, Finding{
			Severity: SeverityError, Code: CodeMissingFile, File: PackJSONFile,
			Message: "pack.json is missing",
			Fix:     "add pack.json with at least name, displayName, version, layer and cloudTypes",
		})
		return
	}
	if fi.Kind == KindDir || fi.Kind == KindOther {
		p.loadFinds = append(p.loadFinds, Finding{
			Severity: SeverityError, Code: CodeMissingFile, File: PackJSONFile,
			Message: "pack.json is a " + fi.Kind.String() + ", not a file",
			Fix:     "replace it with the pack's metadata file",
		})
		return
	}
	data, err := fileread.Limited(full, MaxPackJSONSize)
	if err != nil {
		p.loadFinds = append(p.loadFinds, Finding{
			Severity: SeverityError, Code: CodeInvalidJSON, File: PackJSONFile,
			Message: err.Error(), Fix: "pack.json is metadata only; keep it small",
		})
		return
	}
	p.PackJSON = data
	p.decodeMetadata(data)
}

// decodeMetadata decodes pack.json field by field, so that one field of the
// wrong type is reported at its line and the others still load.
func (p *Pack) decodeMetadata(data []byte) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		pos, msg := jsonSyntaxError(data, err)
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			msg = "pack.json must hold a JSON object, not " + te.Value
		}
		p.loadFinds = append(p.loadFinds, Finding{
			Severity: SeverityError, Code: CodeInvalidJSON, File: PackJSONFile, Position: pos,
			Message: msg, Fix: "fix the JSON syntax (a validator such as `jq . pack.json` shows the spot)",
		})
		return
	}
	ix, err := indexJSON(data)
	if err != nil {
		// json.Unmarshal accepted it, so the token walk does too; keep going
		// without positions rather than fail.
		ix = nil
	}
	p.json = ix
	if ix != nil {
		for _, dup := range ix.dups {
			p.loadFinds = append(p.loadFinds, Finding{
				Severity: SeverityWarning, Code: CodeDuplicateKey, File: PackJSONFile, Field: dup,
				Position: ix.pos(dup),
				Message:  fmt.Sprintf("%q appears more than once; the last one wins", dup),
				Fix:      "keep one of them",
			})
		}
	}

	m := &p.Meta
	fields := map[string]any{
		"name": &m.Name, "displayName": &m.DisplayName, "version": &m.Version,
		"layer": &m.Layer, "addonType": &m.AddonType, "addonSubType": &m.AddonSubType,
		"cloudTypes": &m.CloudTypes, "group": &m.Group, "eol": &m.EOL,
		"annotations": &m.Annotations, "kubeManifests": &m.KubeManifests,
		"charts": &m.Charts, "ansibleRoles": &m.AnsibleRoles, "constraints": &m.Constraints,
	}
	var legacyCloudType, commitMsg string
	fields["cloudType"] = &legacyCloudType
	fields["commit_msg"] = &commitMsg

	keys := make([]string, 0, len(top))
	for k := range top {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		raw := top[key]
		name := key
		if _, ok := fields[name]; !ok {
			if canon := closestField(key); canon != "" && strings.EqualFold(canon, key) {
				if _, dup := top[canon]; !dup {
					name = canon
					if ix != nil {
						// Lint looks fields up by their schema name.
						ix.values[canon] = ix.values[key]
					}
					p.loadFinds = append(p.loadFinds, Finding{
						Severity: SeverityWarning, Code: CodeUnknownField, File: PackJSONFile, Field: key,
						Position: ix.pos(key),
						Message:  fmt.Sprintf("field %q is spelled %q in the schema", key, canon),
						Fix:      fmt.Sprintf("rename it to %q", canon),
					})
				}
			}
		}
		target, ok := fields[name]
		if !ok {
			f := Finding{
				Severity: SeverityWarning, Code: CodeUnknownField, File: PackJSONFile, Field: key,
				Position: ix.pos(key),
				Message:  fmt.Sprintf("unknown field %q; Palette ignores it", key),
				Fix:      "remove it",
			}
			if canon := closestField(key); canon != "" {
				f.Fix = fmt.Sprintf("did you mean %q?", canon)
			}
			p.loadFinds = append(p.loadFinds, f)
			continue
		}
		if string(raw) == "null" {
			continue
		}
		if err := json.Unmarshal(raw, target); err != nil {
			p.loadFinds = append(p.loadFinds, typeFinding(ix, key, err))
		}
	}
	if legacyCloudType != "" {
		f := Finding{
			Severity: SeverityWarning, Code: CodeDeprecatedField, File: PackJSONFile, Field: "cloudType",
			Position: ix.pos("cloudType"),
			Message:  `"cloudType" is the old single-cloud field`,
			Fix:      fmt.Sprintf(`use "cloudTypes": [%q]`, legacyCloudType),
		}
		if len(m.CloudTypes) == 0 {
			m.CloudTypes = []string{legacyCloudType}
		}
		p.loadFinds = append(p.loadFinds, f)
	}
}

// typeFinding reports a pack.json value of the wrong JSON type.
func typeFinding(ix *jsonIndex, key string, err error) Finding {
	f := Finding{
		Severity: SeverityError, Code: CodeInvalidType, File: PackJSONFile, Field: key,
		Position: ix.pos(key),
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := key
		if te.Field != "" && te.Field != key {
			field = key + "." + te.Field
		}
		f.Field = field
		if ix != nil {
			if start, ok := ix.values[key]; ok {
				// te.Offset is relative to raw and points past the bad value.
				off := start + te.Offset - 1
				for off > start && off < int64(len(ix.data)) && isJSONSpace(ix.data[off]) {
					off--
				}
				vstart := valueStartBefore(ix.data, start, off)
				f.Position = positionAt(ix.data, vstart)
				// Name the element or member that is wrong ("cloudTypes[1]",
				// "constraints.dependencies[0].packName"); te.Field omits
				// array indexes and map keys.
				for p, o := range ix.values {
					if o == vstart && (p == key || strings.HasPrefix(p, key+".") || strings.HasPrefix(p, key+"[")) {
						field = p
					}
				}
				f.Field = field
			}
		}
		f.Message = fmt.Sprintf("%s must be %s, not %s", field, jsonTypeName(te.Type.String()), te.Value)
		f.Fix = "change the value to " + jsonTypeName(te.Type.String())
		return f
	}
	f.Message = fmt.Sprintf("%s: %v", key, err)
	f.Fix = "correct the value"
	return f
}

func isJSONSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\r' || b == '\n' }

// valueStartBefore finds the start of the JSON value that ends at or
// around off, scanning back no further than start.
func valueStartBefore(data []byte, start, off int64) int64 {
	if off <= start {
		return start
	}
	switch data[off] {
	case '"':
		for i := off - 1; i > start; i-- {
			if data[i] == '"' && data[i-1] != '\\' {
				return i
			}
		}
		return start
	case '}', ']':
		return off
	}
	i := off
	for i > start {
		c := data[i-1]
		if c == ',' || c == ':' || c == '[' || c == '{' || isJSONSpace(c) {
			break
		}
		i--
	}
	return i
}

func jsonTypeName(goType string) string {
	switch {
	case goType == "string":
		return "a string"
	case strings.HasPrefix(goType, "[]"):
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(jsonTypeName(goType[2:]), "a "), "an ") + "s"
	case strings.HasPrefix(goType, "map["):
		return "an object of strings"
	case strings.Contains(goType, "Number"), strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "bool":
		return "true or false"
	default:
		return "an object"
	}
}

// closestField suggests the known field a misspelled one meant.
func closestField(key string) string { return closest(key, knownFields) }

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// cleanRel checks a path written in pack.json and returns it cleaned,
// relative to the pack, with forward slashes. It refuses absolute paths,
// paths that climb out of the pack and backslashes.
func cleanRel(p string) (string, error) {
	switch {
	case p == "":
		return "", errors.New("the path is empty")
	case strings.Contains(p, `\`):
		return "", errors.New("the path holds a backslash; use forward slashes")
	case strings.ContainsRune(p, 0):
		return "", errors.New("the path holds a NUL byte")
	case path.IsAbs(p) || filepath.IsAbs(p) || filepath.VolumeName(p) != "":
		return "", errors.New("the path is absolute; write it relative to the pack folder")
	}
	if slices.Contains(strings.Split(p, "/"), "..") {
		return "", errors.New(`the path holds "..", which could lead out of the pack folder; write it without`)
	}
	c := path.Clean(p)
	if c == "." {
		return "", errors.New("the path names the pack folder itself")
	}
	return c, nil
}

// path is the on-disk path of a pack file given by its relative path.
func (p *Pack) path(rel string) string { return filepath.Join(p.Dir, filepath.FromSlash(rel)) }
