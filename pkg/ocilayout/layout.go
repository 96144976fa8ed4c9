// Package ocilayout reads and writes OCI image layout folders
// (https://github.com/opencontainers/image-spec/blob/main/image-layout.md).
//
// A Layout is an oras-go content store (Fetch, Exists, Push, Resolve, Tag),
// so the same code that copies to a registry copies to a folder. It differs
// from oras-go's oci.Store where packyard needs it to:
//
//   - Ingest stores a stream whose digest is not known yet, hashing it while
//     it is written, so a large blob is read once, not twice;
//   - index.json is replaced atomically (written beside, then renamed) and
//     its entries keep a stable order, so a crash never leaves a torn index
//     and the same builds give the same file;
//   - blobs are written to a temporary file and renamed into place only when
//     complete and verified, so no reader ever sees a partial blob. Blobs
//     are not synced to disk (that halves build speed); after a crash a blob
//     may be cut short, which digest verification catches on every read, and
//     a rebuild, being reproducible, repairs. index.json is synced.
package ocilayout

import (
	"github.com/packyard/packyard/internal/fileread"

	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"
)

// MaxIndexSize bounds the index.json a Layout reads, against hostile input.
const MaxIndexSize = 32 << 20

const indexFile = "index.json"

// Layout is an OCI image layout folder. Its methods are safe for concurrent
// use within one process.
type Layout struct {
	root string

	mu    sync.Mutex
	index ocispec.Index
}

// Open opens the existing layout at root.
func Open(root string) (*Layout, error) {
	data, err := fileread.Limited(filepath.Join(root, ocispec.ImageLayoutFile), 4096)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s is not an OCI image layout (no %s file): %w", root, ocispec.ImageLayoutFile, errdef.ErrNotFound)
		}
		return nil, fmt.Errorf("%s: %w", root, err)
	}
	var lay ocispec.ImageLayout
	if err := json.Unmarshal(data, &lay); err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(root, ocispec.ImageLayoutFile), err)
	}
	if lay.Version != ocispec.ImageLayoutVersion {
		return nil, fmt.Errorf("%s: unsupported image layout version %q (want %q)", root, lay.Version, ocispec.ImageLayoutVersion)
	}
	l := &Layout{root: root}
	if err := l.loadIndex(); err != nil {
		return nil, err
	}
	return l, nil
}

// Create opens the layout at root, making the folder and its oci-layout and
// index.json files when they are missing.
func Create(root string) (*Layout, error) {
	if _, err := os.Stat(filepath.Join(root, ocispec.ImageLayoutFile)); err == nil {
		return Open(root)
	}
	if err := os.MkdirAll(filepath.Join(root, ocispec.ImageBlobsDir), 0o755); err != nil {
		return nil, err
	}
	l := &Layout{root: root, index: newIndex()}
	if err := l.writeIndex(); err != nil {
		return nil, err
	}
	lay, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err := writeFileAtomic(filepath.Join(root, ocispec.ImageLayoutFile), lay); err != nil {
		return nil, err
	}
	return l, nil
}

func newIndex() ocispec.Index {
	return ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{},
	}
}

// Root is the layout's folder.
func (l *Layout) Root() string { return l.root }

func (l *Layout) loadIndex() error {
	data, err := fileread.Limited(filepath.Join(l.root, indexFile), MaxIndexSize)
	if errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err != nil {
		return fmt.Errorf("%s: %w", l.root, err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(data, &idx); err != nil {
		return fmt.Errorf("%s: reading index.json: %w", l.root, err)
	}
	if idx.Manifests == nil {
		idx.Manifests = []ocispec.Descriptor{}
	}
	for i, d := range idx.Manifests {
		if err := d.Digest.Validate(); err != nil {
			return fmt.Errorf("%s: index.json entry %d: %w", l.root, i, err)
		}
		if d.Size < 0 {
			return fmt.Errorf("%s: index.json entry %d: negative size %d", l.root, i, d.Size)
		}
	}
	l.index = idx
	return nil
}

// writeIndex replaces index.json atomically. The caller holds l.mu or owns l.
func (l *Layout) writeIndex() error {
	data, err := json.Marshal(l.index)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(l.root, indexFile), data)
}

// BlobPath is where the blob with digest d lives in the layout.
func (l *Layout) BlobPath(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("%s: %w", d, errdef.ErrInvalidDigest)
	}
	return filepath.Join(l.root, ocispec.ImageBlobsDir, d.Algorithm().String(), d.Encoded()), nil
}

// Exists says whether the layout holds the blob of desc.
func (l *Layout) Exists(_ context.Context, desc ocispec.Descriptor) (bool, error) {
	p, err := l.BlobPath(desc.Digest)
	if err != nil {
		return false, err
	}
	_, err = os.Stat(p)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, err
}

// Fetch opens the blob of desc. Like every oras-go fetcher it does not verify
// what it returns; wrap the reader with content.NewVerifyReader to do so.
func (l *Layout) Fetch(_ context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	p, err := l.BlobPath(desc.Digest)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %s: %w", desc.Digest, desc.MediaType, errdef.ErrNotFound)
		}
		return nil, err
	}
	return f, nil
}

// Push stores content that must match expected, byte for byte. Content that
// does not match is never written into place.
func (l *Layout) Push(ctx context.Context, expected ocispec.Descriptor, content io.Reader) error {
	_, err := l.ingest(ctx, expected.MediaType, expected.Digest.Algorithm(), io.LimitReader(content, expected.Size+1), &expected)
	return err
}

// Ingest stores content whose digest is not known yet, computing it (sha256)
// while the content is written, and returns the blob's descriptor.
func (l *Layout) Ingest(ctx context.Context, mediaType string, content io.Reader) (ocispec.Descriptor, error) {
	return l.ingest(ctx, mediaType, digest.SHA256, content, nil)
}

// ingest writes content to a temporary file while hashing it and renames the
// file into place once it is complete and, when expected is given, matches it.
func (l *Layout) ingest(ctx context.Context, mediaType string, alg digest.Algorithm, content io.Reader, expected *ocispec.Descriptor) (ocispec.Descriptor, error) {
	if !alg.Available() {
		return ocispec.Descriptor{}, fmt.Errorf("digest algorithm %q: %w", alg, errdef.ErrUnsupported)
	}
	dir := filepath.Join(l.root, ocispec.ImageBlobsDir, alg.String())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return ocispec.Descriptor{}, err
	}
	tmp, err := os.CreateTemp(dir, ".ingest-*")
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	defer func() {
		if tmp != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := alg.Digester()
	n, err := copyCtx(ctx, io.MultiWriter(tmp, h.Hash()), content)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if err := tmp.Close(); err != nil {
		return ocispec.Descriptor{}, err
	}
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: h.Digest(), Size: n}
	if expected != nil && (desc.Size != expected.Size || desc.Digest != expected.Digest) {
		return ocispec.Descriptor{}, fmt.Errorf("content is %s (%d bytes), want %s (%d bytes): %w",
			desc.Digest, desc.Size, expected.Digest, expected.Size, errdef.ErrInvalidDigest)
	}
	p, err := l.BlobPath(desc.Digest)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return ocispec.Descriptor{}, err
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return ocispec.Descriptor{}, err
	}
	tmp = nil
	return desc, nil
}

// PushBytes stores a small blob held in memory.
func (l *Layout) PushBytes(ctx context.Context, mediaType string, data []byte) (ocispec.Descriptor, error) {
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
	if ok, err := l.Exists(ctx, desc); err != nil || ok {
		return desc, err
	}
	return desc, l.Push(ctx, desc, bytes.NewReader(data))
}

// Resolve finds the manifest a reference names: a tag in index.json, or a
// digest of a manifest the index lists.
func (l *Layout) Resolve(_ context.Context, reference string) (ocispec.Descriptor, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if d, err := digest.Parse(reference); err == nil {
		for _, m := range l.index.Manifests {
			if m.Digest == d {
				return withoutRefName(m), nil
			}
		}
		return ocispec.Descriptor{}, fmt.Errorf("%s: no manifest with this digest in %s: %w", reference, l.root, errdef.ErrNotFound)
	}
	for _, m := range l.index.Manifests {
		if m.Annotations[ocispec.AnnotationRefName] == reference {
			return withoutRefName(m), nil
		}
	}
	return ocispec.Descriptor{}, fmt.Errorf("%s: no such tag in %s: %w", reference, l.root, errdef.ErrNotFound)
}

func withoutRefName(d ocispec.Descriptor) ocispec.Descriptor {
	if _, ok := d.Annotations[ocispec.AnnotationRefName]; !ok {
		return d
	}
	ann := make(map[string]string, len(d.Annotations))
	for k, v := range d.Annotations {
		if k != ocispec.AnnotationRefName {
			ann[k] = v
		}
	}
	if len(ann) == 0 {
		ann = nil
	}
	d.Annotations = ann
	return d
}

// Tag points reference at desc in index.json, replacing any entry the tag
// had. The annotations of desc are kept on the index entry. The manifest
// blob must already be in the layout.
func (l *Layout) Tag(ctx context.Context, desc ocispec.Descriptor, reference string) error {
	if reference == "" {
		return errdef.ErrMissingReference
	}
	if ok, err := l.Exists(ctx, desc); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("tagging %s: manifest %s is not in the layout: %w", reference, desc.Digest, errdef.ErrNotFound)
	}
	entry := desc
	entry.Annotations = make(map[string]string, len(desc.Annotations)+1)
	for k, v := range desc.Annotations {
		entry.Annotations[k] = v
	}
	entry.Annotations[ocispec.AnnotationRefName] = reference

	l.mu.Lock()
	defer l.mu.Unlock()
	// Another process may tag the same layout: hold the file lock from
	// reading index.json to replacing it, so neither loses the other's tag.
	unlock, err := lockDir(l.root)
	if err != nil {
		return err
	}
	defer unlock()
	if err := l.loadIndex(); err != nil {
		return err
	}
	i := slices.IndexFunc(l.index.Manifests, func(m ocispec.Descriptor) bool {
		return m.Annotations[ocispec.AnnotationRefName] == reference
	})
	if i >= 0 {
		l.index.Manifests[i] = entry
	} else {
		l.index.Manifests = append(l.index.Manifests, entry)
	}
	return l.writeIndex()
}

// Manifests lists the index entries, tags included as the
// org.opencontainers.image.ref.name annotation.
func (l *Layout) Manifests() []ocispec.Descriptor {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := slices.Clone(l.index.Manifests)
	for i := range out {
		out[i].Annotations = maps.Clone(out[i].Annotations)
	}
	return out
}

// writeFileAtomic writes data beside path, syncs it and renames it over path.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// copyBuffers holds the buffers of copyCtx: a fresh 1 MiB buffer for every
// blob, however small, cost more than copying small blobs does.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// copyCtx copies like io.Copy with a large buffer and stops when ctx ends.
func copyCtx(ctx context.Context, dst io.Writer, src io.Reader) (int64, error) {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		nr, rerr := src.Read(buf)
		if nr > 0 {
			nw, werr := dst.Write(buf[:nr])
			n += int64(nw)
			if werr != nil {
				return n, werr
			}
			if nw != nr {
				return n, io.ErrShortWrite
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}
