package ociregistry

import (
	"context"
	"io"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
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
