package ociregistry

import (
	"context"
	"io"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
)

// ProgressEvent reports bytes of one pack artifact on the move. Totals grow
// as blobs are reached, so a display sums the events it gets.
type ProgressEvent struct {
	// Name and Version name the pack.
	Name    string
	Version string
	// Encoding is the artifact's encoding, mediatypes.EncodingNative or
	// mediatypes.EncodingPalette; empty when not known yet.
	Encoding string
	// Total is added to the bytes the artifact moves.
	Total int64
	// Done is added to the bytes moved so far (or found already in place).
	Done int64
}

// ProgressFunc receives progress events. It is called from several
// goroutines at once and must return quickly.
type ProgressFunc func(ProgressEvent)

// isManifest says whether a media type is a manifest or an index, which
// oras-go reads whole (and may read twice) rather than streams.
func isManifest(mediaType string) bool {
	switch mediaType {
	case ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex,
		"application/vnd.docker.distribution.manifest.v2+json",
		"application/vnd.docker.distribution.manifest.list.v2+json":
		return true
	}
	return false
}

// pushProgress wires report into a copy from src: blob bytes are counted
// as they are read, manifests when they are written, and blobs the
// registry already has, or mounts from another repository, as soon as they
// are found.
func pushProgress(src oras.ReadOnlyTarget, opts *oras.CopyGraphOptions, report func(total, done int64)) oras.ReadOnlyTarget {
	opts.PreCopy = func(_ context.Context, desc ocispec.Descriptor) error {
		report(desc.Size, 0)
		return nil
	}
	opts.PostCopy = func(_ context.Context, desc ocispec.Descriptor) error {
		if isManifest(desc.MediaType) {
			report(0, desc.Size)
		}
		return nil
	}
	opts.OnCopySkipped = func(_ context.Context, desc ocispec.Descriptor) error {
		report(desc.Size, desc.Size)
		return nil
	}
	opts.OnMounted = func(_ context.Context, desc ocispec.Descriptor) error {
		report(desc.Size, desc.Size)
		return nil
	}
	return &countingTarget{ReadOnlyTarget: src, report: report}
}

// countingTarget counts the blob bytes read from it.
type countingTarget struct {
	oras.ReadOnlyTarget
	report func(total, done int64)
}

func (t *countingTarget) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := t.ReadOnlyTarget.Fetch(ctx, desc)
	if err != nil || isManifest(desc.MediaType) {
		return rc, err
	}
	return &countingReader{ReadCloser: rc, report: t.report}, nil
}

// countingFetcher counts every byte read from it, and adds each blob's size
// to the total when its fetch starts.
type countingFetcher struct {
	content.Fetcher
	report func(total, done int64)
}

func (f *countingFetcher) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := f.Fetcher.Fetch(ctx, desc)
	if err != nil {
		return nil, err
	}
	f.report(desc.Size, 0)
	return &countingReader{ReadCloser: rc, report: f.report}, nil
}

type countingReader struct {
	io.ReadCloser
	report func(total, done int64)
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if n > 0 {
		r.report(0, int64(n))
	}
	return n, err
}
