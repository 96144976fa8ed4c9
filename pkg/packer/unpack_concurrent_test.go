package packer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"

	"github.com/packyard/packyard/internal/testtar"
	"github.com/packyard/packyard/pkg/mediatypes"
)

// ccFetcher serves the blobs of a store and records how many layer fetches
// (anything but manifests) are in flight at once: from Fetch until the
// body is closed. With gate set, each layer fetch waits, before it is
// served, until gate fetches are in flight together, then the gate stays
// open; after wait without that, it fails, or with pass set goes on.
type ccFetcher struct {
	content.Fetcher
	gate int
	wait time.Duration
	pass bool
	// before, when set, runs before a layer is served; an error fails the
	// fetch.
	before func(ctx context.Context, desc ocispec.Descriptor) error
	// closed, when set, runs when a layer's body is closed.
	closed func(desc ocispec.Descriptor)

	mu                sync.Mutex
	open              chan struct{}
	opened            bool
	fetches, inFlight int
	maxInFlight       int
	bytes, maxBytes   int64
	fetched           []digest.Digest
	stageSeen         []string
}

func newCCFetcher(f content.Fetcher, gate int) *ccFetcher {
	return &ccFetcher{Fetcher: f, gate: gate, wait: 10 * time.Second, open: make(chan struct{})}
}

func (f *ccFetcher) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if desc.MediaType == ocispec.MediaTypeImageManifest {
		return f.Fetcher.Fetch(ctx, desc)
	}
	f.mu.Lock()
	f.fetches++
	f.fetched = append(f.fetched, desc.Digest)
	f.inFlight++
	f.bytes += desc.Size
	f.maxInFlight = max(f.maxInFlight, f.inFlight)
	f.maxBytes = max(f.maxBytes, f.bytes)
	if f.gate > 0 && !f.opened && f.inFlight >= f.gate {
		f.opened = true
		close(f.open)
	}
	f.mu.Unlock()
	done := sync.OnceFunc(func() {
		f.mu.Lock()
		f.inFlight--
		f.bytes -= desc.Size
		f.mu.Unlock()
		if f.closed != nil {
			f.closed(desc)
		}
	})
	if f.gate > 0 {
		select {
		case <-f.open:
		case <-ctx.Done():
			done()
			return nil, ctx.Err()
		case <-time.After(f.wait):
			if !f.pass {
				f.mu.Lock()
				n := f.inFlight
				f.mu.Unlock()
				done()
				return nil, fmt.Errorf("test fetcher: %d fetches in flight together after %v, want %d", n, f.wait, f.gate)
			}
		}
	}
	if f.before != nil {
		if err := f.before(ctx, desc); err != nil {
			done()
			return nil, err
		}
	}
	rc, err := f.Fetcher.Fetch(ctx, desc)
	if err != nil {
		done()
		return nil, err
	}
	return ccBody{rc, done}, nil
}

type ccBody struct {
	io.ReadCloser
	done func()
}

func (b ccBody) Close() error {
	err := b.ReadCloser.Close()
	b.done()
	return err
}

func (f *ccFetcher) stats() (fetches, maxInFlight, inFlight int, maxBytes int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fetches, f.maxInFlight, f.inFlight, f.maxBytes
}

// ccStageDirs lists the staging folders in dir. It runs in fetches, off
// the test's goroutine, so it does not fail the test itself.
func ccStageDirs(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var out []string
	for _, e := range entries {
		if strings.Contains(e.Name(), ".stage-") {
			out = append(out, e.Name())
		}
	}
	return out
}

// ccNative stores a native pack of pack.json, n chart-like single-file
// layers of size bytes and a folder layer, and returns its manifest and
// the content each file must have.
func ccNative(t testing.TB, s *memory.Store, n, size int) (ocispec.Descriptor, map[string]string) {
	t.Helper()
	want := map[string]string{PackJSONFile: upPackJSON, "docs/a.txt": "a", "docs/sub/b.txt": "b"}
	var layers []ocispec.Descriptor
	for i := range n {
		rel := fmt.Sprintf("charts/c%02d-1.0.0.tgz", i)
		body := strings.Repeat(string(rune('a'+i%26)), size)
		want[rel] = body
		layers = append(layers, upPush(t, s, mediatypes.PackChart, []byte(body), map[string]string{ocispec.AnnotationTitle: rel}))
	}
	layers = append(layers, upFolder(t, s, "docs", testtar.Dir("docs/"), testtar.File("docs/a.txt", "a"), testtar.Dir("docs/sub/"), testtar.File("docs/sub/b.txt", "b")))
	return upNative(t, s, layers...), want
}

func ccCheckFiles(t testing.TB, dir string, want map[string]string) {
	t.Helper()
	for rel, body := range want {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil || string(got) != body {
			t.Errorf("%s: %d bytes, %v; want %d bytes", rel, len(got), err, len(body))
		}
	}
}

// Layers of a native pack are fetched concurrently, never more at once
// than Concurrency (by default DefaultUnpackConcurrency), and each once.
func TestUnpackNativeFetchesConcurrently(t *testing.T) {
	for _, tc := range []struct{ concurrency, want int }{
		{0, DefaultUnpackConcurrency},
		{3, 3},
		{1, 1},
	} {
		t.Run(fmt.Sprint(tc.concurrency), func(t *testing.T) {
			e := upNewEnv(t)
			s := memory.New()
			desc, want := ccNative(t, s, 8, 64<<10)
			f := newCCFetcher(s, tc.want)
			f.before = func(ctx context.Context, desc ocispec.Descriptor) error {
				f.mu.Lock()
				f.stageSeen = append(f.stageSeen, ccStageDirs(e.parent)...)
				f.mu.Unlock()
				return nil
			}
			res, err := Unpack(t.Context(), f, desc, e.target, UnpackOptions{Concurrency: tc.concurrency})
			if err != nil {
				t.Fatal(err)
			}
			fetches, maxInFlight, inFlight, _ := f.stats()
			if maxInFlight != tc.want {
				t.Errorf("%d layer fetches in flight at most, want %d", maxInFlight, tc.want)
			}
			m := upGetManifest(t, s, desc)
			if fetches != len(m.Layers) {
				t.Errorf("%d layer fetches for %d layers", fetches, len(m.Layers))
			}
			if inFlight != 0 {
				t.Errorf("%d fetches still open after Unpack returned", inFlight)
			}
			if len(f.stageSeen) == 0 {
				t.Errorf("no staging folder beside the target while fetching")
			}
			ccCheckFiles(t, e.target, want)
			if res.Files != len(want) {
				t.Errorf("result says %d files, want %d", res.Files, len(want))
			}
			if names := btDirNames(t, e.parent); !slices.Equal(names, []string{"out", "sentinel"}) {
				t.Errorf("the parent holds %q after the unpack", names)
			}
			// Files are created as file creates them: 0644 less the umask.
			ref := filepath.Join(t.TempDir(), "ref")
			rf, err := os.OpenFile(ref, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			rf.Close()
			refSt, err := os.Stat(ref)
			if err != nil {
				t.Fatal(err)
			}
			for _, rel := range []string{"charts/c00-1.0.0.tgz", PackJSONFile} {
				if st, err := os.Stat(filepath.Join(e.target, filepath.FromSlash(rel))); err != nil || st.Mode() != refSt.Mode() {
					t.Errorf("%s: mode %v, %v; want %v", rel, st.Mode(), err, refSt.Mode())
				}
			}
		})
	}
}

// A layer whose content does not match its digest fails the unpack with
// an *UnsafeEntryError naming it, while other layers are in flight, and
// leaves neither the staging folder nor the unpack folder behind, nor any
// fetch running.
func TestUnpackNativeFailedFetchLeavesNothing(t *testing.T) {
	for _, force := range []bool{false, true} {
		t.Run(fmt.Sprint("force=", force), func(t *testing.T) {
			e := upNewEnv(t)
			var keep map[string]btEntry
			if force {
				keep = map[string]btEntry{"old.txt": {kind: "file", data: []byte("old")}}
				if err := os.MkdirAll(e.target, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(e.target, "old.txt"), []byte("old"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			s := memory.New()
			desc, _ := ccNative(t, s, 8, 256<<10)
			m := upGetManifest(t, s, desc)
			bad := m.Layers[4]
			lie := slices.Clone(btFetch(t, s, bad))
			lie[len(lie)/2] ^= 1
			after := map[digest.Digest]bool{}
			for _, l := range m.Layers[5:] {
				after[l.Digest] = true
			}
			// Every layer is in flight before any is served.
			f := newCCFetcher(upLiar{s, map[digest.Digest][]byte{bad.Digest: lie}}, len(m.Layers))
			f.before = func(ctx context.Context, desc ocispec.Descriptor) error {
				f.mu.Lock()
				f.stageSeen = append(f.stageSeen, ccStageDirs(e.parent)...)
				f.mu.Unlock()
				if !after[desc.Digest] {
					return nil
				}
				// The layers after the bad one stall until cancelled, then
				// take a moment to end: Unpack must wait for them.
				select {
				case <-ctx.Done():
					time.Sleep(50 * time.Millisecond)
					return ctx.Err()
				case <-time.After(10 * time.Second):
					return errors.New("test fetcher: a layer after the bad one was not cancelled")
				}
			}
			_, err := Unpack(t.Context(), f, desc, e.target, UnpackOptions{Concurrency: 16, Force: force})
			var ue *UnsafeEntryError
			if !errors.Is(err, ErrUnsafeContent) || !errors.As(err, &ue) || ue.Layer != bad.Annotations[ocispec.AnnotationTitle] {
				t.Fatalf("err = %v, want an UnsafeEntryError for layer %s", err, bad.Annotations[ocispec.AnnotationTitle])
			}
			if !strings.Contains(err.Error(), "does not match its descriptor") {
				t.Errorf("err = %v, want it to say the content does not match", err)
			}
			if _, maxInFlight, inFlight, _ := f.stats(); maxInFlight != len(m.Layers) || inFlight != 0 {
				t.Errorf("%d fetches in flight at most, %d still open after Unpack returned; want %d and 0", maxInFlight, inFlight, len(m.Layers))
			}
			if len(f.stageSeen) == 0 {
				t.Errorf("no staging folder beside the target while fetching")
			}
			if left := ccStageDirs(e.parent); len(left) > 0 {
				t.Errorf("staging folders left behind: %q", left)
			}
			e.checkClean(t, keep)
		})
	}
}

// The error reported is that of the first layer, in the manifest's order,
// that fails, whichever fails first in time.
func TestUnpackNativeFirstErrorInLayerOrder(t *testing.T) {
	for _, tc := range []struct {
		name string
		// make returns the layers after pack.json, the slow one, which
		// is served only once the fast one's body is closed, and the
		// fast one, which does not match its digest.
		make  func(t *testing.T, s *memory.Store) (layers []ocispec.Descriptor, slow, fast ocispec.Descriptor)
		layer string
		entry string
	}{
		{
			name: "earlier digest mismatch, detected later",
			make: func(t *testing.T, s *memory.Store) ([]ocispec.Descriptor, ocispec.Descriptor, ocispec.Descriptor) {
				a := upFile(t, s, "a.txt", "a")
				slow := upFile(t, s, "slow.txt", "slow")
				c := upFile(t, s, "c.txt", "c")
				fast := upFile(t, s, "fast.txt", "fast")
				return []ocispec.Descriptor{a, slow, c, fast}, slow, fast
			},
			layer: "slow.txt",
		},
		{
			name: "earlier duplicate, fetched after a later mismatch",
			make: func(t *testing.T, s *memory.Store) ([]ocispec.Descriptor, ocispec.Descriptor, ocispec.Descriptor) {
				docs := upFolder(t, s, "docs", testtar.Dir("docs/"), testtar.File("docs/a.txt", "one"))
				slow := upFile(t, s, "docs/a.txt", "two")
				fast := upFile(t, s, "fast.txt", "fast")
				return []ocispec.Descriptor{docs, slow, fast}, slow, fast
			},
			layer: "docs/a.txt",
			entry: "docs/a.txt",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 5 {
				e := upNewEnv(t)
				s := memory.New()
				layers, slow, fast := tc.make(t, s)
				lies := map[digest.Digest][]byte{fast.Digest: []byte("FAST")}
				if tc.entry == "" {
					lies[slow.Digest] = []byte("SLOW")
				}
				desc := upNative(t, s, layers...)
				fastClosed := make(chan struct{})
				f := newCCFetcher(upLiar{s, lies}, 0)
				f.closed = func(d ocispec.Descriptor) {
					if d.Digest == fast.Digest {
						close(fastClosed)
					}
				}
				f.before = func(ctx context.Context, d ocispec.Descriptor) error {
					if d.Digest != slow.Digest {
						return nil
					}
					select {
					case <-fastClosed:
						return nil
					case <-ctx.Done():
						return ctx.Err()
					case <-time.After(10 * time.Second):
						return errors.New("test fetcher: the fast layer was not fetched while the slow one was")
					}
				}
				_, err := Unpack(t.Context(), f, desc, e.target, UnpackOptions{Concurrency: 8})
				var ue *UnsafeEntryError
				if !errors.As(err, &ue) || ue.Layer != tc.layer || ue.Entry != tc.entry {
					t.Fatalf("err = %v, want an UnsafeEntryError for layer %q entry %q", err, tc.layer, tc.entry)
				}
				e.checkClean(t, nil)
			}
		})
	}
}

// A failed fetch cancels the fetches of the layers after it, whose
// outcome cannot matter, while the layers before it go on.
func TestUnpackNativeFailureCancelsLaterLayers(t *testing.T) {
	e := upNewEnv(t)
	s := memory.New()
	slow := upFile(t, s, "slow.txt", "slow")
	bad := upFile(t, s, "bad.txt", "bad")
	later := []ocispec.Descriptor{upFile(t, s, "later1.txt", "1"), upFile(t, s, "later2.txt", "2")}
	desc := upNative(t, s, append([]ocispec.Descriptor{slow, bad}, later...)...)
	var started, cancelled sync.WaitGroup
	var notCancelled atomic.Int32
	started.Add(len(later))
	cancelled.Add(len(later))
	laterStarted, laterCancelled := make(chan struct{}), make(chan struct{})
	go func() { started.Wait(); close(laterStarted) }()
	go func() { cancelled.Wait(); close(laterCancelled) }()
	f := newCCFetcher(upLiar{s, map[digest.Digest][]byte{bad.Digest: []byte("BAD")}}, 0)
	f.before = func(ctx context.Context, d ocispec.Descriptor) error {
		switch d.Digest {
		case bad.Digest:
			// Fail only once the later layers are in flight.
			select {
			case <-laterStarted:
				return nil
			case <-time.After(10 * time.Second):
				return errors.New("test fetcher: the layers after the bad one were not fetched with it")
			}
		case slow.Digest:
			select {
			case <-laterCancelled:
				if n := notCancelled.Load(); n > 0 {
					return fmt.Errorf("test fetcher: %d layers after the bad one were not cancelled", n)
				}
				return nil
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Second):
				return errors.New("test fetcher: the layers after the bad one were not cancelled")
			}
		case later[0].Digest, later[1].Digest:
			started.Done()
			defer cancelled.Done()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(5 * time.Second):
				notCancelled.Add(1)
				return errors.New("test fetcher: a layer after the bad one was not cancelled")
			}
		}
		return nil
	}
	_, err := Unpack(t.Context(), f, desc, e.target, UnpackOptions{Concurrency: 8})
	var ue *UnsafeEntryError
	if !errors.As(err, &ue) || ue.Layer != "bad.txt" {
		t.Fatalf("err = %v, want an UnsafeEntryError for layer bad.txt", err)
	}
	e.checkClean(t, nil)
}

// Cancelling the context while layers are being fetched stops every fetch
// promptly, reports the cancellation and leaves nothing behind.
func TestUnpackNativeCancelledMidFetch(t *testing.T) {
	e := upNewEnv(t)
	s := memory.New()
	desc, _ := ccNative(t, s, 8, 1<<20)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	f := newCCFetcher(s, 3)
	var once sync.Once
	f.before = func(fctx context.Context, d ocispec.Descriptor) error {
		// Three layers are in flight: cancel, and serve nothing more
		// until the fetch's own context ends, as a stalled registry.
		once.Do(cancel)
		<-fctx.Done()
		return fctx.Err()
	}
	done := make(chan error, 1)
	go func() {
		_, err := Unpack(ctx, f, desc, e.target, UnpackOptions{Concurrency: 3})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Unpack did not return after its context was cancelled")
	}
	if fetches, maxInFlight, inFlight, _ := f.stats(); maxInFlight != 3 || inFlight != 0 || fetches > 3 {
		t.Errorf("%d fetches, %d in flight at most, %d still open after Unpack returned; want 3, 3, 0", fetches, maxInFlight, inFlight)
	}
	e.checkClean(t, nil)
}

// What needs no content is checked before any layer is fetched, in the
// manifest's order.
func TestUnpackNativeChecksBeforeFetching(t *testing.T) {
	for _, tc := range []struct {
		name   string
		layers func(t *testing.T, s *memory.Store) []ocispec.Descriptor
		opts   UnpackOptions
		want   error
		layer  string
	}{
		{
			name: "layer without title after good ones",
			layers: func(t *testing.T, s *memory.Store) []ocispec.Descriptor {
				return []ocispec.Descriptor{upFile(t, s, "a.txt", "a"), upPush(t, s, mediatypes.PackFile, []byte("x"), nil), upFile(t, s, "../evil", "x")}
			},
			want: ErrUnsafeContent, layer: "#2 (sha256:",
		},
		{
			name: "title out of the target",
			layers: func(t *testing.T, s *memory.Store) []ocispec.Descriptor {
				return []ocispec.Descriptor{upFile(t, s, "a.txt", "a"), upFile(t, s, "../evil", "x")}
			},
			want: ErrUnsafeContent, layer: "../evil",
		},
		{
			name: "folder layer with an invalid content digest",
			layers: func(t *testing.T, s *memory.Store) []ocispec.Descriptor {
				l := upFolder(t, s, "files", testtar.Dir("files/"), testtar.File("files/a", "x"))
				l.Annotations[mediatypes.AnnotationContentDigest] = "sha256:xyz"
				return []ocispec.Descriptor{upFile(t, s, "a.txt", "a"), l}
			},
			want: ErrUnsafeContent, layer: "files",
		},
		{
			name: "negative size",
			layers: func(t *testing.T, s *memory.Store) []ocispec.Descriptor {
				l := upFile(t, s, "b.txt", "b")
				l.Size = -1
				return []ocispec.Descriptor{upFile(t, s, "a.txt", "a"), l}
			},
			want: ErrUnsafeContent, layer: "b.txt",
		},
		{
			name: "one layer past the size",
			layers: func(t *testing.T, s *memory.Store) []ocispec.Descriptor {
				return []ocispec.Descriptor{upFile(t, s, "a.txt", "a"), upFile(t, s, "big.bin", strings.Repeat("x", 2048))}
			},
			opts: UnpackOptions{MaxSize: 1024}, want: ErrTooLarge,
		},
		{
			name: "single-file layers together past the size",
			layers: func(t *testing.T, s *memory.Store) []ocispec.Descriptor {
				return []ocispec.Descriptor{
					upFile(t, s, "a.bin", strings.Repeat("a", 400)),
					upFile(t, s, "b.bin", strings.Repeat("b", 400)),
					upFile(t, s, "c.bin", strings.Repeat("c", 400)),
				}
			},
			opts: UnpackOptions{MaxSize: 1024}, want: ErrTooLarge,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := upNewEnv(t)
			s := memory.New()
			desc := upNative(t, s, tc.layers(t, s)...)
			f := newCCFetcher(s, 0)
			_, err := Unpack(t.Context(), f, desc, e.target, tc.opts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.layer != "" {
				var ue *UnsafeEntryError
				if !errors.As(err, &ue) || !strings.HasPrefix(ue.Layer, tc.layer) {
					t.Errorf("err = %v, want an UnsafeEntryError for layer %q…", err, tc.layer)
				}
			}
			if fetches, _, _, _ := f.stats(); fetches != 0 {
				t.Errorf("%d layers fetched before the error; want none", fetches)
			}
			e.checkClean(t, nil)
		})
	}
}

// Layers fetched but not unpacked yet never take more than the byte
// budget together, even when each fits it: a pack of many large folder
// layers cannot fill the disk before their content is checked.
func TestUnpackNativeStagingWithinBudget(t *testing.T) {
	s := memory.New()
	var layers []ocispec.Descriptor
	var total int64
	for i := range 4 {
		name := fmt.Sprintf("d%d", i)
		// A plain tar of a folder and an empty file: 2 KiB of layer for
		// no content.
		data := testtar.Tar(t, testtar.Dir(name+"/"), testtar.File(name+"/empty", ""))
		l := upPush(t, s, mediatypes.PackFiles, data, map[string]string{
			ocispec.AnnotationTitle:            name,
			mediatypes.AnnotationContentUnpack: "true",
			mediatypes.AnnotationContentDigest: digest.FromBytes(data).String(),
		})
		layers = append(layers, l)
		total += l.Size
	}
	desc := upNative(t, s, layers...)
	budget := total / 2
	if layers[0].Size*2 > budget {
		t.Fatalf("layers of %d bytes: two do not fit %d", layers[0].Size, budget)
	}
	m := upGetManifest(t, s, desc)
	for _, tc := range []struct {
		name    string
		maxSize int64
	}{
		// Without the tight budget, every layer is in flight at once: the
		// fetcher would see the budget broken.
		{"control", 0},
		{"budget", budget},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := upNewEnv(t)
			// Each fetch waits a moment for all the others.
			f := newCCFetcher(s, len(m.Layers))
			f.wait, f.pass = 100*time.Millisecond, true
			if _, err := Unpack(t.Context(), f, desc, e.target, UnpackOptions{Concurrency: 8, MaxSize: tc.maxSize}); err != nil {
				t.Fatal(err)
			}
			_, _, _, maxBytes := f.stats()
			switch {
			case tc.maxSize == 0 && maxBytes <= budget:
				t.Errorf("control: at most %d bytes of layers in flight at once, want more than %d", maxBytes, budget)
			case tc.maxSize != 0 && maxBytes > tc.maxSize:
				t.Errorf("%d bytes of layers in flight at once, past the %d-byte budget", maxBytes, tc.maxSize)
			}
			for i := range 4 {
				if _, err := os.Stat(filepath.Join(e.target, fmt.Sprintf("d%d", i), "empty")); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// A single-file layer served shorter than its descriptor is unsafe
// content, like any other mismatch.
func TestUnpackNativeFileShorterThanDescriptor(t *testing.T) {
	e := upNewEnv(t)
	s := memory.New()
	v := upFile(t, s, "values.yaml", "a: 1\nb: 2\n")
	desc := upNative(t, s, v)
	_, err := Unpack(t.Context(), upLiar{s, map[digest.Digest][]byte{v.Digest: []byte("a: 1\n")}}, desc, e.target, UnpackOptions{})
	var ue *UnsafeEntryError
	if !errors.Is(err, ErrUnsafeContent) || !errors.As(err, &ue) || ue.Layer != "values.yaml" {
		t.Fatalf("err = %v, want an UnsafeEntryError for layer values.yaml", err)
	}
	e.checkClean(t, nil)
}

// A single-file layer counts against the byte budget with what the folder
// layers before it unpacked to, which the checks before fetching cannot
// know.
func TestUnpackNativeFileAfterFolderPastBudget(t *testing.T) {
	e := upNewEnv(t)
	s := memory.New()
	desc := upNative(t, s,
		upFolder(t, s, "docs", testtar.Dir("docs/"), testtar.File("docs/big.txt", strings.Repeat("d", 700))),
		upFile(t, s, "file.bin", strings.Repeat("f", 400)))
	_, err := Unpack(t.Context(), s, desc, e.target, UnpackOptions{MaxSize: 1024})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "file.bin") {
		t.Fatalf("err = %v, want ErrTooLarge at file.bin", err)
	}
	e.checkClean(t, nil)
	// The same pack fits a budget of its size.
	res, err := Unpack(t.Context(), s, desc, e.target, UnpackOptions{MaxSize: 1100 + int64(len(upPackJSON))})
	if err != nil {
		t.Fatal(err)
	}
	if res.Bytes != 1100+int64(len(upPackJSON)) {
		t.Errorf("result says %d bytes, want %d", res.Bytes, 1100+len(upPackJSON))
	}
}
