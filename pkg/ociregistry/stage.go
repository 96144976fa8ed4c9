package ociregistry

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"

	"github.com/packyard/packyard/internal/ctxio"
	"github.com/packyard/packyard/internal/iobuf"
)

// stageMemory is how many bytes of generated blobs a stage keeps in memory
// unless it shares a budget; past it, generated blobs are written to
// temporary files.
const stageMemory = 16 << 20

// manyStageMemory is the budget the stages of a many-pack push share:
// however many packs move at once, their generated blobs hold no more
// memory than this.
const manyStageMemory = 64 << 20

// stageBudget is memory that stages take chunks from and give them back
// to.
type stageBudget struct {
	mu          sync.Mutex
	used, limit int64
}

func newStageBudget(limit int64) *stageBudget { return &stageBudget{limit: limit} }

// take reserves n bytes, or says there is no room.
func (b *stageBudget) take(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.limit {
		return false
	}
	b.used += n
	return true
}

func (b *stageBudget) give(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
}

// chunkSize is the size of the pieces in which a stage keeps blobs in
// memory: pieces are reused from one pack to the next, and a growing blob
// is never copied.
const chunkSize = 64 << 10

var chunks = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// stage holds the blobs of a pack being pushed from its folder, without
// writing an OCI layout: a file of the pack is hashed where it lies and read
// again when it is uploaded; generated blobs (folder layers, the Palette
// archive, manifests) are kept in memory up to stageMemory in all, and in
// temporary files past that. It is a packer.Ingester and a packer
// FileIngester for the build, and a content.Fetcher for the push. Close
// removes its temporary files; nothing read from the stage may be used after
// it.
type stage struct {
	mu    sync.Mutex
	blobs map[digest.Digest]stagedBlob
	// budget is where the stage's chunks come from; memory is how many
	// bytes of them it holds.
	budget *stageBudget
	memory int64
	// dir holds the spilled blobs; made when the first one spills.
	dir string
}

// stagedBlob is one blob of a stage: in memory (data), in a temporary file
// (spill) or in the pack's folder (file, with the modification time it had
// when it was hashed).
type stagedBlob struct {
	desc    ocispec.Descriptor
	data    chunked
	spill   string
	file    string
	modTime time.Time
}

// chunked is a blob held in memory, in pooled chunks.
type chunked struct {
	chunks []*[]byte
	size   int64
}

// reader reads the blob.
func (c chunked) reader() io.Reader {
	rs := make([]io.Reader, 0, len(c.chunks))
	left := c.size
	for _, p := range c.chunks {
		n := min(left, int64(len(*p)))
		rs = append(rs, bytes.NewReader((*p)[:n]))
		left -= n
	}
	return io.MultiReader(rs...)
}

// newStage returns a stage whose chunks come from budget, or from a budget
// of its own, stageMemory, when budget is nil.
func newStage(budget *stageBudget) *stage {
	if budget == nil {
		budget = newStageBudget(stageMemory)
	}
	return &stage{blobs: map[digest.Digest]stagedBlob{}, budget: budget}
}

// Close gives back the stage's memory and removes its temporary files.
// They are in the system's temporary folder: one that cannot be removed is
// left to the system.
func (s *stage) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.blobs {
		s.release(b.data)
	}
	s.blobs = map[digest.Digest]stagedBlob{}
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
		s.dir = ""
	}
}

// release gives chunks back; s.mu is held.
func (s *stage) release(c chunked) {
	for _, p := range c.chunks {
		chunks.Put(p)
	}
	n := int64(len(c.chunks)) * chunkSize
	s.memory -= n
	s.budget.give(n)
}

// add records b, unless the stage holds its digest already; then what b
// holds is given back.
func (s *stage) add(b stagedBlob) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.blobs[b.desc.Digest]; ok {
		s.release(b.data)
		if b.spill != "" {
			os.Remove(b.spill)
		}
		return
	}
	s.blobs[b.desc.Digest] = b
}

// chunk takes a chunk of memory, or nil when the stage holds all it may.
func (s *stage) chunk() *[]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.budget.take(chunkSize) {
		return nil
	}
	s.memory += chunkSize
	return chunks.Get().(*[]byte)
}

// Ingest keeps content, hashing it as it is read: in memory, chunk by
// chunk, while the stage has room, and in a temporary file past that.
func (s *stage) Ingest(ctx context.Context, mediaType string, content io.Reader) (ocispec.Descriptor, error) {
	h := digest.SHA256.Digester()
	r := ctxio.Reader{Ctx: ctx, R: content}
	var data chunked
	for {
		p := s.chunk()
		if p == nil {
			return s.spill(ctx, mediaType, h, data, r)
		}
		data.chunks = append(data.chunks, p)
		n, err := io.ReadFull(r, *p)
		h.Hash().Write((*p)[:n])
		data.size += int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			s.mu.Lock()
			s.release(data)
			s.mu.Unlock()
			return ocispec.Descriptor{}, err
		}
	}
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: h.Digest(), Size: data.size}
	s.add(stagedBlob{desc: desc, data: data})
	return desc, nil
}

// spill writes a blob too large for memory to a temporary file: head, which
// h has hashed, then the rest of content. head's chunks are given back.
func (s *stage) spill(ctx context.Context, mediaType string, h digest.Digester, head chunked, content io.Reader) (ocispec.Descriptor, error) {
	defer func() {
		s.mu.Lock()
		s.release(head)
		s.mu.Unlock()
	}()
	dir, err := s.spillDir()
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	f, err := os.CreateTemp(dir, "blob-*")
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	_, err = io.Copy(f, head.reader())
	var n int64
	if err == nil {
		n, err = io.Copy(io.MultiWriter(f, h.Hash()), ctxio.Reader{Ctx: ctx, R: content})
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return ocispec.Descriptor{}, err
	}
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: h.Digest(), Size: head.size + n}
	s.add(stagedBlob{desc: desc, spill: f.Name()})
	return desc, nil
}

func (s *stage) spillDir() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dir == "" {
		dir, err := os.MkdirTemp("", "packyard-push-*")
		if err != nil {
			return "", err
		}
		s.dir = dir
	}
	return s.dir, nil
}

// IngestFile hashes content, the file at name, and records the file to be
// read again when the blob is fetched.
func (s *stage) IngestFile(ctx context.Context, mediaType, name string, content io.Reader) (ocispec.Descriptor, error) {
	st, err := os.Stat(name)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	h := digest.SHA256.Digester()
	n, err := iobuf.Copy(h.Hash(), ctxio.Reader{Ctx: ctx, R: content})
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: h.Digest(), Size: n}
	s.add(stagedBlob{desc: desc, file: name, modTime: st.ModTime()})
	return desc, nil
}

func (s *stage) get(desc ocispec.Descriptor) (stagedBlob, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.blobs[desc.Digest]
	if !ok || b.desc.Size != desc.Size {
		return b, fmt.Errorf("%s: %w", desc.Digest, errdef.ErrNotFound)
	}
	return b, nil
}

// Exists says whether the stage holds the blob.
func (s *stage) Exists(_ context.Context, desc ocispec.Descriptor) (bool, error) {
	_, err := s.get(desc)
	return err == nil, nil
}

// Fetch opens a staged blob. A file of the pack that changed since it was
// hashed is an error, before any of it is read.
func (s *stage) Fetch(_ context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	b, err := s.get(desc)
	if err != nil {
		return nil, err
	}
	switch {
	case b.file != "":
		f, err := os.Open(b.file)
		if err != nil {
			return nil, err
		}
		st, err := f.Stat()
		if err == nil && (st.Size() != b.desc.Size || !st.ModTime().Equal(b.modTime)) {
			err = fmt.Errorf("%s changed while the pack was being pushed; push again", b.file)
		}
		if err != nil {
			f.Close()
			return nil, err
		}
		return f, nil
	case b.spill != "":
		return os.Open(b.spill)
	}
	return io.NopCloser(b.data.reader()), nil
}

// Resolve finds a staged blob by its digest.
func (s *stage) Resolve(_ context.Context, reference string) (ocispec.Descriptor, error) {
	d, err := digest.Parse(reference)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%s: %w", reference, errdef.ErrNotFound)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.blobs[d]
	if !ok {
		return ocispec.Descriptor{}, fmt.Errorf("%s: %w", reference, errdef.ErrNotFound)
	}
	return b.desc, nil
}
