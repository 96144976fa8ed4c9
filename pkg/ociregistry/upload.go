package ociregistry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/packyard/packyard/pkg/packer"
)

// smallBlob is the size up to which a blob is uploaded without first asking
// whether the registry has it: for a small blob the question costs about as
// much as the upload, and most blobs of a new pack are new.
const smallBlob = 256 << 10

// upload is one manifest and its blobs on their way from src to repo.
type upload struct {
	src      content.Fetcher
	repo     *remote.Repository
	manifest ocispec.Descriptor
	// tag is the tag the manifest is pushed with; empty pushes it by digest
	// only.
	tag string
	// mountFrom, when set, names for a blob a repository of the same
	// registry that may hold it: the blob is mounted from there, and
	// uploaded only if that fails.
	mountFrom   func(ocispec.Descriptor) string
	concurrency int
	// report, when set, is told of the bytes moved (see ProgressEvent).
	report func(total, done int64)
	// data is the manifest, once pushBlobs has read it.
	data []byte
}

// push moves the manifest's blobs that repo lacks, in parallel, then the
// manifest, so that a push that fails half-way leaves no manifest that
// names a missing blob, and no tag. It sends as few requests as it can:
// small blobs are uploaded without asking first, mounts without asking at
// all, and the manifest is not looked for (the caller resolved the tag).
func (u *upload) push(ctx context.Context) error {
	if err := u.pushBlobs(ctx); err != nil {
		return err
	}
	return u.pushManifest(ctx)
}

// pushBlobs reads the manifest and uploads the blobs it names, those the
// repository lacks, concurrently.
func (u *upload) pushBlobs(ctx context.Context) error {
	if u.manifest.Size > packer.MaxManifestSize {
		return fmt.Errorf("manifest %s is %d bytes, more than the %d a manifest may have", u.manifest.Digest, u.manifest.Size, packer.MaxManifestSize)
	}
	// content.FetchAll reads exactly the descriptor's size and verifies it.
	data, err := content.FetchAll(ctx, u.src, u.manifest)
	if err != nil {
		return fmt.Errorf("reading manifest %s: %w", u.manifest.Digest, err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("manifest %s is not valid JSON: %w", u.manifest.Digest, err)
	}
	if u.report == nil {
		u.report = func(int64, int64) {}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(u.concurrency, 1))
	seen := map[string]bool{}
	for _, b := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		if seen[b.Digest.String()] {
			// A blob named twice (a native pack's config is its pack.json
			// layer) moves once.
			u.report(b.Size, b.Size)
			continue
		}
		seen[b.Digest.String()] = true
		g.Go(func() error { return u.pushBlob(gctx, b) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	u.data = data
	return nil
}

// pushManifest pushes the manifest pushBlobs read, tagged when u has a tag.
func (u *upload) pushManifest(ctx context.Context) error {
	if u.data == nil {
		return fmt.Errorf("manifest %s: its blobs were not pushed", u.manifest.Digest)
	}
	var err error
	if u.tag != "" {
		err = u.repo.PushReference(ctx, u.manifest, bytes.NewReader(u.data), u.tag)
	} else {
		err = u.repo.Manifests().Push(ctx, u.manifest, bytes.NewReader(u.data))
	}
	if err != nil {
		return err
	}
	u.report(u.manifest.Size, u.manifest.Size)
	return nil
}

func (u *upload) pushBlob(ctx context.Context, desc ocispec.Descriptor) error {
	fetch := func() (io.ReadCloser, error) {
		rc, err := u.src.Fetch(ctx, desc)
		if err != nil {
			return nil, err
		}
		return &countingReader{ReadCloser: rc, report: u.report}, nil
	}
	u.report(desc.Size, 0)
	if from := u.mountFromFor(desc); from != "" {
		uploaded := false
		err := u.repo.Mount(ctx, desc, from, func() (io.ReadCloser, error) {
			uploaded = true
			return fetch()
		})
		if err == nil && !uploaded {
			u.report(0, desc.Size)
		}
		return err
	}
	if desc.Size > smallBlob {
		if ok, err := u.repo.Blobs().Exists(ctx, desc); err == nil && ok {
			u.report(0, desc.Size)
			return nil
		}
	}
	rc, err := fetch()
	if err != nil {
		return err
	}
	defer rc.Close()
	return u.repo.Blobs().Push(ctx, desc, rc)
}

func (u *upload) mountFromFor(desc ocispec.Descriptor) string {
	if u.mountFrom == nil {
		return ""
	}
	return u.mountFrom(desc)
}

// mountAll mounts every blob from repo.
func mountAll(repo string) func(ocispec.Descriptor) string {
	if repo == "" {
		return nil
	}
	return func(ocispec.Descriptor) string { return repo }
}
