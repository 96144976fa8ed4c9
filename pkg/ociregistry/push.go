package ociregistry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/packyard/packyard/pkg/mediatypes"
	"github.com/packyard/packyard/pkg/ocilayout"
	"github.com/packyard/packyard/pkg/packer"
)

// ErrVersionExists: the registry holds the pack version with other content,
// and the push was not forced.
var ErrVersionExists = errors.New("pack version exists with different content")

// VersionExistsError names the pack version a push refused to overwrite.
type VersionExistsError struct {
	Repository string
	Tag        string
	Existing   digest.Digest
	New        digest.Digest
}

func (e *VersionExistsError) Error() string {
	return fmt.Sprintf("%s:%s already holds %s, not %s", e.Repository, e.Tag, e.Existing, e.New)
}

// Unwrap lets errors.Is match ErrVersionExists and errdef.ErrAlreadyExists.
func (e *VersionExistsError) Unwrap() []error {
	return []error{ErrVersionExists, errdef.ErrAlreadyExists}
}

// PushOptions tune a push. The zero value pushes both encodings and refuses
// to overwrite a version with other content.
type PushOptions struct {
	// Format selects the encodings to push; empty means both.
	Format packer.Format
	// Force overwrites a version that holds other content.
	Force bool
	// Created is passed to the build of a pack folder (see
	// packer.BuildOptions).
	Created time.Time
	// Packs is how many packs of a many-pack push move at once; zero means
	// DefaultPacks.
	Packs int
	// Progress, when set, is told of the bytes each artifact pushes.
	Progress ProgressFunc
	// stageBudget is the memory the packs of a many-pack push share for
	// their generated blobs; nil gives each pack its own.
	stageBudget *stageBudget
}

// DefaultPacks is how many packs of a many-pack push move at once unless
// told otherwise. The registry's work for a pack is small requests, each
// of which waits on its disk: eight packs at once keep a registry on two
// cores busy where four leave it idle a fifth of the time.
const DefaultPacks = 8

// Status says what a push did to one encoding of a pack.
type Status string

// Push statuses.
const (
	// StatusPushed: the version was new.
	StatusPushed Status = "pushed"
	// StatusUnchanged: the version was there with the same content.
	StatusUnchanged Status = "unchanged"
	// StatusReplaced: the version was there with other content, and the
	// push was forced.
	StatusReplaced Status = "replaced"
)

// PushedArtifact is one encoding of a pack in the registry.
type PushedArtifact struct {
	Encoding   string             `json:"encoding"`
	Repository string             `json:"repository"`
	Tag        string             `json:"tag"`
	Manifest   ocispec.Descriptor `json:"manifest"`
	Status     Status             `json:"status"`
	// Previous is what the tag held before a forced push replaced it.
	Previous digest.Digest `json:"previous,omitempty"`
}

// Reference is the artifact's full reference, REGISTRY/REPOSITORY:TAG.
func (a PushedArtifact) Reference(loc Location) string {
	return loc.Registry + "/" + a.Repository + ":" + a.Tag
}

// PushResult is what a push did for one pack.
type PushResult struct {
	// Source is the pack folder or layout pushed from.
	Source    string           `json:"source"`
	Name      string           `json:"name"`
	Version   string           `json:"version"`
	Artifacts []PushedArtifact `json:"artifacts"`
	// Warnings counts the pack's lint warnings, when pushed from a folder.
	Warnings int `json:"warnings,omitempty"`
	// Err is why this pack failed, in a many-pack push.
	Err error `json:"-"`
}

// Error is Err as text, for JSON output.
func (r *PushResult) Error() string {
	if r.Err == nil {
		return ""
	}
	return r.Err.Error()
}

// PushDir lints the pack folder, builds it and pushes it to loc. Nothing is
// written to disk but generated blobs too large to keep in memory; the
// pack's files are read from the folder again as they are uploaded. Work
// is spared where the cache knows its outcome (see pushCache): a folder
// whose files are as they were when a push of it succeeded is neither
// linted nor built when the registry still holds what that push found; the
// Palette archive is not built when the registry holds the one built before
// from the same content.
func (c *Client) PushDir(ctx context.Context, dir string, loc Location, opts PushOptions) (*PushResult, error) {
	p, err := packer.Load(ctx, dir)
	if err != nil {
		return nil, err
	}
	// The tags looked up on the way are not looked up again.
	var tags lookedUp
	stateKey, stable := pushStateKey(p, opts)
	if stable {
		if known, ok := c.cache.getState(stateKey); ok {
			var res *PushResult
			if res, tags, err = c.pushKnown(ctx, dir, p, known, loc, opts); res != nil || err != nil {
				return res, err
			}
		}
	}
	report, err := p.Lint(ctx, packer.LintOptions{})
	if err != nil {
		return nil, err
	}
	if report.Errors() > 0 {
		return nil, &packer.LintError{Report: report}
	}
	// The Palette archive's tag is looked at first: only when it holds a
	// manifest can the archive be unchanged, and be left unbuilt.
	format := packer.FormatNative
	archiveTag := tags.palette
	if opts.Format.Palette() {
		if archiveTag == nil {
			if archiveTag, err = c.lookupTag(ctx, mediatypes.EncodingPalette, p.Meta.Name, p.Tag(), loc); err != nil {
				return nil, err
			}
		}
		if !archiveTag.found {
			format = packer.FormatBoth
		}
	}
	st := newStage(opts.stageBudget)
	defer st.Close()
	// The native artifact is built even for a Palette-only push: its
	// digest, which covers every file, keys the archive cache.
	built, err := packer.Build(ctx, p, st, packer.BuildOptions{Format: format, Created: opts.Created, Linted: report})
	if err != nil {
		return nil, err
	}
	res := &PushResult{Source: dir, Name: built.Name, Version: built.Version, Warnings: built.Report.Warnings()}
	// Every tag is checked before any is pushed, so that a refused encoding
	// publishes no part of the pack.
	var checked []*checkedArtifact
	if opts.Format.Native() {
		if tags.native == nil {
			if tags.native, err = c.lookupTag(ctx, mediatypes.EncodingNative, built.Name, built.Tag, loc); err != nil {
				return res, err
			}
		}
		ca, err := tags.native.check(built.Native.Manifest, opts)
		if err != nil {
			return res, err
		}
		checked = append(checked, ca)
	}
	if opts.Format.Palette() {
		desc, staged, err := c.archiveManifest(ctx, p, st, built, archiveTag, opts)
		if err != nil {
			return res, err
		}
		ca, err := archiveTag.check(desc, opts)
		if err != nil {
			return res, err
		}
		ca.remote = !staged
		checked = append(checked, ca)
	}
	items := make([]pushItem, len(checked))
	for i, ca := range checked {
		items[i] = pushItem{src: ca.src(st), ca: ca}
	}
	pushed, err := c.pushChecked(ctx, items, loc, opts)
	res.Artifacts = append(res.Artifacts, pushed...)
	if err != nil {
		return res, err
	}
	// The folder's state is remembered only if it still is the one loaded:
	// Dir, a link, may have been moved to another folder while the pack was
	// read.
	if !stable {
		return res, nil
	}
	if again, ok := pushStateKey(p, opts); ok && again == stateKey {
		known := packState{Native: &built.Native.Manifest, Warnings: res.Warnings}
		for _, ca := range checked {
			if ca.pa.Encoding == mediatypes.EncodingPalette {
				known.Palette = &ca.pa.Manifest
			}
		}
		c.cache.putState(stateKey, known)
	}
	return res, nil
}

// pushStateKey is the cache key of the state of a pack folder's files for
// a push (see packer.Pack.StateKey), or false when there is none to trust.
func pushStateKey(p *packer.Pack, opts PushOptions) (digest.Digest, bool) {
	key, ok := p.StateKey()
	if !ok {
		return "", false
	}
	return digest.FromString("packyard push\x00" + key.String() + "\x00" + opts.Created.UTC().Format(time.RFC3339Nano)), true
}

// knownPushes counts the pushes PushDir finished from the cache's pack
// state, without lint or build, for tests.
var knownPushes atomic.Int64

// lookedUp holds the tags of a pack's encodings that a push looked up.
type lookedUp struct{ native, palette *tagState }

// pushKnown finishes the push of a pack folder whose artifacts the cache
// knows from an earlier push of the same state of its files, when the
// registry's tags still hold them: every encoding is unchanged, and the
// Palette archive's base manifest is checked as after any push. When the
// cache does not know an encoding, or a tag holds anything else, it
// returns no result, and the tags it looked up, for the push to go the
// long way.
func (c *Client) pushKnown(ctx context.Context, dir string, p *packer.Pack, known packState, loc Location, opts PushOptions) (*PushResult, lookedUp, error) {
	var tags lookedUp
	if opts.Format.Palette() && known.Palette == nil || opts.Format.Native() && known.Native == nil {
		return nil, tags, nil
	}
	// holds looks up the tag of an encoding, and says whether it holds the
	// manifest the cache knows.
	holds := func(encoding string, want *ocispec.Descriptor) (*tagState, bool, error) {
		t, err := c.lookupTag(ctx, encoding, p.Meta.Name, p.Tag(), loc)
		if err != nil {
			return nil, false, err
		}
		return t, t.found && t.existing.Digest == want.Digest && t.existing.Size == want.Size, nil
	}
	var ok bool
	var err error
	if opts.Format.Palette() {
		if tags.palette, ok, err = holds(mediatypes.EncodingPalette, known.Palette); err != nil || !ok {
			return nil, tags, err
		}
	}
	if opts.Format.Native() {
		if tags.native, ok, err = holds(mediatypes.EncodingNative, known.Native); err != nil || !ok {
			return nil, tags, err
		}
	}
	var items []pushItem
	for _, t := range []*tagState{tags.native, tags.palette} {
		if t == nil {
			continue
		}
		ca, err := t.check(t.existing, opts)
		if err != nil {
			return nil, tags, err
		}
		ca.remote = true
		items = append(items, pushItem{src: ca.src(nil), ca: ca})
	}
	knownPushes.Add(1)
	res := &PushResult{Source: dir, Name: p.Meta.Name, Version: p.Meta.Version, Warnings: known.Warnings}
	pushed, err := c.pushChecked(ctx, items, loc, opts)
	res.Artifacts = append(res.Artifacts, pushed...)
	return res, tags, err
}

// archiveBuilds counts the Palette archives PushDir built after finding
// the archive's tag taken, for tests.
var archiveBuilds atomic.Int64

// archiveManifest returns the manifest of the pack's Palette archive, and
// whether it is staged in st. When the archive's tag is taken, and the
// archive cache remembers its manifest as the archive of this content, the
// archive is not built: that manifest is returned, unstaged. Otherwise the
// archive is built (unless the build made it already) and remembered.
func (c *Client) archiveManifest(ctx context.Context, p *packer.Pack, st *stage, built *packer.BuildResult, tag *tagState, opts PushOptions) (ocispec.Descriptor, bool, error) {
	key := p.ArchiveKey(built.Native.Manifest.Digest, opts.Created)
	if built.Palette == nil {
		if desc, ok := c.cache.get(key); ok && tag.found && desc.Digest == tag.existing.Digest && desc.Size == tag.existing.Size {
			return tag.existing, false, nil
		}
		archiveBuilds.Add(1)
		a, err := packer.BuildArchive(ctx, p, st, opts.Created)
		if err != nil {
			return ocispec.Descriptor{}, false, err
		}
		built.Palette = a
	}
	c.cache.put(key, built.Palette.Manifest)
	return built.Palette.Manifest, true, nil
}

// PushLayout pushes every pack an OCI image layout built by `pack build`
// holds, in the encodings opts selects.
func (c *Client) PushLayout(ctx context.Context, root string, loc Location, opts PushOptions) ([]*PushResult, error) {
	l, err := ocilayout.Open(root)
	if err != nil {
		return nil, err
	}
	byPack := map[string]*PushResult{}
	var order []string
	type layoutArtifact struct {
		res *PushResult
		ca  *checkedArtifact
	}
	var checked []layoutArtifact
	for _, m := range l.Manifests() {
		enc := m.Annotations[mediatypes.AnnotationEncoding]
		name := m.Annotations[mediatypes.AnnotationPackName]
		version := m.Annotations[mediatypes.AnnotationPackVersion]
		if enc == "" || name == "" || version == "" {
			continue // not written by pack build
		}
		if !validPackName(name) {
			return nil, fmt.Errorf("%s: index entry %s names the pack %q, which is not a pack name: %w", root, m.Digest, name, packer.ErrUnsafeContent)
		}
		if enc == mediatypes.EncodingNative && !opts.Format.Native() || enc == mediatypes.EncodingPalette && !opts.Format.Palette() {
			continue
		}
		key := name + "\x00" + version
		r, ok := byPack[key]
		if !ok {
			r = &PushResult{Source: root, Name: name, Version: version}
			byPack[key] = r
			order = append(order, key)
		}
		desc := ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size, ArtifactType: m.ArtifactType}
		ca, err := c.checkArtifact(ctx, desc, enc, name, packer.VersionTag(version), loc, opts)
		if err != nil {
			return nil, err
		}
		checked = append(checked, layoutArtifact{res: r, ca: ca})
	}
	if len(order) == 0 {
		return nil, fmt.Errorf("%s holds no pack built by packyard: %w", root, errdef.ErrNotFound)
	}
	// Every tag was checked before any is pushed, so that a refused
	// encoding publishes no part of the layout.
	items := make([]pushItem, len(checked))
	for i, a := range checked {
		items[i] = pushItem{src: l, ca: a.ca}
	}
	pushed, err := c.pushChecked(ctx, items, loc, opts)
	if err != nil {
		return nil, err
	}
	for i, pa := range pushed {
		checked[i].res.Artifacts = append(checked[i].res.Artifacts, pa)
	}
	out := make([]*PushResult, len(order))
	for i, k := range order {
		out[i] = byPack[k]
	}
	return out, nil
}

// PushMany pushes many pack folders or layouts concurrently. It does not
// stop at the first failure: each result carries its own error, and the
// returned error joins them.
func (c *Client) PushMany(ctx context.Context, sources []string, loc Location, opts PushOptions) ([]*PushResult, error) {
	limit := opts.Packs
	if limit <= 0 {
		limit = DefaultPacks
	}
	opts.stageBudget = newStageBudget(manyStageMemory)
	results := make([][]*PushResult, len(sources))
	var g errgroup.Group
	g.SetLimit(limit)
	var mu sync.Mutex
	var errs []error
	for i, src := range sources {
		g.Go(func() error {
			var rs []*PushResult
			var err error
			if isLayout(src) {
				rs, err = c.PushLayout(ctx, src, loc, opts)
			} else {
				var r *PushResult
				r, err = c.PushDir(ctx, src, loc, opts)
				if r != nil {
					rs = []*PushResult{r}
				}
			}
			if err != nil {
				if len(rs) == 0 {
					rs = []*PushResult{{Source: src}}
				}
				rs[len(rs)-1].Err = err
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", src, err))
				mu.Unlock()
			}
			results[i] = rs
			return nil
		})
	}
	_ = g.Wait()
	var out []*PushResult
	for _, rs := range results {
		out = append(out, rs...)
	}
	return out, errors.Join(errs...)
}

func isLayout(p string) bool {
	_, err := os.Stat(filepath.Join(p, ocispec.ImageLayoutFile))
	return err == nil
}

// checkedArtifact is one encoding of a pack whose tag checkArtifact has
// checked, ready for pushChecked.
type checkedArtifact struct {
	pa   PushedArtifact
	repo *remote.Repository
	name string
	// remote says the artifact's content is not staged: it is read from
	// repo.
	remote bool
}

// src is where the artifact's content is read from: staged, or the
// registry's repository.
func (ca *checkedArtifact) src(staged content.Fetcher) content.Fetcher {
	if ca.remote {
		return ca.repo
	}
	return staged
}

// checkArtifact checks what the registry holds at the tag one encoding of
// a pack is to be pushed to: nothing (pushed), the same manifest
// (unchanged), or another one (a *VersionExistsError unless opts.Force).
func (c *Client) checkArtifact(ctx context.Context, desc ocispec.Descriptor, encoding, name, tag string, loc Location, opts PushOptions) (*checkedArtifact, error) {
	t, err := c.lookupTag(ctx, encoding, name, tag, loc)
	if err != nil {
		return nil, err
	}
	return t.check(desc, opts)
}

// tagState is what a registry holds at the tag of one encoding of a pack.
type tagState struct {
	encoding, name, tag string
	loc                 Location
	repoName            string
	repo                *remote.Repository
	// existing is the manifest at the tag, when found.
	existing ocispec.Descriptor
	found    bool
}

// lookupTag asks the registry what the tag of one encoding of a pack holds.
func (c *Client) lookupTag(ctx context.Context, encoding, name, tag string, loc Location) (*tagState, error) {
	t := &tagState{encoding: encoding, name: name, tag: tag, loc: loc, repoName: loc.NativeRepository(name)}
	if encoding == mediatypes.EncodingPalette {
		t.repoName = loc.PaletteRepository(name)
	}
	var err error
	if t.repo, err = c.Repository(loc, t.repoName); err != nil {
		return nil, err
	}
	t.existing, err = t.repo.Resolve(ctx, tag)
	switch {
	case err == nil:
		t.found = true
	case !errors.Is(err, errdef.ErrNotFound):
		return nil, fmt.Errorf("checking %s/%s:%s: %w", loc.Registry, t.repoName, tag, err)
	}
	return t, nil
}

// check decides what pushing desc to the tag does.
func (t *tagState) check(desc ocispec.Descriptor, opts PushOptions) (*checkedArtifact, error) {
	pa := PushedArtifact{Encoding: t.encoding, Repository: t.repoName, Tag: t.tag, Manifest: desc, Status: StatusPushed}
	switch {
	case t.found && t.existing.Digest == desc.Digest:
		pa.Status = StatusUnchanged
	case t.found && !opts.Force:
		return nil, &VersionExistsError{Repository: t.loc.Registry + "/" + t.repoName, Tag: t.tag, Existing: t.existing.Digest, New: desc.Digest}
	case t.found:
		pa.Status, pa.Previous = StatusReplaced, t.existing.Digest
	}
	return &checkedArtifact{pa: pa, repo: t.repo, name: t.name}, nil
}

// pushItem is an artifact checkArtifact has cleared, ready for
// pushChecked: where its content is read from, and the repository of the
// same registry its blobs may be mounted from ("" for none).
type pushItem struct {
	src       content.Fetcher
	ca        *checkedArtifact
	mountFrom string
	// baseFromDestination has the Palette base manifest read from the
	// artifact's repository at the destination, once pushed there, rather
	// than from src: a copy's source is not read again after the tags
	// changed.
	baseFromDestination bool
}

// pushChecked pushes the encodings of a pack that checkArtifact has
// cleared: the blobs of every artifact first, then their manifests, in
// order. A push cut off before the manifests adds no tag; one cut off
// between two manifests leaves the first artifact whole and the second
// absent, never an artifact that names a missing blob. It returns the
// artifacts whose manifests were pushed, in order.
func (c *Client) pushChecked(ctx context.Context, items []pushItem, loc Location, opts PushOptions) ([]PushedArtifact, error) {
	ups := make([]*upload, len(items))
	for i, it := range items {
		pa := it.ca.pa
		if pa.Status == StatusUnchanged {
			continue
		}
		up := c.newUpload(it, loc, opts)
		if err := up.pushBlobs(ctx); err != nil {
			return nil, fmt.Errorf("pushing %s/%s:%s: %w", loc.Registry, pa.Repository, pa.Tag, err)
		}
		ups[i] = up
	}
	var out []PushedArtifact
	for i, it := range items {
		pa := it.ca.pa
		if ups[i] != nil {
			if err := ups[i].pushManifest(ctx); err != nil {
				return out, fmt.Errorf("pushing %s/%s:%s: %w", loc.Registry, pa.Repository, pa.Tag, err)
			}
		}
		if pa.Encoding == mediatypes.EncodingPalette {
			// The base manifest may be missing where the tag was there
			// already: deleted, or the version was pushed by another tool.
			src := it.src
			if it.baseFromDestination {
				src = it.ca.repo
			}
			if err := c.pushPaletteBase(ctx, src, pa.Manifest, pa.Repository, loc, pa.Status != StatusPushed); err != nil {
				return out, err
			}
		}
		out = append(out, pa)
	}
	return out, nil
}

// newUpload prepares the upload of a pushItem whose tag is to change.
func (c *Client) newUpload(it pushItem, loc Location, opts PushOptions) *upload {
	pa := it.ca.pa
	up := &upload{src: it.src, repo: it.ca.repo, manifest: pa.Manifest, tag: pa.Tag, mountFrom: mountAll(it.mountFrom), concurrency: c.opts.Concurrency}
	if it.mountFrom == "" && pa.Encoding == mediatypes.EncodingPalette {
		// Every Palette archive has the same empty config, which the base
		// repository holds once any archive was pushed.
		base := loc.PaletteBaseRepository()
		up.mountFrom = func(d ocispec.Descriptor) string {
			if d.MediaType == mediatypes.PaletteConfig && d.Size == int64(len(mediatypes.PaletteConfigData)) {
				return base
			}
			return ""
		}
	}
	if opts.Progress != nil {
		ca := it.ca
		up.report = func(total, done int64) {
			opts.Progress(ProgressEvent{Name: ca.name, Version: pa.Tag, Encoding: pa.Encoding, Total: total, Done: done})
		}
	}
	return up
}

// pushPaletteBase pushes the Palette archive's manifest, untagged, to the
// base archive repository, as Palette's documentation does, mounting its
// blobs from the pack's own repository rather than uploading them again.
// check asks first whether the base repository has it.
func (c *Client) pushPaletteBase(ctx context.Context, src content.Fetcher, desc ocispec.Descriptor, from string, loc Location, check bool) error {
	base, err := c.Repository(loc, loc.PaletteBaseRepository())
	if err != nil {
		return err
	}
	if check {
		if ok, err := base.Exists(ctx, desc); err == nil && ok {
			return nil
		}
	}
	up := &upload{src: src, repo: base, manifest: desc, mountFrom: mountAll(from), concurrency: c.opts.Concurrency}
	if err := up.push(ctx); err != nil {
		return fmt.Errorf("pushing the untagged manifest to %s/%s: %w", loc.Registry, loc.PaletteBaseRepository(), err)
	}
	return nil
}
