package packer

import (
	"github.com/packyard/packyard/internal/fileread"

	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
)

// Enumerations of pack.json, as Palette and the pack-central schema define
// them.
var (
	Layers     = []string{"kernel", "os", "k8s", "cni", "csi", "addon"}
	AddonTypes = []string{"logging", "monitoring", "load balancer", "authentication", "ingress",
		"security", "ai", "app services", "network", "storage", "registry", "servicemesh", "system app"}
	CloudTypes = []string{"all", "aws", "azure", "gcp", "vsphere", "openstack", "baremetal", "maas",
		"aks", "eks", "tke", "edge", "edge-native", "coxedge", "libvirt", "tencent", "custom"}
	DependencyTypes = []string{"required", "optional", "notSupported", "upgrade"}
	ResourceTypes   = []string{"cpu", "memory", "diskSize"}
	ScheduleTypes   = []string{"all", "master", "worker"}
)

// repoComponent is an OCI distribution repository name component.
var repoComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$`)

// tagPattern is an OCI distribution tag.
var tagPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)

// MaxManifestFileSize bounds the Kubernetes manifest files and YAML files
// Lint reads.
const MaxManifestFileSize = 16 << 20

// LintOptions tune Lint. The zero value works.
type LintOptions struct {
	// Now is the day an eol date is compared with; zero means today.
	Now time.Time
}

// ChartInfo is what Lint read from a chart archive's Chart.yaml.
type ChartInfo struct {
	// Path is the archive's path in the pack.
	Path       string `json:"path"`
	Name       string `json:"name"`
	Version    string `json:"version"`
	AppVersion string `json:"appVersion,omitempty"`
}

// Report is the result of linting one pack.
type Report struct {
	// Dir is the pack folder as given.
	Dir      string      `json:"dir"`
	Name     string      `json:"name,omitempty"`
	Version  string      `json:"version,omitempty"`
	Charts   []ChartInfo `json:"charts,omitempty"`
	Findings []Finding   `json:"findings"`
}

// Errors counts the error findings.
func (r *Report) Errors() int { return r.count(SeverityError) }

// Warnings counts the warning findings.
func (r *Report) Warnings() int { return r.count(SeverityWarning) }

func (r *Report) count(s Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == s {
			n++
		}
	}
	return n
}

// Lint loads the pack folder at dir and checks it. It fails only when the
// folder cannot be read; every problem with the pack is a finding.
func Lint(ctx context.Context, dir string, opts LintOptions) (*Report, error) {
	p, err := load(ctx, dir)
	if err != nil {
		return nil, err
	}
	return p.Lint(ctx, opts)
}

// Lint checks a loaded pack.
func (p *Pack) Lint(ctx context.Context, opts LintOptions) (*Report, error) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	l := &linter{p: p, opts: opts, r: &Report{Dir: p.Dir, Name: p.Meta.Name, Version: p.Meta.Version, Findings: []Finding{}},
		referenced: map[string]bool{}}
	l.r.Findings = append(l.r.Findings, p.loadFinds...)
	steps := []func(context.Context) error{
		l.mandatoryFiles, l.fields, l.dependencies, l.paths, l.charts, l.yamlFiles,
		l.manifests, l.roles, l.logo, l.specialFiles, l.unreferenced,
	}
	for _, step := range steps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := step(ctx); err != nil {
			return nil, err
		}
	}
	sort.SliceStable(l.r.Findings, func(i, j int) bool {
		a, b := l.r.Findings[i], l.r.Findings[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return l.r, nil
}

type linter struct {
	p    *Pack
	opts LintOptions
	r    *Report
	// referenced holds the paths pack.json or a convention accounts for; a
	// folder's entry covers everything below it.
	referenced map[string]bool
	// manifestFiles and chartFiles are the resolved paths of listed files.
	manifestFiles []string
	chartFiles    []string
}

func (l *linter) add(f Finding) { l.r.Findings = append(l.r.Findings, f) }

func (l *linter) fieldFinding(sev Severity, code, field, msg, fix string) {
	for _, f := range l.p.loadFinds {
		// A value of the wrong type is reported once, not again as the
		// zero value it decoded to.
		if f.Code == CodeInvalidType && (f.Field == field || strings.HasPrefix(field, f.Field+".") || strings.HasPrefix(field, f.Field+"[")) {
			return
		}
	}
	l.add(Finding{Severity: sev, Code: code, File: PackJSONFile, Field: field,
		Position: l.p.FieldPosition(field), Message: msg, Fix: fix})
}

func (l *linter) hasPackJSON() bool { return l.p.PackJSON != nil && l.p.json != nil }

func (l *linter) mandatoryFiles(context.Context) error {
	for _, m := range []struct {
		name string
		sev  Severity
		fix  string
	}{
		{ValuesFile, SeverityError, "add values.yaml; it may be empty, as for OS packs"},
		{LogoFile, SeverityWarning, "add a PNG logo named logo.png; Palette shows it and pack-central requires it"},
		{ReadmeFile, SeverityWarning, "add README.md describing the pack and its parameters"},
	} {
		f, ok := l.p.File(m.name)
		if !ok {
			l.add(Finding{Severity: m.sev, Code: CodeMissingFile, File: m.name,
				Message: m.name + " is missing", Fix: m.fix})
			continue
		}
		l.referenced[m.name] = true
		if f.Kind == KindSymlink {
			if _, err := l.p.resolve(m.name); err != nil {
				l.add(Finding{Severity: SeverityError, Code: CodeMissingFile, File: m.name,
					Message: fmt.Sprintf("%s is a link to %q, which %s", m.name, f.Target, linkProblem(err)),
					Fix:     "replace the link with the file, or point it at a file inside the pack"})
				continue
			}
		}
		if f.Kind == KindDir {
			l.add(Finding{Severity: SeverityError, Code: CodeWrongKind, File: m.name,
				Message: m.name + " is a folder, not a file", Fix: "replace the folder with the file"})
		}
	}
	for _, name := range []string{PackJSONFile, PresetsFile, SchemaFile} {
		if _, ok := l.p.File(name); ok {
			l.referenced[name] = true
		}
	}
	return nil
}

func (l *linter) fields(context.Context) error {
	if !l.hasPackJSON() {
		return nil
	}
	m := l.p.Meta
	present := l.p.json.values
	for _, req := range []struct{ field, value, fix string }{
		{"name", m.Name, `add "name": the pack's name, lowercase, as in "my-pack"`},
		{"displayName", m.DisplayName, `add "displayName": the name Palette shows`},
		{"version", m.Version, `add "version": the pack's version, as in "1.0.0"`},
		{"layer", m.Layer, `add "layer": one of ` + strings.Join(Layers, ", ")},
	} {
		if _, ok := present[req.field]; !ok {
			l.fieldFinding(SeverityError, CodeMissingField, req.field,
				fmt.Sprintf("required field %q is missing", req.field), req.fix)
		} else if strings.TrimSpace(req.value) == "" && !l.typeError(req.field) {
			l.fieldFinding(SeverityError, CodeMissingField, req.field,
				fmt.Sprintf("required field %q is empty", req.field), req.fix)
		}
	}
	if _, ok := present["cloudTypes"]; !ok && len(m.CloudTypes) == 0 {
		l.fieldFinding(SeverityWarning, CodeMissingField, "cloudTypes",
			`"cloudTypes" is missing; Palette's documentation requires it`, `add "cloudTypes": ["all"]`)
	} else if ok && len(m.CloudTypes) == 0 && !l.typeError("cloudTypes") {
		l.fieldFinding(SeverityWarning, CodeEmptyList, "cloudTypes",
			`"cloudTypes" is empty, so the pack fits no cloud`, `list the clouds it supports, or ["all"]`)
	}

	if m.Layer != "" {
		l.enum(SeverityError, "layer", m.Layer, Layers, "layer")
	}
	if m.AddonType != "" {
		// pack-central's own schema leaves addonType free, so an unknown
		// one files the pack oddly in Palette but is no error.
		l.enum(SeverityWarning, "addonType", m.AddonType, AddonTypes, "addon type")
		if slices.Contains(Layers, m.Layer) && m.Layer != "addon" {
			l.fieldFinding(SeverityWarning, CodeAddonType, "addonType",
				fmt.Sprintf("addonType applies to addon packs; this pack's layer is %q", m.Layer),
				`remove "addonType", or set "layer": "addon"`)
		}
	} else if m.Layer == "addon" {
		l.fieldFinding(SeverityWarning, CodeAddonType, "layer",
			"addon packs should set addonType, so Palette files the pack under the right category",
			`add "addonType": one of `+strings.Join(AddonTypes, ", "))
	}
	for i, ct := range m.CloudTypes {
		l.enum(SeverityError, fmt.Sprintf("cloudTypes[%d]", i), ct, CloudTypes, "cloud type")
	}

	if m.Name != "" && !repoComponent.MatchString(m.Name) {
		l.fieldFinding(SeverityError, CodeInvalidName, "name",
			fmt.Sprintf("name %q cannot be an OCI repository name (lowercase letters, digits and single separators . _ - only)", m.Name),
			fmt.Sprintf("rename the pack, for example to %q", suggestRepoName(m.Name)))
	} else if len(m.Name) > 128 {
		l.fieldFinding(SeverityError, CodeInvalidName, "name",
			fmt.Sprintf("name is %d characters long; registries accept at most 128 per path part", len(m.Name)),
			"shorten the name")
	}
	if m.Version != "" {
		l.version(m.Version)
	}
	if strings.TrimSpace(m.EOL) != "" {
		d, err := time.Parse(time.DateOnly, m.EOL)
		switch {
		case err != nil:
			l.fieldFinding(SeverityError, CodeInvalidDate, "eol",
				fmt.Sprintf("eol %q is not a date in the form YYYY-MM-DD", m.EOL), `write the end-of-life date as YYYY-MM-DD, or leave eol out`)
		case d.Before(time.Date(l.opts.Now.Year(), l.opts.Now.Month(), l.opts.Now.Day(), 0, 0, 0, 0, time.UTC)):
			l.fieldFinding(SeverityWarning, CodeEOLPassed, "eol",
				fmt.Sprintf("the pack reached its end of life on %s", m.EOL), "release a supported version, or move eol")
		}
	}
	return nil
}

// typeError says whether loading already reported field as the wrong type.
func (l *linter) typeError(field string) bool {
	for _, f := range l.p.loadFinds {
		if f.Code == CodeInvalidType && (f.Field == field || strings.HasPrefix(f.Field, field+".") || strings.HasPrefix(f.Field, field+"[")) {
			return true
		}
	}
	return false
}

func (l *linter) version(v string) {
	tag := VersionTag(v)
	if !tagPattern.MatchString(tag) {
		l.fieldFinding(SeverityError, CodeInvalidVersion, "version",
			fmt.Sprintf("version %q cannot be an OCI tag, even with + written as _", v),
			"use letters, digits, '.', '-', '_' and '+' only, at most 128 characters, starting with a letter or digit")
		return
	}
	if len(v) > 1 && (v[0] == 'v' || v[0] == 'V') && v[1] >= '0' && v[1] <= '9' {
		l.fieldFinding(SeverityWarning, CodeVersionPrefix, "version",
			fmt.Sprintf("version %q starts with %q; Palette compares versions as semver", v, v[:1]),
			fmt.Sprintf("write %q", v[1:]))
		return
	}
	if _, err := semver.StrictNewVersion(v); err != nil {
		fix := "write it as MAJOR.MINOR.PATCH, as in \"1.2.0\""
		if sv, err := semver.NewVersion(v); err == nil && sv.String() != v {
			fix = fmt.Sprintf("keep %q if it is already published, as changing it changes the tag; new versions read as %q", v, sv.String())
		}
		l.fieldFinding(SeverityWarning, CodeVersionSemver, "version",
			fmt.Sprintf("version %q is not semantic versioning (MAJOR.MINOR.PATCH)", v), fix)
	}
}

// enum checks a value against its allowed values, suggesting the one a
// misspelling meant.
func (l *linter) enum(sev Severity, field, value string, allowed []string, what string) {
	if slices.Contains(allowed, value) {
		return
	}
	fix := "use one of " + strings.Join(allowed, ", ")
	if s := closest(value, allowed); s != "" {
		fix = fmt.Sprintf("did you mean %q? (allowed: %s)", s, strings.Join(allowed, ", "))
	}
	l.fieldFinding(sev, CodeInvalidEnum, field, fmt.Sprintf("unknown %s %q", what, value), fix)
}

func closest(value string, allowed []string) string {
	best, bestDist := "", 3
	for _, a := range allowed {
		if strings.EqualFold(a, value) {
			return a
		}
		if d := editDistance(strings.ToLower(a), strings.ToLower(value)); d < bestDist {
			best, bestDist = a, d
		}
	}
	return best
}

// suggestRepoName makes a valid repository name out of an invalid one.
func suggestRepoName(name string) string {
	var b strings.Builder
	lastSep := true
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
			lastSep = false
		case !lastSep:
			b.WriteByte('-')
			lastSep = true
		}
	}
	s := strings.TrimRight(b.String(), "-")
	if s == "" {
		return "my-pack"
	}
	return s
}

func (l *linter) dependencies(context.Context) error {
	c := l.p.Meta.Constraints
	if c == nil {
		return nil
	}
	for i, d := range c.Dependencies {
		base := fmt.Sprintf("constraints.dependencies[%d]", i)
		if d.PackName == "" {
			l.fieldFinding(SeverityError, CodeInvalidDependency, base+".packName",
				"a dependency needs packName", `name the pack this one depends on, as in "kubernetes"`)
		}
		if d.Layer == "" {
			l.fieldFinding(SeverityError, CodeInvalidDependency, base+".layer",
				"a dependency needs layer", "use one of "+strings.Join(Layers, ", "))
		} else {
			l.enum(SeverityError, base+".layer", d.Layer, Layers, "layer")
		}
		if d.Type == "" {
			l.fieldFinding(SeverityError, CodeInvalidDependency, base+".type",
				"a dependency needs type", "use one of "+strings.Join(DependencyTypes, ", "))
		} else {
			l.enum(SeverityError, base+".type", d.Type, DependencyTypes, "dependency type")
		}
	}
	for i, r := range c.Resources {
		base := fmt.Sprintf("constraints.resources[%d]", i)
		if r.Type == "" {
			l.fieldFinding(SeverityError, CodeInvalidResource, base+".type",
				"a resource constraint needs type", "use one of "+strings.Join(ResourceTypes, ", "))
		} else {
			l.enum(SeverityError, base+".type", r.Type, ResourceTypes, "resource type")
		}
		for j, comp := range r.Components {
			l.enum(SeverityError, fmt.Sprintf("%s.components[%d].scheduleType", base, j), comp.ScheduleType, ScheduleTypes, "schedule type")
		}
	}
	return nil
}

// paths checks every path listed in charts, kubeManifests and ansibleRoles.
func (l *linter) paths(context.Context) error {
	if !l.hasPackJSON() {
		return nil
	}
	m := l.p.Meta
	lists := []struct {
		field string
		paths []string
		want  FileKind
	}{
		{"charts", m.Charts, KindRegular},
		{"kubeManifests", m.KubeManifests, KindRegular},
		{"ansibleRoles", m.AnsibleRoles, KindDir},
	}
	for _, list := range lists {
		seen := map[string]bool{}
		for i, raw := range list.paths {
			field := fmt.Sprintf("%s[%d]", list.field, i)
			rel, err := cleanRel(raw)
			if err != nil {
				l.fieldFinding(SeverityError, CodeInvalidPath, field, fmt.Sprintf("%q: %v", raw, err),
					fmt.Sprintf("write the path relative to the pack folder, as in %q", pathExample[list.field]))
				continue
			}
			if seen[rel] {
				l.fieldFinding(SeverityWarning, CodeDuplicateEntry, field,
					fmt.Sprintf("%q is listed twice in %s", raw, list.field), "remove the second entry")
				continue
			}
			seen[rel] = true
			l.referenced[rel] = true
			for d := path.Dir(rel); d != "."; d = path.Dir(d) {
				if f, ok := l.p.File(d); ok && f.Kind == KindSymlink {
					l.referenced[d] = true
				}
			}
			f, err := l.p.resolve(rel)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				l.missingPath(list.field, field, raw, rel)
				continue
			case err != nil:
				l.fieldFinding(SeverityError, CodeLinkOutside, field, fmt.Sprintf("%q: %v", raw, err),
					"replace the link with the file itself, or point it at a path inside the pack")
				continue
			}
			l.referenced[f.Path] = true
			if f.Kind != list.want {
				l.fieldFinding(SeverityError, CodeWrongKind, field,
					fmt.Sprintf("%q is a %s; %s lists %ss", raw, f.Kind, list.field, list.want),
					fmt.Sprintf("point it at a %s", list.want))
				continue
			}
			switch list.field {
			case "charts":
				l.chartFiles = append(l.chartFiles, f.Path)
			case "kubeManifests":
				l.manifestFiles = append(l.manifestFiles, f.Path)
			}
		}
	}
	return nil
}

// pathExample shows, per pack.json list, what a path in it looks like.
var pathExample = map[string]string{
	"charts":        "charts/my-chart-1.0.0.tgz",
	"kubeManifests": "manifests/my-app.yaml",
	"ansibleRoles":  "ansible-roles/my-role",
}

func (l *linter) missingPath(list, field, raw, rel string) {
	fix := fmt.Sprintf("add %s to the pack, or remove it from %s", rel, list)
	if list == "charts" {
		if src := l.chartSourceFor(rel); src != "" {
			// The folder is the missing archive's source, not a stray.
			l.referenced[src] = true
			fix = fmt.Sprintf("the chart's folder %s is there but not its archive: package it with `helm package %s --destination %s`",
				src, filepath.Join(l.p.Dir, filepath.FromSlash(src)), filepath.Join(l.p.Dir, filepath.FromSlash(path.Dir(rel))))
		}
	}
	l.fieldFinding(SeverityError, CodeMissingPath, field, fmt.Sprintf("%q does not exist in the pack", raw), fix)
}

// chartSourceFor finds the unpacked chart folder an archive path names:
// "charts/foo-1.2.3.tgz" is built from the folder beside it holding a
// Chart.yaml whose folder name starts the archive's name.
func (l *linter) chartSourceFor(archive string) string {
	dir, base := path.Dir(archive), path.Base(archive)
	best := ""
	for _, f := range l.p.Files {
		if f.Kind != KindDir || path.Dir(f.Path) != dir {
			continue
		}
		if _, ok := l.p.File(path.Join(f.Path, "Chart.yaml")); !ok {
			continue
		}
		name := path.Base(f.Path)
		if strings.HasPrefix(base, name+"-") || strings.TrimSuffix(strings.TrimSuffix(base, ".tgz"), ".tar.gz") == name {
			if len(name) > len(path.Base(best)) {
				best = f.Path
			}
		}
	}
	return best
}

func (l *linter) charts(ctx context.Context) error {
	for _, rel := range l.chartFiles {
		if err := ctx.Err(); err != nil {
			return err
		}
		full := filepath.Join(l.p.Dir, filepath.FromSlash(rel))
		if !strings.HasSuffix(rel, ".tgz") && !strings.HasSuffix(rel, ".tar.gz") {
			l.add(Finding{Severity: SeverityWarning, Code: CodeInvalidChart, File: rel,
				Message: "chart archives are named NAME-VERSION.tgz", Fix: "package the chart with `helm package`"})
		}
		ch, err := loadChart(full)
		if err != nil {
			l.add(Finding{Severity: SeverityError, Code: CodeInvalidChart, File: rel,
				Message: "helm cannot load the chart: " + strings.TrimPrefix(err.Error(), full+": "),
				Fix:     "rebuild the archive with `helm package CHART_FOLDER`"})
			continue
		}
		info := ChartInfo{Path: rel, Name: ch.Metadata.Name, Version: ch.Metadata.Version, AppVersion: ch.Metadata.AppVersion}
		l.r.Charts = append(l.r.Charts, info)
		// The unpacked chart often sits beside its archive; it is the
		// archive's source, not a stray folder.
		src := path.Join(path.Dir(rel), info.Name)
		if f, ok := l.p.File(src); ok && f.Kind == KindDir {
			l.referenced[src] = true
		}
	}
	return nil
}

func (l *linter) yamlFiles(context.Context) error {
	for _, name := range []string{ValuesFile, PresetsFile, SchemaFile} {
		f, ok := l.p.File(name)
		if !ok || f.Kind == KindDir {
			continue
		}
		data, err := l.read(name)
		if err != nil {
			continue
		}
		docs, ferr := parseYAML(data, false)
		if ferr != nil {
			ferr.File = name
			ferr.Severity = SeverityError
			l.add(*ferr)
			continue
		}
		if len(docs) > 1 {
			l.add(Finding{Severity: SeverityWarning, Code: CodeInvalidYAML, File: name,
				Message: fmt.Sprintf("%s holds %d YAML documents; Palette reads the first", name, len(docs)),
				Fix:     "merge them into one document"})
		}
		if name == ValuesFile && len(docs) > 0 {
			if ferr := checkTopMapping(docs[0]); ferr != nil {
				ferr.File = name
				l.add(*ferr)
				continue
			}
			for _, img := range imageRefs(docs[0]) {
				if err := validImageRef(img.value); err != nil {
					l.add(Finding{Severity: SeverityWarning, Code: CodeInvalidImage, File: name,
						Position: img.pos, Field: "pack.content.images",
						Message: fmt.Sprintf("image %q is not a valid image reference: %v", img.value, err),
						Fix:     "write it as REGISTRY/REPOSITORY:TAG, as in \"docker.io/library/nginx:1.27\""})
				}
			}
		}
	}
	return nil
}

// read reads a pack file for checking, reporting what stops it.
func (l *linter) read(rel string) ([]byte, error) {
	data, err := fileread.Limited(filepath.Join(l.p.Dir, filepath.FromSlash(rel)), MaxManifestFileSize)
	if err != nil {
		l.add(Finding{Severity: SeverityError, Code: CodeInvalidYAML, File: rel,
			Message: err.Error(), Fix: "make the file readable and smaller than 16 MiB"})
	}
	return data, err
}

func (l *linter) manifests(ctx context.Context) error {
	for _, rel := range l.manifestFiles {
		if err := ctx.Err(); err != nil {
			return err
		}
		data, err := l.read(rel)
		if err != nil {
			continue
		}
		templated := bytes.Contains(data, []byte("{{"))
		sev := SeverityError
		if templated {
			if ferr := parseTemplate(rel, data); ferr != nil {
				l.add(*ferr)
				continue
			}
			sev = SeverityWarning
		}
		docs, ferr := parseYAML(data, templated)
		if ferr != nil {
			ferr.File, ferr.Severity, ferr.Code = rel, sev, CodeInvalidManifest
			if templated {
				ferr.Message = "templated manifest does not parse as YAML even with its {{ }} actions set aside: " + ferr.Message
			}
			l.add(*ferr)
			continue
		}
		for _, doc := range docs {
			for _, missing := range missingKeys(doc, "apiVersion", "kind") {
				l.add(Finding{Severity: sev, Code: CodeInvalidManifest, File: rel,
					Position: nodePos(doc), Field: missing,
					Message: fmt.Sprintf("Kubernetes object has no %s", missing),
					Fix:     fmt.Sprintf("add %s to the object", missing)})
			}
		}
	}
	return nil
}

func (l *linter) roles(context.Context) error {
	for _, raw := range l.p.Meta.AnsibleRoles {
		rel, err := cleanRel(raw)
		if err != nil {
			continue
		}
		f, err := l.p.resolve(rel)
		if err != nil || f.Kind != KindDir {
			continue
		}
		found := false
		for _, main := range []string{"tasks/main.yml", "tasks/main.yaml"} {
			if mf, err := l.p.resolve(path.Join(f.Path, main)); err == nil && mf.Kind == KindRegular {
				found = true
			}
		}
		if !found {
			l.add(Finding{Severity: SeverityWarning, Code: CodeRoleWithoutTasks, File: rel,
				Message: fmt.Sprintf("Ansible role %s has no tasks/main.yml", rel),
				Fix:     "add the role's tasks in tasks/main.yml"})
		}
	}
	return nil
}

func (l *linter) logo(context.Context) error {
	f, ok := l.p.File(LogoFile)
	if !ok || f.Kind == KindDir {
		return nil
	}
	full := filepath.Join(l.p.Dir, LogoFile)
	fh, err := os.Open(full)
	if err != nil {
		l.add(Finding{Severity: SeverityError, Code: CodeInvalidLogo, File: LogoFile, Message: err.Error(), Fix: "make the file readable"})
		return nil
	}
	defer fh.Close()
	head := make([]byte, 512)
	n, _ := fh.Read(head)
	head = head[:n]
	if _, err := png.DecodeConfig(bytes.NewReader(head)); err == nil {
		return nil
	}
	kind := http.DetectContentType(head)
	if bytes.Contains(head, []byte("<svg")) {
		kind = "image/svg+xml"
	}
	msg := "logo.png is not a PNG image"
	if kind != "application/octet-stream" && kind != "image/png" {
		msg = fmt.Sprintf("logo.png is not a PNG image: its content is %s", strings.Split(kind, ";")[0])
	} else if n > 0 && bytes.HasPrefix(head, []byte("\x89PNG")) {
		msg = "logo.png has a PNG signature but its header is damaged"
	}
	l.add(Finding{Severity: SeverityError, Code: CodeInvalidLogo, File: LogoFile, Message: msg,
		Fix: "convert the logo to PNG, for example `convert logo.svg logo.png`"})
	return nil
}

func (l *linter) specialFiles(context.Context) error {
	for _, f := range l.p.Files {
		switch f.Kind {
		case KindOther:
			l.add(Finding{Severity: SeverityError, Code: CodeSpecialFile, File: f.Path,
				Message: f.Path + " is a device, pipe or socket; packs hold files only",
				Fix:     "remove it from the pack folder"})
		case KindSymlink:
			if _, err := l.p.resolve(f.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				l.add(Finding{Severity: SeverityError, Code: CodeLinkOutside, File: f.Path,
					Message: fmt.Sprintf("symbolic link to %q: %v", f.Target, err),
					Fix:     "replace the link with the file it points to, or point it inside the pack"})
			} else if errors.Is(err, fs.ErrNotExist) {
				l.add(Finding{Severity: SeverityWarning, Code: CodeDanglingLink, File: f.Path,
					Message: fmt.Sprintf("symbolic link to %q points at nothing", f.Target),
					Fix:     "remove the link or fix its target"})
			}
		}
	}
	return nil
}

// unreferenced warns about files that nothing in pack.json, and no
// convention, accounts for. A folder whose files are all unaccounted for is
// reported once.
func (l *linter) unreferenced(context.Context) error {
	if !l.hasPackJSON() {
		return nil
	}
	covered := func(p string) bool {
		for q := p; q != "." && q != ""; q = path.Dir(q) {
			if l.referenced[q] {
				return true
			}
		}
		return false
	}
	// stray counts, per folder, its files and its unaccounted files.
	total, stray := map[string]int{}, map[string]int{}
	var strayFiles []string
	for _, f := range l.p.Files {
		if f.Kind == KindDir || f.Kind == KindOther {
			// Special files have an error of their own.
			continue
		}
		s := !covered(f.Path)
		if s {
			strayFiles = append(strayFiles, f.Path)
		}
		for d := path.Dir(f.Path); d != "."; d = path.Dir(d) {
			total[d]++
			if s {
				stray[d]++
			}
		}
	}
	reported := map[string]bool{}
	for _, file := range strayFiles {
		// Report the highest folder whose files are all stray.
		top := ""
		for d := path.Dir(file); d != "."; d = path.Dir(d) {
			if total[d] == stray[d] {
				top = d
			}
		}
		what := file
		if top != "" {
			what = top + "/"
		}
		if reported[what] {
			continue
		}
		reported[what] = true
		fix := "remove it, or list it in pack.json (charts, kubeManifests or ansibleRoles)"
		switch {
		case strings.HasPrefix(file, ManifestsDir+"/") && (strings.HasSuffix(file, ".yaml") || strings.HasSuffix(file, ".yml")):
			fix = fmt.Sprintf("add %q to kubeManifests if Palette should apply it, or remove it", file)
		case path.Base(file) == ".DS_Store" || strings.HasPrefix(path.Base(file), "._"):
			fix = "remove it; it is file-system litter"
		}
		l.add(Finding{Severity: SeverityWarning, Code: CodeUnreferenced, File: strings.TrimSuffix(what, "/"),
			Message: what + " is not referenced by pack.json; Palette ignores it", Fix: fix})
	}
	return nil
}

// linkProblem says why a link does not resolve.
func linkProblem(err error) string {
	if errors.Is(err, fs.ErrNotExist) {
		return "does not exist"
	}
	return "cannot be followed: " + err.Error()
}
