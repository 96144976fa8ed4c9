package ociregistry_test

import (
	"github.com/packyard/packyard/internal/testfs"

	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"

	"github.com/packyard/packyard/internal/testregistry"
	"github.com/packyard/packyard/pkg/mediatypes"
	"github.com/packyard/packyard/pkg/ociregistry"
	"github.com/packyard/packyard/pkg/packer"
)

// rewriteIndex returns the archive with its index.json changed by edit.
func rewriteIndex(t *testing.T, archive []byte, edit func(*ocispec.Index)) []byte {
	t.Helper()
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Name == "index.json" {
			var idx ocispec.Index
			if err := json.Unmarshal(body, &idx); err != nil {
				t.Fatal(err)
			}
			edit(&idx)
			if body, err = json.Marshal(idx); err != nil {
				t.Fatal(err)
			}
			hdr.Size = int64(len(body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// An archive names its packs in index annotations, which Import must not
// trust to pick repositories: a name with "../" would push outside the
// location, into any repository of the registry.
func TestImportRefusesPackNameOutsideLocation(t *testing.T) {
	reg := testregistry.New(t)
	c := newClient(t)
	src := mustLocation(t, reg.Host+"/src")
	_ = mustPush(t, c, "../../testdata/packs/kubewatch-3.5.0", src, "")
	ref, _ := ociregistry.ParsePackRef("kubewatch:3.5.0")
	var buf bytes.Buffer
	if err := c.Export(t.Context(), src, []ociregistry.PackRef{ref}, &buf); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"../../victim", "..", "a/b", "UPPER"} {
		t.Run(name, func(t *testing.T) {
			reg := testregistry.New(t)
			archive := rewriteIndex(t, buf.Bytes(), func(idx *ocispec.Index) {
				for i := range idx.Manifests {
					idx.Manifests[i].Annotations[mediatypes.AnnotationPackName] = name
				}
			})
			dst := mustLocation(t, reg.Host+"/site/team")
			_, err := c.Import(t.Context(), bytes.NewReader(archive), dst, ociregistry.PushOptions{})
			if err == nil {
				t.Errorf("import of pack %q: no error", name)
			}
			if !errors.Is(err, packer.ErrUnsafeContent) {
				t.Errorf("import of pack %q: %v, want ErrUnsafeContent", name, err)
			}
			r, rerr := c.Registry(mustLocation(t, reg.Host))
			if rerr != nil {
				t.Fatal(rerr)
			}
			if err := r.Repositories(t.Context(), "", func(repos []string) error {
				if len(repos) > 0 {
					t.Errorf("import of pack %q pushed to %v", name, repos)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// paxRecord is one "LEN key=value\n" record of a PAX extended header.
func paxRecord(k, v string) string {
	s := " " + k + "=" + v + "\n"
	for n := len(s); ; n++ {
		r := strconv.Itoa(n) + s
		if len(r) == n {
			return r
		}
	}
}

// ustarBlock is a raw tar header block.
func ustarBlock(name string, typ byte, size int64) []byte {
	b := make([]byte, 512)
	copy(b[0:], name)
	copy(b[100:], "0000644\x00")
	copy(b[108:], "0000000\x00")
	copy(b[116:], "0000000\x00")
	copy(b[124:], fmt.Sprintf("%011o\x00", size))
	copy(b[136:], "00000000000\x00")
	b[156] = typ
	copy(b[257:], "ustar\x0000")
	copy(b[148:], "        ")
	sum := 0
	for _, c := range b {
		sum += int(c)
	}
	copy(b[148:], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

func padBlock(b []byte) []byte {
	if r := len(b) % 512; r != 0 {
		b = append(b, make([]byte, 512-r)...)
	}
	return b
}

// A PAX sparse entry (GNU.sparse 1.0) of a few bytes in the archive reads
// as a file of any size: Import must refuse it rather than write the
// expanded bytes to disk.
func TestImportRefusesSparseEntries(t *testing.T) {
	reg := testregistry.New(t)
	c := newClient(t)
	const size = 8 << 20
	d := digest.FromBytes(make([]byte, size)) // a real digest: the expanded blob verifies
	name := "blobs/sha256/" + d.Encoded()
	pax := paxRecord("GNU.sparse.major", "1") + paxRecord("GNU.sparse.minor", "0") +
		paxRecord("GNU.sparse.name", name) + paxRecord("GNU.sparse.realsize", strconv.Itoa(size))
	var archive []byte
	archive = append(archive, tarOf(t, file("oci-layout", `{"imageLayoutVersion":"1.0.0"}`))...)
	archive = archive[:len(archive)-1024] // drop the end-of-archive blocks
	archive = append(archive, ustarBlock("PaxHeaders/x", 'x', int64(len(pax)))...)
	archive = append(archive, padBlock([]byte(pax))...)
	data := padBlock([]byte("0\n")) // a sparse map with no data: all hole
	archive = append(archive, ustarBlock("GNUSparseFile.0/x", '0', int64(len(data)))...)
	archive = append(archive, data...)
	archive = append(archive, make([]byte, 1024)...)
	if len(archive) > 4096 {
		t.Fatalf("the archive is %d bytes", len(archive))
	}

	_, err := c.Import(t.Context(), bytes.NewReader(archive), mustLocation(t, reg.Host), ociregistry.PushOptions{})
	if !errors.Is(err, packer.ErrUnsafeContent) {
		t.Errorf("import of a sparse entry: %v, want ErrUnsafeContent", err)
	}
	if errors.Is(err, errdef.ErrNotFound) {
		t.Error("the sparse entry was accepted; only the missing index.json stopped the import")
	}
}

// A push of both encodings that is refused for one of them (the version
// exists there with other content) must not publish the other: the push
// fails, so no part of the pack version may appear.
func TestPushRefusedEncodingPublishesNothing(t *testing.T) {
	reg := testregistry.New(t)
	c := newClient(t)
	loc := mustLocation(t, reg.Host+"/team")
	src := "../../testdata/packs/kubewatch-3.5.0"
	other := testfs.Copy(t, src)
	if err := os.WriteFile(filepath.Join(other, "values.yaml"), []byte("pack:\n  namespace: other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = mustPush(t, c, other, loc, packer.FormatPalette)

	_, err := c.PushDir(t.Context(), src, loc, ociregistry.PushOptions{})
	var ve *ociregistry.VersionExistsError
	if !errors.As(err, &ve) {
		t.Fatalf("push: %v, want a VersionExistsError", err)
	}
	native, err := c.Repository(loc, loc.NativeRepository("kubewatch"))
	if err != nil {
		t.Fatal(err)
	}
	if tags, _ := ociregistry.Tags(t.Context(), native); len(tags) > 0 {
		t.Errorf("the refused push published the native artifact: %s tags %v", loc.NativeRepository("kubewatch"), tags)
	}

	// The same from a layout built by pack build.
	layoutDir := filepath.Join(t.TempDir(), "layout")
	p, err := packer.Load(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := packer.BuildToLayout(t.Context(), p, layoutDir, packer.BuildOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PushLayout(t.Context(), layoutDir, loc, ociregistry.PushOptions{}); !errors.As(err, &ve) {
		t.Fatalf("push of the layout: %v, want a VersionExistsError", err)
	}
	if tags, _ := ociregistry.Tags(t.Context(), native); len(tags) > 0 {
		t.Errorf("the refused layout push published the native artifact: tags %v", tags)
	}

	// The same for a copy.
	from := mustLocation(t, reg.Host+"/from")
	_ = mustPush(t, c, src, from, "")
	ref, _ := ociregistry.ParsePackRef("kubewatch:3.5.0")
	if _, err := c.Copy(t.Context(), from, ref, loc, nil, ociregistry.CopyOptions{}); !errors.As(err, &ve) {
		t.Fatalf("copy: %v, want a VersionExistsError", err)
	}
	if tags, _ := ociregistry.Tags(t.Context(), native); len(tags) > 0 {
		t.Errorf("the refused copy published the native artifact: tags %v", tags)
	}
}
