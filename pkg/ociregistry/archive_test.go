package ociregistry_test

import (
	"github.com/packyard/packyard/internal/testfs"

	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"

	"github.com/packyard/packyard/internal/testregistry"
	"github.com/packyard/packyard/pkg/mediatypes"
	"github.com/packyard/packyard/pkg/ocilayout"
	"github.com/packyard/packyard/pkg/ociregistry"
	"github.com/packyard/packyard/pkg/packer"
)

// extract writes a tar into a new folder, as `tar -xf` would.
func extract(t *testing.T, data []byte) string {
	t.Helper()
	dir := t.TempDir()
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return dir
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(hdr.Name))
		if hdr.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func refNames(t *testing.T, l *ocilayout.Layout) []string {
	t.Helper()
	var names []string
	for _, m := range l.Manifests() {
		names = append(names, m.Annotations[ocispec.AnnotationRefName])
	}
	slices.Sort(names)
	return names
}

func TestExportImportRoundTrip(t *testing.T) {
	regA, regB := testregistry.New(t), testregistry.New(t)
	c := newClient(t)
	src := mustLocation(t, regA.Host+"/team")
	dst := mustLocation(t, regB.Host+"/site")
	ctx := t.Context()
	kwDir, huDir := "../../testdata/packs/kubewatch-3.5.0", "../../testdata/packs/hello-universe-1.3.1"
	kw := mustPush(t, c, kwDir, src, "")
	_ = mustPush(t, c, huDir, src, "")
	_ = mustPush(t, c, withVersion(t, huDir, "1.3.1", "1.2.0"), src, "")
	legacy := pushPaletteByHand(t, src, c, "legacy-pack", "2.0.0")

	refs := make([]ociregistry.PackRef, 0, 4)
	for _, s := range []string{"kubewatch:3.5.0", "hello-universe", "legacy-pack", "kubewatch"} {
		r, err := ociregistry.ParsePackRef(s)
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, r)
	}
	var buf bytes.Buffer
	if err := c.Export(ctx, src, refs, &buf); err != nil {
		t.Fatal(err)
	}

	// The archive is an OCI image layout: unique, annotated tags.
	layoutDir := extract(t, buf.Bytes())
	l, err := ocilayout.Open(layoutDir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"hello-universe-1.3.1", "hello-universe-1.3.1-palette", "kubewatch-3.5.0", "kubewatch-3.5.0-palette", "legacy-pack-2.0.0-palette"}
	if got := refNames(t, l); !slices.Equal(got, want) {
		t.Errorf("ref names %v, want %v", got, want)
	}
	for _, m := range l.Manifests() {
		a := m.Annotations
		if a[mediatypes.AnnotationEncoding] == "" || a[mediatypes.AnnotationPackName] == "" || a[mediatypes.AnnotationPackVersion] == "" {
			t.Errorf("index entry %s lacks the pack annotations: %v", m.Digest, a)
		}
		if a[ocispec.AnnotationRefName] == "legacy-pack-2.0.0-palette" && m.Digest != legacy.Digest {
			t.Errorf("legacy-pack entry %s, want %s", m.Digest, legacy.Digest)
		}
	}

	// pack unpack reads the extracted layout.
	desc, err := packer.ResolveInLayout(ctx, l, "kubewatch-3.5.0", "")
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != artifactDigest(t, kw, mediatypes.EncodingNative) {
		t.Errorf("layout tag kubewatch-3.5.0 is %s", desc.Digest)
	}
	out := filepath.Join(t.TempDir(), "unpacked")
	if _, err := packer.Unpack(ctx, l, desc, out, packer.UnpackOptions{}); err != nil {
		t.Fatal(err)
	}
	testfs.SameTree(t, kwDir, out)

	// Import into another registry, then pull.
	results, err := c.Import(ctx, bytes.NewReader(buf.Bytes()), dst, ociregistry.PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range results {
		for _, a := range r.Artifacts {
			got = append(got, r.Name+":"+r.Version+" "+a.Encoding+" "+string(a.Status))
		}
		if r.Source != "" {
			t.Errorf("result source %q, want empty", r.Source)
		}
	}
	slices.Sort(got)
	wantPushed := []string{"hello-universe:1.3.1 native pushed", "hello-universe:1.3.1 palette pushed",
		"kubewatch:3.5.0 native pushed", "kubewatch:3.5.0 palette pushed", "legacy-pack:2.0.0 palette pushed"}
	if !slices.Equal(got, wantPushed) {
		t.Errorf("imported %v, want %v", got, wantPushed)
	}
	for _, p := range []struct{ ref, dir string }{{"kubewatch:3.5.0", kwDir}, {"hello-universe:1.3.1", huDir}} {
		for _, enc := range []string{mediatypes.EncodingNative, mediatypes.EncodingPalette} {
			ref, _ := ociregistry.ParsePackRef(p.ref)
			out := filepath.Join(t.TempDir(), "pulled")
			if _, _, err := c.Pull(ctx, dst, ref, out, ociregistry.PullOptions{Encoding: enc}); err != nil {
				t.Fatalf("pull %s %s: %v", p.ref, enc, err)
			}
			testfs.SameTree(t, p.dir, out)
		}
	}
	// hello-universe 1.2.0 was not exported.
	old, _ := ociregistry.ParsePackRef("hello-universe:1.2.0")
	if _, err := c.Resolve(ctx, dst, old, ""); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("hello-universe 1.2.0 was imported: %v", err)
	}

	// Importing again changes nothing.
	results, err = c.Import(ctx, bytes.NewReader(buf.Bytes()), dst, ociregistry.PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		for _, a := range r.Artifacts {
			if a.Status != ociregistry.StatusUnchanged {
				t.Errorf("second import of %s %s: %s", r.Name, a.Encoding, a.Status)
			}
		}
	}

	// The same packs give the same archive.
	var again bytes.Buffer
	if err := c.Export(ctx, src, refs, &again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("two exports of the same packs differ")
	}
}

// An archive of one pack version uses the tags pack build gives, so
// `pack unpack DIR` needs no tag.
func TestExportOnePack(t *testing.T) {
	reg := testregistry.New(t)
	c := newClient(t)
	loc := mustLocation(t, reg.Host)
	dir := "../../examples/hello-manifests"
	_ = mustPush(t, c, dir, loc, "")
	ref, _ := ociregistry.ParsePackRef("hello-manifests")
	var buf bytes.Buffer
	if err := c.Export(t.Context(), loc, []ociregistry.PackRef{ref}, &buf); err != nil {
		t.Fatal(err)
	}
	l, err := ocilayout.Open(extract(t, buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if got := refNames(t, l); !slices.Equal(got, []string{"1.0.0", "1.0.0-palette"}) {
		t.Errorf("ref names %v", got)
	}
	desc, err := packer.ResolveInLayout(t.Context(), l, "", mediatypes.EncodingPalette)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	if _, err := packer.Unpack(t.Context(), l, desc, out, packer.UnpackOptions{}); err != nil {
		t.Fatal(err)
	}
	testfs.SameTree(t, dir, out)

	missing, _ := ociregistry.ParsePackRef("nothing:1.0.0")
	if err := c.Export(t.Context(), loc, []ociregistry.PackRef{missing}, io.Discard); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("export of a missing pack: %v, want ErrNotFound", err)
	}
}

// tarOf builds a tar of the entries, in order.
func tarOf(t *testing.T, entries ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range entries {
		hdr := *h
		body := h.Linkname // the body rides in Linkname for regular files
		if h.Typeflag == tar.TypeReg {
			hdr.Linkname = ""
			hdr.Size = int64(len(body))
		}
		if err := tw.WriteHeader(&hdr); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func file(name, body string) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Linkname: body}
}

func TestImportRefusesBadArchives(t *testing.T) {
	reg := testregistry.New(t)
	c := newClient(t)
	loc := mustLocation(t, reg.Host)
	layout := func() *tar.Header { return file("oci-layout", `{"imageLayoutVersion":"1.0.0"}`) }
	blob := "hello"
	good := digest.FromString(blob)
	blobName := "blobs/sha256/" + good.Encoded()
	index, _ := json.Marshal(ocispec.Index{Manifests: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageManifest, Digest: good, Size: 5}}})
	tests := []struct {
		name    string
		archive []byte
		want    error
	}{
		{"escaping name", tarOf(t, layout(), file("../evil", "x")), packer.ErrUnsafeContent},
		{"absolute name", tarOf(t, layout(), file("/etc/passwd", "x")), packer.ErrUnsafeContent},
		{"stray file", tarOf(t, layout(), file("blobs/sha256/x/y", "x")), packer.ErrUnsafeContent},
		{"symlink", tarOf(t, layout(), &tar.Header{Typeflag: tar.TypeSymlink, Name: blobName, Linkname: "/etc/passwd"}), packer.ErrUnsafeContent},
		{"name not a digest", tarOf(t, layout(), file("blobs/sha256/abc", "x")), packer.ErrUnsafeContent},
		{"digest mismatch", tarOf(t, layout(), file(blobName, "not hello")), packer.ErrUnsafeContent},
		{"two indexes", tarOf(t, layout(), file("index.json", string(index)), file("index.json", string(index))), packer.ErrUnsafeContent},
		{"no index", tarOf(t, layout(), file(blobName, blob)), errdef.ErrNotFound},
		{"index names a missing manifest", tarOf(t, layout(), file("index.json", string(index))), errdef.ErrNotFound},
		{"no pack in the index", tarOf(t, layout(), file(blobName, blob), file("index.json", string(index))), errdef.ErrNotFound},
		{"huge oci-layout", tarOf(t, file("oci-layout", strings.Repeat(" ", 5000))), packer.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Import(t.Context(), bytes.NewReader(tt.archive), loc, ociregistry.PushOptions{})
			if !errors.Is(err, tt.want) {
				t.Errorf("import: %v, want %v", err, tt.want)
			}
		})
	}
}
