package ociregistry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2"
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
	// 4.
	Packs int
	// Progress, when set, is told of the bytes each artifact pushes.
	Progress ProgressFunc
}

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

// PushDir lints the pack folder, builds it into a temporary OCI image
// layout and pushes it to loc. A pack with lint errors is refused with a
// *packer.LintError.
func (c *Client) PushDir(ctx context.Context, dir string, loc Location, opts PushOptions) (*PushResult, error) {
	p, err := packer.Load(ctx, dir)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "packyard-push-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	layoutDir := filepath.Join(tmp, "layout")
	built, err := packer.BuildToLayout(ctx, p, layoutDir, packer.BuildOptions{Format: opts.Format, Created: opts.Created})
	if err != nil {
		return nil, err
	}
	l, err := ocilayout.Open(layoutDir)
	if err != nil {
		return nil, err
	}
	res := &PushResult{Source: dir, Name: built.Name, Version: built.Version, Warnings: built.Report.Warnings()}
	// Every tag is checked before any is pushed, so that a refused encoding
	// publishes no part of the pack.
	var checked []*checkedArtifact
	for _, a := range built.Artifacts() {
		ca, err := c.checkArtifact(ctx, a.Manifest, a.Encoding, built.Name, built.Tag, loc, opts)
		if err != nil {
			return res, err
		}
		checked = append(checked, ca)
	}
	for _, ca := range checked {
		pa, err := c.pushChecked(ctx, l, ca, loc, opts, "")
		if err != nil {
			return res, err
		}
		res.Artifacts = append(res.Artifacts, pa)
	}
	return res, nil
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
	for _, a := range checked {
		pa, err := c.pushChecked(ctx, l, a.ca, loc, opts, "")
		if err != nil {
			return nil, err
		}
		a.res.Artifacts = append(a.res.Artifacts, pa)
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
		limit = 4
	}
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
}

// checkArtifact checks what the registry holds at the tag one encoding of
// a pack is to be pushed to: nothing (pushed), the same manifest
// (unchanged), or another one (a *VersionExistsError unless opts.Force).
func (c *Client) checkArtifact(ctx context.Context, desc ocispec.Descriptor, encoding, name, tag string, loc Location, opts PushOptions) (*checkedArtifact, error) {
	repoName := loc.NativeRepository(name)
	if encoding == mediatypes.EncodingPalette {
		repoName = loc.PaletteRepository(name)
	}
	pa := PushedArtifact{Encoding: encoding, Repository: repoName, Tag: tag, Manifest: desc, Status: StatusPushed}
	repo, err := c.Repository(loc, repoName)
	if err != nil {
		return nil, err
	}
	existing, err := repo.Resolve(ctx, tag)
	switch {
	case err == nil && existing.Digest == desc.Digest:
		pa.Status = StatusUnchanged
	case err == nil && !opts.Force:
		return nil, &VersionExistsError{Repository: loc.Registry + "/" + repoName, Tag: tag, Existing: existing.Digest, New: desc.Digest}
	case err == nil:
		pa.Status, pa.Previous = StatusReplaced, existing.Digest
	case !errors.Is(err, errdef.ErrNotFound):
		return nil, fmt.Errorf("checking %s/%s:%s: %w", loc.Registry, repoName, tag, err)
	}
	return &checkedArtifact{pa: pa, repo: repo, name: name}, nil
}

// pushChecked pushes one encoding of a pack, which checkArtifact has
// checked, from src: blobs the registry lacks, in parallel, then the
// manifest with its tag, so a push that fails half-way leaves no visible
// version. mountFrom, when set, is a repository of the same registry that
// holds the blobs: they are mounted from it rather than uploaded.
func (c *Client) pushChecked(ctx context.Context, src oras.ReadOnlyTarget, ca *checkedArtifact, loc Location, opts PushOptions, mountFrom string) (PushedArtifact, error) {
	pa, repo, name := ca.pa, ca.repo, ca.name
	desc, encoding, repoName, tag := pa.Manifest, pa.Encoding, pa.Repository, pa.Tag
	if pa.Status != StatusUnchanged {
		copyOpts := oras.CopyOptions{CopyGraphOptions: oras.CopyGraphOptions{Concurrency: c.opts.Concurrency}}
		if mountFrom != "" {
			copyOpts.MountFrom = func(context.Context, ocispec.Descriptor) ([]string, error) { return []string{mountFrom}, nil }
		}
		from := src
		if opts.Progress != nil {
			from = pushProgress(src, &copyOpts.CopyGraphOptions, func(total, done int64) {
				opts.Progress(ProgressEvent{Name: name, Version: tag, Encoding: encoding, Total: total, Done: done})
			})
		}
		if _, err := oras.Copy(ctx, from, desc.Digest.String(), repo, tag, copyOpts); err != nil {
			return pa, fmt.Errorf("pushing %s/%s:%s: %w", loc.Registry, repoName, tag, err)
		}
	}
	if encoding == mediatypes.EncodingPalette {
		if err := c.pushPaletteBase(ctx, src, desc, repoName, loc); err != nil {
			return pa, err
		}
	}
	return pa, nil
}

// pushPaletteBase pushes the Palette archive's manifest, untagged, to the
// base archive repository, as Palette's documentation does, mounting its
// blobs from the pack's own repository rather than uploading them again.
func (c *Client) pushPaletteBase(ctx context.Context, src oras.ReadOnlyTarget, desc ocispec.Descriptor, from string, loc Location) error {
	base, err := c.Repository(loc, loc.PaletteBaseRepository())
	if err != nil {
		return err
	}
	if ok, err := base.Exists(ctx, desc); err == nil && ok {
		return nil
	}
	opts := oras.CopyGraphOptions{
		Concurrency: c.opts.Concurrency,
		MountFrom: func(context.Context, ocispec.Descriptor) ([]string, error) {
			return []string{from}, nil
		},
	}
	if err := oras.CopyGraph(ctx, src, base, desc, opts); err != nil {
		return fmt.Errorf("pushing the untagged manifest to %s/%s: %w", loc.Registry, loc.PaletteBaseRepository(), err)
	}
	return nil
}
