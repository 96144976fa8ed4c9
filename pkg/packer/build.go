package packer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/packyard/packyard/pkg/mediatypes"
)

// Format selects which encodings of a pack to build.
type Format string

// Formats.
const (
	// FormatBoth builds the native artifact and the Palette archive.
	FormatBoth Format = "both"
	// FormatNative builds the native pack artifact only.
	FormatNative Format = "native"
	// FormatPalette builds the Palette archive only.
	FormatPalette Format = "palette"
)

// ParseFormat reads a format name; the empty string means FormatBoth.
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case "", FormatBoth:
		return FormatBoth, nil
	case FormatNative, FormatPalette:
		return Format(s), nil
	}
	return "", fmt.Errorf("unknown format %q: use native, palette or both", s)
}

// Native says whether the format includes the native artifact.
func (f Format) Native() bool { return f == FormatNative || f == FormatBoth || f == "" }

// Palette says whether the format includes the Palette archive.
func (f Format) Palette() bool { return f == FormatPalette || f == FormatBoth || f == "" }

// Ingester stores a blob whose digest is learned while it is stored. An
// ocilayout.Layout is one.
type Ingester interface {
	Ingest(ctx context.Context, mediaType string, content io.Reader) (ocispec.Descriptor, error)
}

// FileIngester is an Ingester that can take a file of the pack by
// reference: it learns the digest from content, the file at name, and reads
// the file again when the blob is used, rather than keeping a copy. Build
// uses it, when dst has it, for every layer that is a file as it is.
type FileIngester interface {
	Ingester
	IngestFile(ctx context.Context, mediaType, name string, content io.Reader) (ocispec.Descriptor, error)
}

// BuildOptions tune Build. The zero value builds both encodings.
type BuildOptions struct {
	// Format selects the encodings to build; empty means FormatBoth.
	Format Format
	// Created, when set, is written as the org.opencontainers.image.created
	// annotation of the manifests. Leave it zero for reproducible builds, or
	// set it from SOURCE_DATE_EPOCH.
	Created time.Time
	// Lint tunes the lint that runs before the build.
	Lint LintOptions
	// Linted, when set, is the report of the lint the caller ran on the
	// pack already: Build does not lint again, and refuses a report with
	// errors.
	Linted *Report
}

// Artifact is one encoding of a built pack.
type Artifact struct {
	// Encoding is mediatypes.EncodingNative or mediatypes.EncodingPalette.
	Encoding string `json:"encoding"`
	// Manifest describes the manifest blob.
	Manifest ocispec.Descriptor `json:"manifest"`
	// Layers are the manifest's layers, in order.
	Layers []ocispec.Descriptor `json:"layers"`
}

// BuildResult says what Build made.
type BuildResult struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Tag is the OCI tag the version maps to.
	Tag string `json:"tag"`
	// Report is the lint report; it holds warnings only.
	Report  *Report   `json:"lint"`
	Native  *Artifact `json:"native,omitempty"`
	Palette *Artifact `json:"palette,omitempty"`
}

// Artifacts lists the encodings built, native first.
func (r *BuildResult) Artifacts() []*Artifact {
	var out []*Artifact
	for _, a := range []*Artifact{r.Native, r.Palette} {
		if a != nil {
			out = append(out, a)
		}
	}
	return out
}

// Build lints the pack and, when lint finds no errors, stores its encodings
// in dst: every blob, then the manifests. It returns a *LintError for a pack
// with lint errors. Chart archives are stored as they are, never
// recompressed; everything else is written reproducibly, so the same
// content gives the same digests on any machine and from any folder.
func Build(ctx context.Context, p *Pack, dst Ingester, opts BuildOptions) (*BuildResult, error) {
	report, err := opts.Linted, error(nil)
	if report == nil {
		if report, err = p.Lint(ctx, opts.Lint); err != nil {
			return nil, err
		}
	}
	if report.Errors() > 0 {
		return nil, &LintError{Report: report}
	}
	res := &BuildResult{Name: p.Meta.Name, Version: p.Meta.Version, Tag: p.Tag(), Report: report}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(2, runtime.GOMAXPROCS(0)))
	var parts []part
	var layers []ocispec.Descriptor
	if opts.Format.Native() {
		parts, err = p.nativeParts(report.Charts)
		if err != nil {
			return nil, err
		}
		layers = make([]ocispec.Descriptor, len(parts))
		for i, pt := range parts {
			g.Go(func() error {
				d, err := p.ingestPart(gctx, dst, pt)
				layers[i] = d
				return err
			})
		}
	}
	var archive ocispec.Descriptor
	if opts.Format.Palette() {
		g.Go(func() error {
			var err error
			archive, err = p.ingestPalette(gctx, dst)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}

	if opts.Format.Native() {
		res.Native, err = p.nativeManifest(ctx, dst, layers, opts.Created)
		if err != nil {
			return nil, err
		}
	}
	if opts.Format.Palette() {
		res.Palette, err = paletteManifest(ctx, dst, archive, opts.Created)
		if err != nil {
			return nil, err
		}
	}
	return res, nil
}

// BuildArchive stores the Palette archive of a pack, and its manifest, in
// dst, as Build does, without linting: call it for a pack Build has linted.
func BuildArchive(ctx context.Context, p *Pack, dst Ingester, created time.Time) (*Artifact, error) {
	archive, err := p.ingestPalette(ctx, dst)
	if err != nil {
		return nil, err
	}
	return paletteManifest(ctx, dst, archive, created)
}

// ArchiveKey identifies the content of the pack's Palette archive, given
// the digest of the native manifest Build made of the pack with the same
// created time: the native artifact holds every file's content, and the key
// adds what the archive keeps and the native artifact may not (modes, and
// links as links). Two packs with the same key have archives of the same
// content, made with the same options; the key changes when any file,
// mode, link or the created time does.
func (p *Pack) ArchiveKey(native digest.Digest, created time.Time) digest.Digest {
	b := fmt.Appendf(nil, "packyard palette archive\x00%s\x00%s\x00%s\x00", native, p.ArchiveName(), created.UTC().Format(time.RFC3339))
	for _, f := range p.Files {
		b = fmt.Appendf(b, "%q %s %o %d %q\n", f.Path, f.Kind, normalMode(f), f.Size, f.Target)
	}
	return digest.FromBytes(b)
}

// part is one layer of the native artifact: a single file, or a folder
// written as a gzip'd tar.
type part struct {
	mediaType string
	// title is the path oras pull writes the layer to.
	title string
	// src is the single file's path in the pack, links resolved.
	src  string
	file File
	// entries are a folder part's tar entries.
	entries []tarEntry
	chart   *ChartInfo
}

func (pt part) folder() bool { return pt.entries != nil }

// nativeParts divides the pack's files among the native layers. Every file
// belongs to exactly one layer: the well-known files and each listed chart
// archive are layers of their own; manifests/ and ansible-roles/ (and roles
// listed elsewhere) are folder layers; whatever is left goes into a layer
// per top-level file or folder, without the files other layers hold.
func (p *Pack) nativeParts(charts []ChartInfo) ([]part, error) {
	var parts []part
	claimedFile := map[string]bool{}
	single := func(mediaType, title string) error {
		f, err := p.resolve(title)
		if err != nil {
			return kindf(ErrInvalidPack, "%s: %w", title, err)
		}
		if f.Kind != KindRegular {
			return kindf(ErrInvalidPack, "%s is a %s, not a file", title, f.Kind)
		}
		// A path through a linked folder ("manifests" -> "k8s") is stored
		// where the file really is; the link itself is kept as a link in
		// another layer, and the two must not claim the same name.
		if dir := path.Dir(title); dir != "." {
			if d, err := p.resolve(dir); err == nil && d.Path != dir {
				title = path.Join(d.Path, path.Base(title))
			}
		}
		if claimedFile[title] {
			return nil
		}
		claimedFile[title] = true
		parts = append(parts, part{mediaType: mediaType, title: title, src: f.Path, file: f})
		return nil
	}
	for _, wk := range []struct{ name, mediaType string }{
		{PackJSONFile, mediatypes.PackMetadata},
		{ValuesFile, mediatypes.PackValues},
		{ReadmeFile, mediatypes.PackReadme},
		{LogoFile, mediatypes.PackLogo},
		{PresetsFile, mediatypes.PackPresets},
		{SchemaFile, mediatypes.PackSchema},
	} {
		if _, ok := p.File(wk.name); ok {
			if err := single(wk.mediaType, wk.name); err != nil {
				return nil, err
			}
		}
	}
	for _, raw := range p.Meta.Charts {
		rel, err := cleanRel(raw)
		if err != nil {
			return nil, fmt.Errorf("charts: %q: %w", raw, err)
		}
		if claimedFile[rel] {
			continue
		}
		if err := single(mediatypes.PackChart, rel); err != nil {
			return nil, err
		}
		pt := &parts[len(parts)-1]
		for i := range charts {
			if charts[i].Path == rel || charts[i].Path == pt.src {
				pt.chart = &charts[i]
			}
		}
	}

	// Folders claimed whole.
	var claimedDirs []string
	claimDir := func(rel string) {
		if f, ok := p.File(rel); ok && f.Kind == KindDir {
			claimedDirs = append(claimedDirs, rel)
		}
	}
	claimDir(ManifestsDir)
	claimDir(AnsibleRolesDir)
	for _, raw := range p.Meta.AnsibleRoles {
		if rel, err := cleanRel(raw); err == nil {
			claimDir(rel)
		}
	}
	slices.Sort(claimedDirs)
	claimedDirs = slices.Compact(claimedDirs)
	claimedDirs = slices.DeleteFunc(claimedDirs, func(d string) bool {
		for _, o := range claimedDirs {
			if o != d && under(d, o) {
				return true
			}
		}
		return false
	})
	inClaimedDir := func(rel string) (string, bool) {
		for _, d := range claimedDirs {
			if rel == d || under(rel, d) {
				return d, true
			}
		}
		return "", false
	}

	for _, raw := range p.Meta.KubeManifests {
		rel, err := cleanRel(raw)
		if err != nil {
			return nil, fmt.Errorf("kubeManifests: %q: %w", raw, err)
		}
		if _, ok := inClaimedDir(rel); ok || claimedFile[rel] {
			continue
		}
		if err := single(mediatypes.PackManifest, rel); err != nil {
			return nil, err
		}
	}

	for _, d := range claimedDirs {
		mt := mediatypes.PackAnsibleRoles
		if d == ManifestsDir {
			mt = mediatypes.PackManifests
		}
		parts = append(parts, p.folderPart(mt, d, func(rel string) bool { return claimedFile[rel] }))
	}

	// What is left, by top-level entry.
	tops := map[string]bool{}
	var topOrder []string
	for _, f := range p.Files {
		if claimedFile[f.Path] {
			continue
		}
		if _, ok := inClaimedDir(f.Path); ok {
			continue
		}
		top, _, _ := strings.Cut(f.Path, "/")
		if !tops[top] {
			tops[top] = true
			topOrder = append(topOrder, top)
		}
	}
	for _, top := range topOrder {
		f, _ := p.File(top)
		if f.Kind != KindDir {
			parts = append(parts, part{mediaType: mediatypes.PackFile, title: top, src: top, file: f})
			if f.Kind == KindSymlink || f.Kind == KindRegular && f.Mode&0o111 != 0 {
				// A link at the top is kept as a link, and an executable
				// file keeps its exec bit, in a folder-style layer of one
				// entry: a single-file layer has no mode.
				parts[len(parts)-1].entries = []tarEntry{{name: top, src: top, file: f}}
				parts[len(parts)-1].mediaType = mediatypes.PackFiles
			}
			continue
		}
		pt := p.folderPart(mediatypes.PackFiles, top, func(rel string) bool {
			_, ok := inClaimedDir(rel)
			return ok || claimedFile[rel]
		})
		if len(pt.entries) == 1 && p.hasDescendants(top) {
			// Everything in the folder belongs to other layers.
			continue
		}
		parts = append(parts, pt)
	}
	return parts, nil
}

// under says whether rel lies inside folder dir.
func under(rel, dir string) bool { return strings.HasPrefix(rel, dir+"/") }

func (p *Pack) hasDescendants(dir string) bool {
	for _, f := range p.Files {
		if under(f.Path, dir) {
			return true
		}
	}
	return false
}

// folderPart makes a folder layer of dir and everything below it that skip
// does not exclude.
func (p *Pack) folderPart(mediaType, dir string, skip func(string) bool) part {
	f, _ := p.File(dir)
	pt := part{mediaType: mediaType, title: dir, entries: []tarEntry{{name: dir, src: dir, file: f}}}
	for _, f := range p.Files {
		if under(f.Path, dir) && !skip(f.Path) {
			pt.entries = append(pt.entries, tarEntry{name: f.Path, src: f.Path, file: f})
		}
	}
	return pt
}

// ingestPart stores one native layer and returns its descriptor.
func (p *Pack) ingestPart(ctx context.Context, dst Ingester, pt part) (ocispec.Descriptor, error) {
	ann := map[string]string{mediatypes.AnnotationTitle: pt.title}
	if pt.chart != nil {
		ann[mediatypes.AnnotationChartName] = pt.chart.Name
		ann[mediatypes.AnnotationChartVersion] = pt.chart.Version
	}
	if !pt.folder() {
		desc, err := ingestFile(ctx, dst, pt.mediaType, p.path(pt.src), pt.file.Size)
		if err != nil {
			return desc, err
		}
		desc.Annotations = ann
		return desc, nil
	}
	desc, tarDigest, err := ingestTarGz(ctx, dst, pt.mediaType, p.Dir, pt.entries, true)
	if err != nil {
		return desc, err
	}
	ann[mediatypes.AnnotationContentUnpack] = "true"
	ann[mediatypes.AnnotationContentDigest] = tarDigest.String()
	desc.Annotations = ann
	return desc, nil
}

// ingestFile stores a file as it is, in one pass.
func ingestFile(ctx context.Context, dst Ingester, mediaType, name string, size int64) (ocispec.Descriptor, error) {
	f, err := os.Open(name)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	defer f.Close()
	var desc ocispec.Descriptor
	if fi, ok := dst.(FileIngester); ok {
		desc, err = fi.IngestFile(ctx, mediaType, name, io.LimitReader(f, size))
	} else {
		desc, err = dst.Ingest(ctx, mediaType, io.LimitReader(f, size))
	}
	if err != nil {
		return desc, fmt.Errorf("storing %s: %w", name, err)
	}
	var one [1]byte
	if n, _ := f.Read(one[:]); desc.Size != size || n > 0 {
		return desc, fmt.Errorf("%s changed while the pack was being built", name)
	}
	return desc, nil
}

// ingestTarGz stores entries as a reproducible gzip'd tar, streamed, and
// returns its descriptor and, when hashTar is set, the digest of the
// uncompressed tar.
func ingestTarGz(ctx context.Context, dst Ingester, mediaType, dir string, entries []tarEntry, hashTar bool) (ocispec.Descriptor, digest.Digest, error) {
	pr, pw := io.Pipe()
	tarHash := digest.SHA256.Digester()
	go func() {
		zw := newGzipWriter(pw)
		var w io.Writer = zw
		if hashTar {
			w = io.MultiWriter(zw, tarHash.Hash())
		}
		err := writeTar(ctx, w, dir, entries)
		if cerr := zw.Close(); err == nil {
			err = cerr
		}
		putGzipWriter(zw)
		pw.CloseWithError(err)
	}()
	desc, err := dst.Ingest(ctx, mediaType, pr)
	pr.CloseWithError(err) // unblocks the writer if Ingest stopped early
	if err != nil || !hashTar {
		return desc, "", err
	}
	return desc, tarHash.Digest(), nil
}

// ArchiveName is the Palette archive's file name: NAME-VERSION.tar.gz.
func (p *Pack) ArchiveName() string { return p.Meta.Name + "-" + p.Meta.Version + ".tar.gz" }

// ingestPalette stores the Palette archive: the whole pack as a gzip'd tar
// holding one top-level folder, NAME-VERSION.
func (p *Pack) ingestPalette(ctx context.Context, dst Ingester) (ocispec.Descriptor, error) {
	top := p.Meta.Name + "-" + p.Meta.Version
	entries := make([]tarEntry, 0, len(p.Files)+1)
	entries = append(entries, tarEntry{name: top, file: File{Kind: KindDir}})
	for _, f := range p.Files {
		entries = append(entries, tarEntry{name: path.Join(top, f.Path), src: f.Path, file: f})
	}
	desc, _, err := ingestTarGz(ctx, dst, mediatypes.PaletteArchive, p.Dir, entries, false)
	if err != nil {
		return desc, err
	}
	desc.Annotations = map[string]string{mediatypes.AnnotationTitle: p.ArchiveName()}
	return desc, nil
}

// ManifestAnnotations are the listing annotations of the pack's native
// manifest.
func (p *Pack) ManifestAnnotations() map[string]string {
	m := p.Meta
	ann := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			ann[k] = v
		}
	}
	set(mediatypes.AnnotationPackName, m.Name)
	set(mediatypes.AnnotationPackDisplayName, m.DisplayName)
	set(mediatypes.AnnotationPackVersion, m.Version)
	set(mediatypes.AnnotationVersion, m.Version)
	set(mediatypes.AnnotationPackLayer, m.Layer)
	set(mediatypes.AnnotationPackAddonType, m.AddonType)
	set(mediatypes.AnnotationPackAddonSubType, m.AddonSubType)
	set(mediatypes.AnnotationPackCloudTypes, strings.Join(m.CloudTypes, ","))
	set(mediatypes.AnnotationPackGroup, m.Group)
	set(mediatypes.AnnotationPackEOL, m.EOL)
	return ann
}

func (p *Pack) nativeManifest(ctx context.Context, dst Ingester, layers []ocispec.Descriptor, created time.Time) (*Artifact, error) {
	var config ocispec.Descriptor
	for _, l := range layers {
		if l.MediaType == mediatypes.PackMetadata {
			config = ocispec.Descriptor{MediaType: mediatypes.PackConfig, Digest: l.Digest, Size: l.Size}
		}
	}
	ann := p.ManifestAnnotations()
	if !created.IsZero() {
		ann[mediatypes.AnnotationCreated] = created.UTC().Format(time.RFC3339)
	}
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: mediatypes.ArtifactTypePack,
		Config:       config,
		Layers:       layers,
		Annotations:  ann,
	}
	desc, err := ingestJSON(ctx, dst, m.MediaType, m)
	if err != nil {
		return nil, err
	}
	desc.ArtifactType = mediatypes.ArtifactTypePack
	return &Artifact{Encoding: mediatypes.EncodingNative, Manifest: desc, Layers: layers}, nil
}

// paletteManifest stores the manifest ORAS 1.0 makes for
// `oras push REF NAME-VERSION.tar.gz`, field for field, including its empty
// config blob.
func paletteManifest(ctx context.Context, dst Ingester, archive ocispec.Descriptor, created time.Time) (*Artifact, error) {
	config, err := dst.Ingest(ctx, mediatypes.PaletteConfig, strings.NewReader(mediatypes.PaletteConfigData))
	if err != nil {
		return nil, err
	}
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    config,
		Layers:    []ocispec.Descriptor{archive},
	}
	if !created.IsZero() {
		m.Annotations = map[string]string{mediatypes.AnnotationCreated: created.UTC().Format(time.RFC3339)}
	}
	desc, err := ingestJSON(ctx, dst, m.MediaType, m)
	if err != nil {
		return nil, err
	}
	return &Artifact{Encoding: mediatypes.EncodingPalette, Manifest: desc, Layers: m.Layers}, nil
}

func ingestJSON(ctx context.Context, dst Ingester, mediaType string, v any) (ocispec.Descriptor, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return dst.Ingest(ctx, mediaType, bytes.NewReader(data))
}
