package ociregistry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
)

// A download whose connection fails part-way is taken up again where it
// stopped, with a range request, up to maxResumes times per blob, as long
// as no more than maxStalledResumes in a row bring no new byte.
const (
	maxResumes        = 8
	maxStalledResumes = 2
)

// resumeWait is the pause before the n-th resumption of a download.
var resumeWait = func(n int) time.Duration { return time.Duration(n) * 100 * time.Millisecond }

// resumingReader reads a blob from a registry that answers range requests:
// oras-go then gives a body it can seek, which sends a range request. When
// the connection fails, the rest of the blob is asked for, rather than the
// download failing. The bytes read are still verified whole, against the
// descriptor's size and digest, by whoever reads them: a registry that
// answers the range with other bytes is caught there.
type resumingReader struct {
	ctx  context.Context
	body io.ReadSeekCloser
	size int64
	// off is how many bytes were read; at is where the last resumption
	// started.
	off, at int64
	// resumes counts the resumptions, stalled those in a row that brought
	// nothing.
	resumes, stalled int
	// failed is the read error to resume from, held back while the bytes
	// read with it are handed out; err ends the download for good.
	failed, err error
}

// resumingFetcher fetches blobs whose downloads are taken up again when
// their connection fails (see resumingReader).
type resumingFetcher struct{ content.Fetcher }

func (f resumingFetcher) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := f.Fetcher.Fetch(ctx, desc)
	if err != nil {
		return nil, err
	}
	return newResumingReader(ctx, rc, desc.Size), nil
}

func newResumingReader(ctx context.Context, rc io.ReadCloser, size int64) io.ReadCloser {
	body, ok := rc.(io.ReadSeekCloser)
	if !ok || size <= 0 {
		return rc
	}
	return &resumingReader{ctx: ctx, body: body, size: size}
}

func (r *resumingReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	for {
		if r.failed != nil {
			if r.err = r.resume(); r.err != nil {
				return 0, r.err
			}
		}
		n, err := r.body.Read(p)
		r.off += int64(n)
		if err == nil || errors.Is(err, io.EOF) || !r.resumable(err) {
			return n, err
		}
		r.failed = err
		if n > 0 {
			return n, nil
		}
	}
}

// resumable says whether a read error is worth a new request: not when the
// caller gave up, nor when the whole blob has come already.
func (r *resumingReader) resumable(err error) bool {
	return r.ctx.Err() == nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) &&
		r.off < r.size
}

// resume asks for the rest of the blob, from r.off, or returns the error
// that stopped the download when it may not.
func (r *resumingReader) resume() error {
	cause := r.failed
	r.failed = nil
	if r.off == r.at {
		r.stalled++
	} else {
		r.stalled = 0
	}
	r.at = r.off
	if r.resumes >= maxResumes || r.stalled > maxStalledResumes {
		return cause
	}
	r.resumes++
	select {
	case <-r.ctx.Done():
		return cause
	case <-time.After(resumeWait(r.resumes)):
	}
	// oras-go's body sends a range request when it is moved to a place
	// other than where it is: first to the end, which closes the failed
	// connection and sends nothing, then back to r.off.
	if _, err := r.body.Seek(0, io.SeekEnd); err != nil {
		return cause
	}
	if _, err := r.body.Seek(r.off, io.SeekStart); err != nil {
		return fmt.Errorf("%w (taking the download up again at byte %d: %w)", cause, r.off, err)
	}
	return nil
}

func (r *resumingReader) Close() error { return r.body.Close() }
