package ocilayout_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/content/oci"
	"oras.land/oras-go/v2/errdef"

	"github.com/packyard/packyard/pkg/ocilayout"
	"github.com/packyard/packyard/pkg/packer"
)

func newLayout(t *testing.T) *ocilayout.Layout {
	t.Helper()
	l, err := ocilayout.Create(filepath.Join(t.TempDir(), "layout"))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// blobFiles lists the files of blobs/sha256, temporary ones included.
func blobFiles(t *testing.T, l *ocilayout.Layout) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(l.Root(), "blobs", "sha256"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func descOf(mediaType string, data []byte) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
}

// pushManifest stores a small image manifest and returns its descriptor.
func pushManifest(t *testing.T, l *ocilayout.Layout, n int) ocispec.Descriptor {
	t.Helper()
	cfg, err := l.PushBytes(t.Context(), ocispec.MediaTypeEmptyJSON, []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	layer, err := l.PushBytes(t.Context(), "text/plain", fmt.Appendf(nil, "layer %d", n))
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: cfg, Layers: []ocispec.Descriptor{layer},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := l.PushBytes(t.Context(), ocispec.MediaTypeImageManifest, data)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestCreateOpen(t *testing.T) {
	root := filepath.Join(t.TempDir(), "a", "b", "layout")
	l, err := ocilayout.Create(root)
	if err != nil {
		t.Fatal(err)
	}
	if l.Root() != root {
		t.Errorf("Root() = %q", l.Root())
	}
	lay, err := os.ReadFile(filepath.Join(root, "oci-layout"))
	if err != nil || string(lay) != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout = %q, %v", lay, err)
	}
	idx, err := os.ReadFile(filepath.Join(root, "index.json"))
	if err != nil || string(idx) != `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}` {
		t.Errorf("index.json = %q, %v", idx, err)
	}
	if st, err := os.Stat(filepath.Join(root, "blobs")); err != nil || !st.IsDir() {
		t.Errorf("blobs folder: %v", err)
	}
	if m := l.Manifests(); m == nil || len(m) != 0 {
		t.Errorf("Manifests() = %#v, want empty", m)
	}

	d := pushManifest(t, l, 1)
	if err := l.Tag(t.Context(), d, "v1"); err != nil {
		t.Fatal(err)
	}
	for name, open := range map[string]func(string) (*ocilayout.Layout, error){"Open": ocilayout.Open, "Create": ocilayout.Create} {
		l2, err := open(root)
		if err != nil {
			t.Fatalf("%s of an existing layout: %v", name, err)
		}
		got, err := l2.Resolve(t.Context(), "v1")
		if err != nil || got.Digest != d.Digest {
			t.Errorf("%s: Resolve(v1) = %s, %v", name, got.Digest, err)
		}
	}

	// A layout of a version we do not know is refused.
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "oci-layout"), []byte(`{"imageLayoutVersion":"2.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, "index.json"), []byte(`{"schemaVersion":2,"manifests":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ocilayout.Open(other); err == nil || errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("Open of a layout version 2.0.0: err = %v, want a version error", err)
	}
}

func TestOpenNotLayout(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.json"), []byte(`{"schemaVersion":2,"manifests":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ocilayout.Open(dir); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("Open of a folder without oci-layout: err = %v, want ErrNotFound", err)
	}
	if _, err := ocilayout.Open(filepath.Join(dir, "missing")); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("Open of a missing folder: err = %v, want ErrNotFound", err)
	}
}

func TestOpenCorruptIndex(t *testing.T) {
	l := newLayout(t)
	idx := filepath.Join(l.Root(), "index.json")

	if err := os.WriteFile(idx, []byte(`{"schemaVersion":2,"manifests":[`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ocilayout.Open(l.Root())
	var syn *json.SyntaxError
	if !errors.As(err, &syn) {
		t.Errorf("truncated index.json: err = %v, want a *json.SyntaxError", err)
	}

	if err := os.WriteFile(idx, []byte(`{"schemaVersion":2,"manifests":{"not":"a list"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = ocilayout.Open(l.Root())
	var typ *json.UnmarshalTypeError
	if !errors.As(err, &typ) {
		t.Errorf("index.json of the wrong shape: err = %v, want a *json.UnmarshalTypeError", err)
	}

	if err := os.WriteFile(idx, []byte(`{"schemaVersion":2,"manifests":[{"mediaType":"x","digest":"../../etc/passwd","size":1}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ocilayout.Open(l.Root()); !errors.Is(err, digest.ErrDigestInvalidFormat) {
		t.Errorf("index.json with a bad digest: err = %v, want ErrDigestInvalidFormat", err)
	}

	if err := os.Remove(idx); err != nil {
		t.Fatal(err)
	}
	if _, err := ocilayout.Open(l.Root()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("layout without index.json: err = %v, want ErrNotExist", err)
	}
}

func TestIngest(t *testing.T) {
	l := newLayout(t)
	data := bytes.Repeat([]byte("packyard "), 300_000) // past the copy buffer
	desc, err := l.Ingest(t.Context(), "application/x-test", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	want := descOf("application/x-test", data)
	if desc.MediaType != want.MediaType || desc.Digest != want.Digest || desc.Size != want.Size || desc.Annotations != nil {
		t.Errorf("Ingest = %+v, want %+v", desc, want)
	}
	p, err := l.BlobPath(desc.Digest)
	if err != nil || p != filepath.Join(l.Root(), "blobs", "sha256", desc.Digest.Encoded()) {
		t.Errorf("BlobPath = %q, %v", p, err)
	}
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o644 || st.Size() != int64(len(data)) {
		t.Errorf("blob file %v, %v", st, err)
	}
	if names := blobFiles(t, l); !slices.Equal(names, []string{desc.Digest.Encoded()}) {
		t.Errorf("blobs/sha256 holds %q", names)
	}
	if ok, err := l.Exists(t.Context(), desc); !ok || err != nil {
		t.Errorf("Exists = %v, %v", ok, err)
	}
	got, err := content.FetchAll(t.Context(), l, desc)
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("Fetch returned %d bytes, %v", len(got), err)
	}

	// Ingesting the same content again is fine and leaves one file.
	if again, err := l.Ingest(t.Context(), "application/x-test", bytes.NewReader(data)); err != nil || again.Digest != desc.Digest {
		t.Errorf("second Ingest = %v, %v", again.Digest, err)
	}
	if names := blobFiles(t, l); len(names) != 1 {
		t.Errorf("blobs/sha256 holds %q", names)
	}

	// A failing reader stores nothing.
	boom := errors.New("boom")
	if _, err := l.Ingest(t.Context(), "x", io.MultiReader(strings.NewReader("partial"), errReader{boom})); !errors.Is(err, boom) {
		t.Errorf("failing reader: err = %v", err)
	}
	// So does a cancelled context.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := l.Ingest(ctx, "x", strings.NewReader("never")); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
	if names := blobFiles(t, l); len(names) != 1 {
		t.Errorf("failed ingests left %q", names)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestPush(t *testing.T) {
	ctx := t.Context()
	good := []byte("good content")
	expected := descOf("text/plain", good)
	for _, tc := range []struct {
		name    string
		content string
	}{
		{"different", "evil content"},
		{"too long", "good content and more"},
		{"one byte more", "good content!"},
		{"too short", "good"},
		{"empty", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLayout(t)
			err := l.Push(ctx, expected, strings.NewReader(tc.content))
			if !errors.Is(err, errdef.ErrInvalidDigest) {
				t.Fatalf("err = %v, want ErrInvalidDigest", err)
			}
			for _, d := range []ocispec.Descriptor{expected, descOf("text/plain", []byte(tc.content)), descOf("text/plain", []byte(tc.content)[:min(len(tc.content), len(good)+1)])} {
				if ok, err := l.Exists(ctx, d); ok || err != nil {
					t.Errorf("blob %s stored after a failed push (%v)", d.Digest, err)
				}
			}
			if names := blobFiles(t, l); len(names) != 0 {
				t.Errorf("blobs/sha256 holds %q after a failed push", names)
			}
		})
	}

	l := newLayout(t)
	if err := l.Push(ctx, expected, bytes.NewReader(good)); err != nil {
		t.Fatal(err)
	}
	if got, err := content.FetchAll(ctx, l, expected); err != nil || !bytes.Equal(got, good) {
		t.Errorf("pushed blob: %q, %v", got, err)
	}
	if names := blobFiles(t, l); !slices.Equal(names, []string{expected.Digest.Encoded()}) {
		t.Errorf("blobs/sha256 holds %q", names)
	}

	// An unknown algorithm is unsupported, a malformed digest invalid.
	odd := expected
	odd.Digest = "md5:0123456789abcdef0123456789abcdef"
	if err := l.Push(ctx, odd, bytes.NewReader(good)); !errors.Is(err, errdef.ErrUnsupported) {
		t.Errorf("md5 digest: err = %v, want ErrUnsupported", err)
	}
	bad := expected
	bad.Digest = "sha256:../../../escape"
	if err := l.Push(ctx, bad, bytes.NewReader(good)); !errors.Is(err, errdef.ErrInvalidDigest) {
		t.Errorf("malformed digest: err = %v, want ErrInvalidDigest", err)
	}
	if names := blobFiles(t, l); len(names) != 1 {
		t.Errorf("blobs/sha256 holds %q", names)
	}
}

func TestFetch(t *testing.T) {
	l := newLayout(t)
	missing := descOf("text/plain", []byte("missing"))
	if _, err := l.Fetch(t.Context(), missing); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("Fetch of a missing blob: err = %v, want ErrNotFound", err)
	}
	if ok, err := l.Exists(t.Context(), missing); ok || err != nil {
		t.Errorf("Exists of a missing blob = %v, %v", ok, err)
	}
	bad := missing
	bad.Digest = "sha256:../../oci-layout"
	if _, err := l.Fetch(t.Context(), bad); !errors.Is(err, errdef.ErrInvalidDigest) {
		t.Errorf("Fetch of a malformed digest: err = %v, want ErrInvalidDigest", err)
	}
	if _, err := l.Exists(t.Context(), bad); !errors.Is(err, errdef.ErrInvalidDigest) {
		t.Errorf("Exists of a malformed digest: err = %v, want ErrInvalidDigest", err)
	}
}

func TestResolveAndTag(t *testing.T) {
	ctx := t.Context()
	l := newLayout(t)
	m1, m2, m3, m4 := pushManifest(t, l, 1), pushManifest(t, l, 2), pushManifest(t, l, 3), pushManifest(t, l, 4)
	m1.Annotations = map[string]string{"io.example.kept": "yes"}
	for _, tc := range []struct {
		d   ocispec.Descriptor
		tag string
	}{{m1, "a"}, {m2, "b"}, {m3, "c"}} {
		if err := l.Tag(ctx, tc.d, tc.tag); err != nil {
			t.Fatal(err)
		}
	}

	// By tag: the ref.name annotation is dropped, others kept.
	got, err := l.Resolve(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != m1.Digest || got.Size != m1.Size || got.MediaType != ocispec.MediaTypeImageManifest ||
		len(got.Annotations) != 1 || got.Annotations["io.example.kept"] != "yes" {
		t.Errorf("Resolve(a) = %+v", got)
	}
	if got, err := l.Resolve(ctx, "b"); err != nil || got.Digest != m2.Digest || got.Annotations != nil {
		t.Errorf("Resolve(b) = %+v, %v", got, err)
	}
	// By digest.
	if got, err := l.Resolve(ctx, m3.Digest.String()); err != nil || got.Digest != m3.Digest || got.Size != m3.Size {
		t.Errorf("Resolve(digest) = %+v, %v", got, err)
	}
	if _, err := l.Resolve(ctx, "nope"); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("Resolve(nope): err = %v, want ErrNotFound", err)
	}
	// A blob that is in the layout but not in the index does not resolve.
	if _, err := l.Resolve(ctx, m4.Digest.String()); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("Resolve(untagged digest): err = %v, want ErrNotFound", err)
	}

	// Tagging "b" again replaces its entry in place.
	if err := l.Tag(ctx, m4, "b"); err != nil {
		t.Fatal(err)
	}
	wantOrder := []struct {
		tag string
		d   digest.Digest
	}{{"a", m1.Digest}, {"b", m4.Digest}, {"c", m3.Digest}}
	check := func(label string, entries []ocispec.Descriptor) {
		t.Helper()
		if len(entries) != len(wantOrder) {
			t.Fatalf("%s: %d entries, want %d: %+v", label, len(entries), len(wantOrder), entries)
		}
		for i, w := range wantOrder {
			if entries[i].Annotations[ocispec.AnnotationRefName] != w.tag || entries[i].Digest != w.d {
				t.Errorf("%s: entry %d = %s %s, want %s %s", label, i, entries[i].Annotations[ocispec.AnnotationRefName], entries[i].Digest, w.tag, w.d)
			}
		}
	}
	check("in memory", l.Manifests())
	reopened, err := ocilayout.Open(l.Root())
	if err != nil {
		t.Fatal(err)
	}
	check("on disk", reopened.Manifests())
	if got, err := reopened.Resolve(ctx, "b"); err != nil || got.Digest != m4.Digest {
		t.Errorf("Resolve(b) after retagging = %s, %v", got.Digest, err)
	}
	// Manifests returns a copy.
	entries := l.Manifests()
	entries[0].Digest = "sha256:changed"
	check("after changing a copy", l.Manifests())

	// Tagging a manifest that is not there fails and changes nothing.
	before, _ := os.ReadFile(filepath.Join(l.Root(), "index.json"))
	ghost := descOf(ocispec.MediaTypeImageManifest, []byte(`{"ghost":true}`))
	if err := l.Tag(ctx, ghost, "ghost"); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("Tag of a missing manifest: err = %v, want ErrNotFound", err)
	}
	if err := l.Tag(ctx, m1, ""); !errors.Is(err, errdef.ErrMissingReference) {
		t.Errorf("Tag with no reference: err = %v, want ErrMissingReference", err)
	}
	if after, _ := os.ReadFile(filepath.Join(l.Root(), "index.json")); !bytes.Equal(before, after) {
		t.Errorf("a failed Tag changed index.json")
	}
	if _, err := l.Resolve(ctx, "ghost"); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("Resolve(ghost): err = %v, want ErrNotFound", err)
	}
	// No temporary files are left beside index.json.
	names, _ := os.ReadDir(l.Root())
	var got2 []string
	for _, n := range names {
		got2 = append(got2, n.Name())
	}
	if !slices.Equal(got2, []string{"blobs", "index.json", "oci-layout"}) {
		t.Errorf("layout root holds %q", got2)
	}
}

func TestTagConcurrent(t *testing.T) {
	l := newLayout(t)
	d := pushManifest(t, l, 1)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Go(func() {
			if err := l.Tag(t.Context(), d, fmt.Sprintf("t%02d", i)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	reopened, err := ocilayout.Open(l.Root())
	if err != nil {
		t.Fatal(err)
	}
	var tags []string
	for _, m := range reopened.Manifests() {
		tags = append(tags, m.Annotations[ocispec.AnnotationRefName])
	}
	slices.Sort(tags)
	if len(tags) != 32 || tags[0] != "t00" || tags[31] != "t31" {
		t.Errorf("tags after concurrent tagging: %q", tags)
	}
}

// buildPack builds a test pack into a fresh layout.
func buildPack(t *testing.T) (*ocilayout.Layout, *packer.BuildResult) {
	t.Helper()
	p, err := packer.Load(t.Context(), "../../testdata/packs/kubewatch-3.5.0")
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "layout")
	res, err := packer.BuildToLayout(t.Context(), p, root, packer.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := ocilayout.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	return l, res
}

// graphBlobs lists a manifest, its config and its layers.
func graphBlobs(t *testing.T, f content.Fetcher, root ocispec.Descriptor) []ocispec.Descriptor {
	t.Helper()
	raw, err := content.FetchAll(t.Context(), f, root)
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return append([]ocispec.Descriptor{root, m.Config}, m.Layers...)
}

// sameBlobs fails unless b holds every blob of want exactly as a does.
func sameBlobs(t *testing.T, label string, a, b content.Fetcher, want []ocispec.Descriptor) {
	t.Helper()
	for _, d := range want {
		da, err := content.FetchAll(t.Context(), a, d)
		if err != nil {
			t.Fatalf("%s: source %s: %v", label, d.Digest, err)
		}
		db, err := content.FetchAll(t.Context(), b, d)
		if err != nil {
			t.Errorf("%s: %s (%s) not copied: %v", label, d.Digest, d.MediaType, err)
			continue
		}
		if !bytes.Equal(da, db) {
			t.Errorf("%s: %s differs", label, d.Digest)
		}
	}
}

func TestOrasCopyFromLayout(t *testing.T) {
	ctx := t.Context()
	l, res := buildPack(t)
	mem := memory.New()
	for _, tag := range []string{"3.5.0", "3.5.0-palette"} {
		root, err := oras.Copy(ctx, l, tag, mem, tag, oras.DefaultCopyOptions)
		if err != nil {
			t.Fatalf("oras.Copy %s: %v", tag, err)
		}
		want := res.Native.Manifest.Digest
		if tag == "3.5.0-palette" {
			want = res.Palette.Manifest.Digest
		}
		if root.Digest != want {
			t.Errorf("copied %s = %s, want %s", tag, root.Digest, want)
		}
		if got, err := mem.Resolve(ctx, tag); err != nil || got.Digest != want {
			t.Errorf("memory store resolves %s to %s, %v", tag, got.Digest, err)
		}
		blobs := graphBlobs(t, l, root)
		sameBlobs(t, tag, l, mem, blobs)
		if tag == "3.5.0" && len(blobs) != 2+len(res.Native.Layers) {
			t.Errorf("native graph has %d blobs", len(blobs))
		}
	}

	// And back, from memory into a new layout of ours.
	back, err := ocilayout.Create(filepath.Join(t.TempDir(), "back"))
	if err != nil {
		t.Fatal(err)
	}
	root, err := oras.Copy(ctx, mem, "3.5.0", back, "v-copied", oras.DefaultCopyOptions)
	if err != nil {
		t.Fatal(err)
	}
	sameBlobs(t, "back", mem, back, graphBlobs(t, mem, root))
	if got, err := back.Resolve(ctx, "v-copied"); err != nil || got.Digest != res.Native.Manifest.Digest {
		t.Errorf("copied back: %s, %v", got.Digest, err)
	}
	// The pack unpacks from the copy.
	out := filepath.Join(t.TempDir(), "out")
	ur, err := packer.Unpack(ctx, back, root, out, packer.UnpackOptions{})
	if err != nil || ur.Name != "kubewatch" || ur.Version != "3.5.0" {
		t.Errorf("unpacking the copy: %+v, %v", ur, err)
	}
}

func TestOrasReadsLayout(t *testing.T) {
	ctx := t.Context()
	l, res := buildPack(t)

	ro, err := oci.NewFromFS(ctx, os.DirFS(l.Root()))
	if err != nil {
		t.Fatalf("oci.NewFromFS: %v", err)
	}
	rw, err := oci.New(l.Root())
	if err != nil {
		t.Fatalf("oci.New: %v", err)
	}
	for name, store := range map[string]interface {
		content.Fetcher
		content.Resolver
	}{"NewFromFS": ro, "New": rw} {
		for tag, want := range map[string]ocispec.Descriptor{"3.5.0": res.Native.Manifest, "3.5.0-palette": res.Palette.Manifest} {
			got, err := store.Resolve(ctx, tag)
			if err != nil {
				t.Errorf("%s: Resolve(%s): %v", name, tag, err)
				continue
			}
			if got.Digest != want.Digest || got.Size != want.Size || got.MediaType != want.MediaType {
				t.Errorf("%s: Resolve(%s) = %+v, want %+v", name, tag, got, want)
			}
			// Every blob reads back verified.
			sameBlobs(t, name+" "+tag, l, store, graphBlobs(t, l, got))
		}
	}
	var tags []string
	if err := rw.Tags(ctx, "", func(ts []string) error { tags = append(tags, ts...); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tags, []string{"3.5.0", "3.5.0-palette"}) {
		t.Errorf("oras lists tags %q", tags)
	}

	// oras copies the layout into its own, and its index reads back in ours.
	orasRoot := filepath.Join(t.TempDir(), "oras")
	dst, err := oci.New(orasRoot)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oras.Copy(ctx, l, "3.5.0", dst, "3.5.0", oras.DefaultCopyOptions); err != nil {
		t.Fatal(err)
	}
	theirs, err := ocilayout.Open(orasRoot)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := theirs.Resolve(ctx, "3.5.0"); err != nil || got.Digest != res.Native.Manifest.Digest {
		t.Errorf("our Open of an oras layout: %s, %v", got.Digest, err)
	}
}

// Two handles on one layout, as two processes would have, tag at once:
// the folder lock keeps every tag.
func TestTagFromTwoHandles(t *testing.T) {
	root := filepath.Join(t.TempDir(), "layout")
	a, err := ocilayout.Create(root)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ocilayout.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := a.PushBytes(t.Context(), ocispec.MediaTypeImageManifest, []byte(`{"schemaVersion":2}`))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 100 {
		l := a
		if i%2 == 1 {
			l = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.Tag(t.Context(), desc, fmt.Sprintf("t%03d", i)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	fresh, err := ocilayout.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(fresh.Manifests()); n != 100 {
		t.Errorf("index.json holds %d tags, want 100", n)
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 3 {
		t.Errorf("the layout holds %d entries, want blobs, index.json and oci-layout only", len(entries))
	}
}

// An oci-layout file that never ends is refused, not read into memory.
func TestOpenEndlessLayoutFile(t *testing.T) {
	root := t.TempDir()
	if err := os.Symlink("/dev/zero", filepath.Join(root, ocispec.ImageLayoutFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := ocilayout.Open(root); err == nil {
		t.Fatal("opened a layout whose oci-layout file is /dev/zero")
	}
}

// What Manifests returns is the caller's to change.
func TestManifestsAreCopies(t *testing.T) {
	l := newLayout(t)
	desc, err := l.PushBytes(t.Context(), ocispec.MediaTypeImageManifest, []byte(`{"schemaVersion":2}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Tag(t.Context(), desc, "v1"); err != nil {
		t.Fatal(err)
	}
	m := l.Manifests()
	delete(m[0].Annotations, ocispec.AnnotationRefName)
	if _, err := l.Resolve(t.Context(), "v1"); err != nil {
		t.Errorf("changing what Manifests returned changed the layout: %v", err)
	}
}
