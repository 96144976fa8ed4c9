package ociregistry

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote/credentials"

	"github.com/packyard/packyard/internal/testregistry"
	"github.com/packyard/packyard/pkg/mediatypes"
)

// fuzzEntry is one tar entry of a hand-made seed archive.
type fuzzEntry struct {
	hdr  tar.Header
	body string
	// short leaves the body out, so the header claims bytes the archive
	// does not hold.
	short bool
}

func fuzzTar(f *testing.F, entries ...fuzzEntry) []byte {
	f.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := e.hdr
		if hdr.Typeflag == tar.TypeReg && !e.short && hdr.Size == 0 {
			hdr.Size = int64(len(e.body))
		}
		if hdr.Mode == 0 {
			hdr.Mode = 0o644
		}
		if err := tw.WriteHeader(&hdr); err != nil {
			f.Fatal(err)
		}
		if e.short {
			// The header is out; the archive ends without its body.
			_ = tw.Flush()
			return buf.Bytes()
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				f.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		f.Fatal(err)
	}
	return buf.Bytes()
}

func reg(name, body string) fuzzEntry {
	return fuzzEntry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name}, body: body}
}

// fuzzExport pushes a real pack to an in-process registry and exports it,
// the archive Import is made for.
func fuzzExport(f *testing.F, c *Client, loc Location) []byte {
	f.Helper()
	ctx := context.Background()
	if _, err := c.PushDir(ctx, "../../testdata/packs/kubewatch-3.5.0", loc, PushOptions{}); err != nil {
		f.Fatal(err)
	}
	var buf bytes.Buffer
	if err := c.Export(ctx, loc, []PackRef{{Name: "kubewatch", Version: "3.5.0"}}, &buf); err != nil {
		f.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzImport feeds hostile archives to the reader of `pack import`. It
// must never panic, never write outside its layout, never leave a partial
// blob or a temporary folder behind, and refuse entries it cannot bound.
func FuzzImport(f *testing.F) {
	registry := testregistry.New(f)
	c, err := New(Options{PlainHTTP: true, Credentials: credentials.NewMemoryStore()})
	if err != nil {
		f.Fatal(err)
	}
	loc := Location{Registry: registry.Host, Base: "fuzz"}
	export := fuzzExport(f, c, loc)
	f.Add(export)

	layoutFile := reg(ocispec.ImageLayoutFile, `{"imageLayoutVersion":"1.0.0"}`)
	blob := "hello"
	d := digest.FromString(blob)
	blobName := "blobs/sha256/" + d.Encoded()
	packIndex := func(name string) string {
		idx, _ := json.Marshal(ocispec.Index{Manifests: []ocispec.Descriptor{{
			MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: int64(len(blob)),
			Annotations: map[string]string{
				mediatypes.AnnotationEncoding:    mediatypes.EncodingNative,
				mediatypes.AnnotationPackName:    name,
				mediatypes.AnnotationPackVersion: "1.0.0",
			},
		}}})
		return string(idx)
	}
	seeds := [][]byte{
		fuzzTar(f, layoutFile, reg("../evil", "x")),
		fuzzTar(f, layoutFile, reg("blobs/../../evil", "x")),
		fuzzTar(f, layoutFile, reg("/etc/passwd", "x")),
		fuzzTar(f, layoutFile, reg(`blobs\sha256\x`, "x")),
		fuzzTar(f, layoutFile, fuzzEntry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: blobName, Linkname: "/etc/passwd"}}),
		fuzzTar(f, layoutFile, fuzzEntry{hdr: tar.Header{Typeflag: tar.TypeLink, Name: blobName, Linkname: "../../etc/passwd"}}),
		fuzzTar(f, layoutFile, fuzzEntry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: "blobs/sha256/../../../x/"}}),
		fuzzTar(f, layoutFile, fuzzEntry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: blobName, Size: MaxArchiveBlobSize + 1}, short: true}),
		fuzzTar(f, layoutFile, fuzzEntry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: blobName, Size: 1 << 40}, short: true}),
		fuzzTar(f, layoutFile, fuzzEntry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: "index.json", Size: 1 << 40}, short: true}),
		fuzzTar(f, fuzzEntry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: ocispec.ImageLayoutFile, Size: 1 << 30}, short: true}),
		fuzzTar(f, layoutFile, reg(blobName, blob), reg("index.json", packIndex("ok")), reg("index.json", packIndex("ok"))),
		fuzzTar(f, layoutFile, layoutFile, reg(blobName, blob), reg("index.json", packIndex("ok"))),
		fuzzTar(f, layoutFile, reg(blobName, "not hello"), reg("index.json", packIndex("ok"))),
		fuzzTar(f, layoutFile, reg(blobName, blob), reg("index.json", packIndex("../../escape"))),
		fuzzTar(f, layoutFile, reg(blobName, blob), reg("index.json", `{"manifests":[{"digest":"sha256:zz","size":-1}]}`)),
		fuzzTar(f, layoutFile, reg("blobs/sha512/"+strings.Repeat("0", 128), ""), reg("index.json", "{}")),
		fuzzTar(f, layoutFile, reg("blobs/md5/"+strings.Repeat("0", 32), "")),
		fuzzTar(f, layoutFile, fuzzEntry{hdr: tar.Header{Typeflag: tar.TypeChar, Name: "blobs/sha256/dev"}}),
		fuzzTar(f, layoutFile, fuzzEntry{hdr: tar.Header{Typeflag: tar.TypeFifo, Name: blobName}}),
		fuzzTar(f, layoutFile, fuzzEntry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: blobName, Size: 64,
			PAXRecords: map[string]string{"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": blobName, "GNU.sparse.realsize": "1099511627776"}},
			body: strings.Repeat("\x00", 64)}),
		export[:len(export)/2],
		{},
	}
	for _, s := range seeds {
		f.Add(s)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := t.Context()

		// The lowest level: the archive into a layout folder.
		base := t.TempDir()
		root := filepath.Join(base, "layout")
		err := readArchive(ctx, bytes.NewReader(data), root)
		if entries, rerr := os.ReadDir(base); rerr != nil || len(entries) != 1 || entries[0].Name() != "layout" {
			t.Fatalf("readArchive wrote beside its layout: %v %v", entries, rerr)
		}
		checkLayoutFiles(t, root, err == nil)

		// The whole import, with its own temporary folder.
		tmp := filepath.Join(t.TempDir(), "tmp")
		if err := os.Mkdir(tmp, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Setenv("TMPDIR", tmp)
		_, _ = c.Import(ctx, bytes.NewReader(data), loc, PushOptions{})
		if entries, err := os.ReadDir(tmp); err != nil || len(entries) != 0 {
			t.Fatalf("Import left %v in the temporary folder (%v)", entries, err)
		}
	})
}

// checkLayoutFiles fails when the layout holds anything but its own files
// and whole blobs named by their digests.
func checkLayoutFiles(t *testing.T, root string, complete bool) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if de.Type()&fs.ModeSymlink != 0 || !de.Type().IsRegular() && !de.IsDir() {
			t.Errorf("%s: not a file or folder (%v)", rel, de.Type())
			return nil
		}
		if de.IsDir() {
			return nil
		}
		switch rel {
		case ocispec.ImageLayoutFile, "index.json":
			return nil
		}
		parts := strings.Split(rel, "/")
		if len(parts) != 3 || parts[0] != ocispec.ImageBlobsDir {
			t.Errorf("%s: not a file of an OCI image layout", rel)
			return nil
		}
		d := digest.NewDigestFromEncoded(digest.Algorithm(parts[1]), parts[2])
		if err := d.Validate(); err != nil {
			t.Errorf("%s: a leftover, not a blob: %v", rel, err)
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		v := d.Verifier()
		if _, err := io.Copy(v, f); err != nil {
			return err
		}
		if !v.Verified() {
			t.Errorf("%s: the content does not match the name", rel)
		}
		return nil
	})
	if err != nil && (complete || !os.IsNotExist(err)) {
		t.Errorf("walking the layout: %v", err)
	}
}
