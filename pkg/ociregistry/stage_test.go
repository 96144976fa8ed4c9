package ociregistry

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
)

func TestStageKeepsSmallBlobsInMemoryAndSpillsLargeOnes(t *testing.T) {
	s := newStage(newStageBudget(3 * chunkSize))
	small := bytes.Repeat([]byte("a"), chunkSize+10) // two chunks
	large := bytes.Repeat([]byte("b"), chunkSize+20) // no longer fits beside small
	ds, err := s.Ingest(t.Context(), "x/small", bytes.NewReader(small))
	if err != nil {
		t.Fatal(err)
	}
	dl, err := s.Ingest(t.Context(), "x/large", bytes.NewReader(large))
	if err != nil {
		t.Fatal(err)
	}
	if s.memory != 2*chunkSize {
		t.Errorf("memory holds %d bytes, want two chunks", s.memory)
	}
	if b := s.blobs[ds.Digest]; b.data.size != int64(len(small)) || b.spill != "" {
		t.Errorf("the small blob was not kept in memory: %+v", b)
	}
	spilled := s.blobs[dl.Digest].spill
	if spilled == "" {
		t.Fatal("the large blob was not spilled to a file")
	}
	for blob, d := range map[string]ocispec.Descriptor{string(small): ds, string(large): dl} {
		if d.Digest != digest.FromString(blob) || d.Size != int64(len(blob)) {
			t.Errorf("descriptor %v for %d bytes", d, len(blob))
		}
		got, err := content.FetchAll(t.Context(), s, d)
		if err != nil || string(got) != blob {
			t.Errorf("fetch of %s: %q, %v", d.MediaType, got, err)
		}
		if r, err := s.Resolve(t.Context(), d.Digest.String()); err != nil || r.Digest != d.Digest {
			t.Errorf("resolve %s: %v, %v", d.Digest, r, err)
		}
	}
	s.Close()
	if s.memory != 0 {
		t.Errorf("Close left %d bytes of memory taken", s.memory)
	}
	if _, err := os.Stat(filepath.Dir(spilled)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Close left the spill folder: %v", err)
	}
	if _, err := s.Fetch(t.Context(), ds); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("fetch after Close: %v", err)
	}
}

// Stages that share a budget, as the packs of a many-pack push do, hold
// no more memory between them than it allows, and give it all back.
func TestStageMemoryBoundUnderConcurrentIngests(t *testing.T) {
	budget := newStageBudget(10 * chunkSize)
	stages := []*stage{newStage(budget), newStage(budget), newStage(budget)}
	var wg sync.WaitGroup
	for i := range 60 {
		wg.Go(func() {
			blob := strings.Repeat(string(rune('a'+i%26)), chunkSize/2+i)
			if _, err := stages[i%len(stages)].Ingest(t.Context(), "x/y", strings.NewReader(blob)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	var total, spilled int64
	for _, s := range stages {
		var inMemory int64
		for _, b := range s.blobs {
			if b.spill != "" {
				spilled++
			} else {
				inMemory += int64(len(b.data.chunks)) * chunkSize
			}
		}
		if s.memory != inMemory {
			t.Errorf("a stage holds %d bytes of chunks and accounts %d", inMemory, s.memory)
		}
		total += inMemory
	}
	if total > budget.limit || budget.used != total {
		t.Errorf("%d bytes of chunks in memory, %d taken from the budget, limit %d", total, budget.used, budget.limit)
	}
	if spilled == 0 {
		t.Error("nothing spilled past the limit")
	}
	for _, s := range stages {
		s.Close()
	}
	if budget.used != 0 {
		t.Errorf("%d bytes still taken after every stage closed", budget.used)
	}
}

func TestStageFileChangedBeforeUpload(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "chart.tgz")
	if err := os.WriteFile(name, []byte("version one"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := newStage(nil)
	defer s.Close()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.IngestFile(t.Context(), "x/chart", name, f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := content.FetchAll(t.Context(), s, d); err != nil || string(got) != "version one" {
		t.Fatalf("fetch: %q, %v", got, err)
	}
	if s.blobs[d.Digest].data.size != 0 {
		t.Error("a file of the pack was copied into memory")
	}
	// Same size, later time: the content may differ.
	if err := os.WriteFile(name, []byte("version two"), 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(name, later, later); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Fetch(t.Context(), d); err == nil || !strings.Contains(err.Error(), "changed while the pack was being pushed") {
		t.Errorf("fetch of a changed file: %v", err)
	}
	if _, err := s.Fetch(t.Context(), ocispec.Descriptor{Digest: d.Digest, Size: d.Size + 1}); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("fetch with the wrong size: %v", err)
	}
}

func TestStageSameBlobTwice(t *testing.T) {
	s := newStage(newStageBudget(chunkSize))
	defer s.Close()
	for _, blob := range []string{"abc", "abc", strings.Repeat("z", chunkSize+1), strings.Repeat("z", chunkSize+1)} {
		if _, err := s.Ingest(t.Context(), "x/y", strings.NewReader(blob)); err != nil {
			t.Fatal(err)
		}
	}
	if s.memory != chunkSize || len(s.blobs) != 2 {
		t.Errorf("memory %d bytes, %d blobs; want one chunk, 2 blobs", s.memory, len(s.blobs))
	}
	spills, _ := os.ReadDir(s.dir)
	if len(spills) != 1 {
		t.Errorf("%d spilled files for one blob", len(spills))
	}
}
