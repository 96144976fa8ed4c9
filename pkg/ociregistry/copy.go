package ociregistry

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"

	"github.com/packyard/packyard/pkg/mediatypes"
	"github.com/packyard/packyard/pkg/packer"
)

// CopyOptions tune Copy. The zero value copies every encoding the source
// has and refuses to overwrite a version with other content.
type CopyOptions struct {
	// Encoding copies only this encoding (mediatypes.EncodingNative or
	// mediatypes.EncodingPalette); empty means every encoding the source
	// has.
	Encoding string
	// Force overwrites a version that holds other content at dst.
	Force bool
}

// Copy copies a version of a pack (the highest when ref names none) from
// src to dst, every encoding the source has, with the same rules as a
// push: a version already there with the same content is left alone
// (StatusUnchanged), one with other content is refused with a
// *VersionExistsError unless opts.Force, and the manifest goes last.
// Blobs stream from registry to registry without touching the disk; within
// one registry they are mounted from the source repository, not copied.
// dstClient talks to dst; nil means c.
func (c *Client) Copy(ctx context.Context, src Location, ref PackRef, dst Location, dstClient *Client, opts CopyOptions) (*PushResult, error) {
	if dstClient == nil {
		dstClient = c
	}
	switch opts.Encoding {
	case "", mediatypes.EncodingNative, mediatypes.EncodingPalette:
	default:
		return nil, fmt.Errorf("unknown encoding %q: use %s or %s", opts.Encoding, mediatypes.EncodingNative, mediatypes.EncodingPalette)
	}
	found, err := c.findVersion(ctx, src, ref, opts.Encoding)
	if err != nil {
		return nil, &SourceError{Source: src.String(), Err: err}
	}
	res := &PushResult{Source: src.String() + "/" + ref.String(), Name: ref.Name, Version: ref.Version}
	// Every tag is checked before any is pushed, so that a refused encoding
	// publishes no part of the pack.
	type copyArtifact struct {
		f         *Found
		ca        *checkedArtifact
		mountFrom string
	}
	var checked []copyArtifact
	for _, f := range found {
		tag := f.Tag
		if tag == "" || f.Encoding == mediatypes.EncodingNative && res.Version == "" {
			m, err := packer.FetchManifest(ctx, checkedFetcher{f.Repository}, f.Manifest)
			if err != nil {
				return res, &SourceError{Source: f.reference(src), Err: fmt.Errorf("%s: %w", f.reference(src), err)}
			}
			if tag == "" {
				tag = tagFromManifest(ref.Name, f.Encoding, m)
			}
			if v := m.Annotations[mediatypes.AnnotationPackVersion]; v != "" && f.Encoding == mediatypes.EncodingNative {
				res.Version = v
			}
		}
		if tag == "" {
			return res, fmt.Errorf("%s names no version to tag the copy with; copy %s:VERSION instead: %w", f.reference(src), ref.Name, errdef.ErrMissingReference)
		}
		if res.Version == "" {
			res.Version = tag
		}
		mountFrom := ""
		if src.Registry == dst.Registry {
			mountFrom = f.RepositoryName
		}
		ca, err := dstClient.checkArtifact(ctx, f.Manifest, f.Encoding, ref.Name, tag, dst, PushOptions{Force: opts.Force})
		if err != nil {
			return res, err
		}
		checked = append(checked, copyArtifact{f: f, ca: ca, mountFrom: mountFrom})
	}
	items := make([]pushItem, len(checked))
	for i, a := range checked {
		items[i] = pushItem{src: sourceFetcher{src: a.f.Repository, where: a.f.reference(src)}, ca: a.ca, mountFrom: a.mountFrom, baseFromDestination: true}
	}
	pushed, err := dstClient.pushChecked(ctx, items, dst, PushOptions{Force: opts.Force})
	res.Artifacts = append(res.Artifacts, pushed...)
	var se *SourceError
	if errors.As(err, &se) {
		// The destination's request failed because its body did: the
		// destination is not to blame, and its upload URL says nothing.
		return res, se
	}
	return res, err
}

// SourceError is a copy failing on its source's side: the version is not
// found there, or a blob cannot be read from it while its bytes stream into
// an upload to the destination (a connection cut that could not be taken
// up again, content that does not match its descriptor). Nothing of the
// version is published at the destination.
type SourceError struct {
	// Source is where the copy read from: REGISTRY[/BASE], or the
	// artifact, REGISTRY/REPOSITORY:TAG.
	Source string
	// Blob, when set, is the blob whose reading failed.
	Blob ocispec.Descriptor
	Err  error
}

func (e *SourceError) Error() string {
	if e.Blob.Digest == "" {
		return e.Err.Error() // which names what it looked for
	}
	blob := e.Blob.Digest.String()
	if title := e.Blob.Annotations[ocispec.AnnotationTitle]; title != "" {
		blob += " (" + title + ")"
	}
	return fmt.Sprintf("reading blob %s of %s: %v", blob, e.Source, e.Err)
}

func (e *SourceError) Unwrap() error { return e.Err }

// sourceFetcher reads a copy's blobs from its source. As for a pull, each
// answer is checked against the descriptor before its body is read, and a
// cut download is taken up again; the bytes are verified as they stream,
// so that a source sending other bytes is reported as the source's fault
// (the destination refuses them too: the upload names their digest). A
// fetch or a read that fails is a *SourceError.
type sourceFetcher struct {
	src   content.Fetcher
	where string
}

func (f sourceFetcher) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if err := desc.Digest.Validate(); err != nil {
		return nil, &SourceError{Source: f.where, Blob: desc, Err: answerErrorf("the descriptor's digest %q is not valid: %v", desc.Digest, err)}
	}
	rc, err := checkedFetcher{f.src}.Fetch(ctx, desc)
	if err != nil {
		return nil, &SourceError{Source: f.where, Blob: desc, Err: err}
	}
	return &sourceReader{rc: rc, desc: desc, where: f.where, verifier: desc.Digest.Verifier()}, nil
}

// sourceReader is a blob of a copy's source being read, and verified: its
// end must come after exactly the descriptor's size, and the bytes must
// have its digest.
type sourceReader struct {
	rc       io.ReadCloser
	desc     ocispec.Descriptor
	where    string
	verifier digest.Verifier
	read     int64
	done     bool
}

func (r *sourceReader) Read(p []byte) (int, error) {
	if r.done {
		return 0, io.EOF
	}
	// Up to one byte past the blob is asked for: a source that has more
	// is caught.
	if rest := r.desc.Size - r.read; int64(len(p)) > rest+1 {
		p = p[:rest+1]
	}
	n, err := r.rc.Read(p)
	over := r.read + int64(n) - r.desc.Size
	if over > 0 {
		n -= int(over)
	}
	r.read += int64(n)
	_, _ = r.verifier.Write(p[:n])
	switch {
	case over > 0:
		return n, r.fail(answerErrorf("the content is longer than the %d bytes of its descriptor", r.desc.Size))
	case err == nil:
		return n, nil
	case errors.Is(err, io.EOF) && r.read < r.desc.Size, errors.Is(err, io.ErrUnexpectedEOF):
		return n, r.fail(answerErrorf("the content ends after %d of its %d bytes", r.read, r.desc.Size))
	case errors.Is(err, io.EOF) && !r.verifier.Verified():
		return n, r.fail(answerErrorf("the content does not match its digest"))
	case errors.Is(err, io.EOF):
		r.done = true
		return n, io.EOF
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return n, err // the copy was given up, not failed by the source
	}
	return n, r.fail(err)
}

func (r *sourceReader) fail(err error) error {
	return &SourceError{Source: r.where, Blob: r.desc, Err: err}
}

func (r *sourceReader) Close() error { return r.rc.Close() }
