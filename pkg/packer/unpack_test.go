package packer

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"

	"github.com/packyard/packyard/internal/testtar"
	"github.com/packyard/packyard/pkg/mediatypes"
)

const upPackJSON = `{"name":"evil","displayName":"Evil","version":"1.0.0","layer":"addon"}`

func upPush(t testing.TB, s *memory.Store, mediaType string, data []byte, ann map[string]string) ocispec.Descriptor {
	t.Helper()
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
	if ok, _ := s.Exists(t.Context(), desc); !ok {
		if err := s.Push(t.Context(), desc, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	}
	desc.Annotations = ann
	return desc
}

func upPushJSON(t testing.TB, s *memory.Store, mediaType string, v any) ocispec.Descriptor {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return upPush(t, s, mediaType, data, nil)
}

// upPalette stores a Palette archive manifest, shaped as ORAS 1.0 makes it,
// around layer.
func upPalette(t testing.TB, s *memory.Store, layer []byte) ocispec.Descriptor {
	t.Helper()
	cfg := upPush(t, s, mediatypes.PaletteConfig, []byte("{}"), nil)
	l := upPush(t, s, mediatypes.PaletteArchive, layer, map[string]string{ocispec.AnnotationTitle: "evil-1.0.0.tar.gz"})
	return upManifest(t, s, ocispec.Manifest{Config: cfg, Layers: []ocispec.Descriptor{l}})
}

// upManifest stores m as an image manifest.
func upManifest(t testing.TB, s *memory.Store, m ocispec.Manifest) ocispec.Descriptor {
	t.Helper()
	m.Versioned = specs.Versioned{SchemaVersion: 2}
	m.MediaType = ocispec.MediaTypeImageManifest
	return upPushJSON(t, s, ocispec.MediaTypeImageManifest, m)
}

// upPackJSONLayer stores pack.json as the native layer.
func upPackJSONLayer(t testing.TB, s *memory.Store) ocispec.Descriptor {
	return upPush(t, s, mediatypes.PackMetadata, []byte(upPackJSON), map[string]string{ocispec.AnnotationTitle: PackJSONFile})
}

// upNative stores a native manifest with pack.json as config and first
// layer, followed by layers.
func upNative(t testing.TB, s *memory.Store, layers ...ocispec.Descriptor) ocispec.Descriptor {
	t.Helper()
	pj := upPackJSONLayer(t, s)
	cfg := ocispec.Descriptor{MediaType: mediatypes.PackConfig, Digest: pj.Digest, Size: pj.Size}
	return upManifest(t, s, ocispec.Manifest{ArtifactType: mediatypes.ArtifactTypePack, Config: cfg,
		Layers: append([]ocispec.Descriptor{pj}, layers...)})
}

// upFolder stores a native folder layer titled title, with the oras unpack
// annotations right.
func upFolder(t testing.TB, s *memory.Store, title string, entries ...testtar.Entry) ocispec.Descriptor {
	t.Helper()
	tarData := testtar.Tar(t, entries...)
	return upPush(t, s, mediatypes.PackFiles, testtar.Gzip(t, tarData), map[string]string{
		ocispec.AnnotationTitle:            title,
		mediatypes.AnnotationContentUnpack: "true",
		mediatypes.AnnotationContentDigest: digest.FromBytes(tarData).String(),
	})
}

// upFile stores a native single-file layer.
func upFile(t testing.TB, s *memory.Store, title, body string) ocispec.Descriptor {
	t.Helper()
	return upPush(t, s, mediatypes.PackFile, []byte(body), map[string]string{ocispec.AnnotationTitle: title})
}

// upLiar serves the blobs of a store, except those it lies about.
type upLiar struct {
	content.Fetcher
	lies map[digest.Digest][]byte
}

func (l upLiar) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if data, ok := l.lies[desc.Digest]; ok {
		return io.NopCloser(bytes.NewReader(data)), nil
	}
	return l.Fetcher.Fetch(ctx, desc)
}

// upEnv is where a case unpacks: target inside parent, beside an empty
// sentinel folder that hostile entries aim at.
type upEnv struct {
	parent, target, sentinel string
}

func upNewEnv(t testing.TB) upEnv {
	t.Helper()
	parent := filepath.Join(t.TempDir(), "parent")
	e := upEnv{parent: parent, target: filepath.Join(parent, "out"), sentinel: filepath.Join(parent, "sentinel")}
	if err := os.MkdirAll(e.sentinel, 0o755); err != nil {
		t.Fatal(err)
	}
	return e
}

// checkClean fails unless the target is absent (or holds exactly keep),
// the parent holds nothing but the target and the sentinel, and the
// sentinel is empty.
func (e upEnv) checkClean(t testing.TB, keep map[string]btEntry) {
	t.Helper()
	if keep == nil {
		if _, err := os.Lstat(e.target); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the target exists after a failed unpack (%v): %v", err, btSnapshot(t, e.target))
		}
	} else {
		btCompare(t, "target after a failed unpack", keep, btSnapshot(t, e.target))
	}
	want := []string{"sentinel"}
	if keep != nil {
		want = []string{"out", "sentinel"}
	}
	if names := btDirNames(t, e.parent); !slices.Equal(names, want) {
		t.Errorf("the parent folder holds %q, want %q", names, want)
	}
	if names := btDirNames(t, e.sentinel); len(names) != 0 {
		t.Errorf("written outside the target: sentinel holds %q", names)
	}
	if names := btDirNames(t, filepath.Dir(e.parent)); !slices.Equal(names, []string{"parent"}) {
		t.Errorf("written beside the parent folder: %q", names)
	}
}

// upPaletteEntries is a Palette archive of pack.json and extra entries,
// gzip'd.
func upPaletteEntries(t testing.TB, s *memory.Store, extra ...testtar.Entry) ocispec.Descriptor {
	t.Helper()
	entries := append([]testtar.Entry{testtar.File("pack.json", upPackJSON), testtar.File("values.yaml", "a: 1\n")}, extra...)
	return upPalette(t, s, testtar.Gzip(t, testtar.Tar(t, entries...)))
}

type upCase struct {
	name string
	make func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor)
	opts UnpackOptions
	want error
	// entry, when set, is the entry the *UnsafeEntryError must name.
	entry string
	// outside, when set, is a path outside the test's folders that the
	// case aims at; it must not appear.
	outside string
}

// upPaletteCase makes a case of a Palette archive holding a pack and extra.
func upPaletteCase(extra ...testtar.Entry) func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
	return func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
		return s, upPaletteEntries(t, s, extra...)
	}
}

// upNativeCase makes a case of a native artifact holding pack.json and a folder
// layer titled "files" of entries.
func upNativeCase(entries ...testtar.Entry) func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
	return func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
		return s, upNative(t, s, upFolder(t, s, "files", entries...))
	}
}

func upHostileCases() []upCase {
	return []upCase{
		// Names that leave the target.
		{name: "dotdot", make: upPaletteCase(testtar.File("../evil", "x")), want: ErrUnsafeContent, entry: "../evil"},
		{name: "dotdot into sentinel", make: upPaletteCase(testtar.File("../sentinel/evil", "x")), want: ErrUnsafeContent, entry: "../sentinel/evil"},
		{name: "inner dotdot", make: upPaletteCase(testtar.File("a/../../evil", "x")), want: ErrUnsafeContent, entry: "a/../../evil"},
		{name: "dotdot in native folder", make: upNativeCase(testtar.Dir("files/"), testtar.File("files/../../evil", "x")), want: ErrUnsafeContent, entry: "files/../../evil"},
		{name: "absolute", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			return s, upPaletteEntries(t, s, testtar.File(filepath.Join(e.sentinel, "evil"), "x"))
		}, want: ErrUnsafeContent},
		{name: "absolute tmp", make: upPaletteCase(testtar.File("/tmp/evil", "x")), want: ErrUnsafeContent, entry: "/tmp/evil", outside: "/tmp/evil"},
		{name: "backslash", make: upPaletteCase(testtar.File(`..\evil`, "x")), want: ErrUnsafeContent, entry: `..\evil`},

		// Links that lead out.
		{name: "link to /etc/passwd", make: upPaletteCase(testtar.Symlink("passwd", "/etc/passwd")), want: ErrUnsafeContent, entry: "passwd"},
		{name: "link up two", make: upPaletteCase(testtar.Symlink("x", "../../x")), want: ErrUnsafeContent, entry: "x"},
		{name: "link into sentinel", make: upPaletteCase(testtar.Symlink("s", "../sentinel")), want: ErrUnsafeContent, entry: "s"},
		{name: "link chain", make: upPaletteCase(testtar.Symlink("y", "."), testtar.Symlink("x", "y/y/y/..")), want: ErrUnsafeContent, entry: "x"},
		{name: "link through a file", make: upPaletteCase(testtar.Symlink("x", "values.yaml/../../sentinel")), want: ErrUnsafeContent, entry: "x"},
		{name: "link through a missing folder", make: upPaletteCase(testtar.Symlink("x", "nowhere/../../sentinel")), want: ErrUnsafeContent, entry: "x"},
		{name: "link loop", make: upPaletteCase(testtar.Symlink("a", "b"), testtar.Symlink("b", "a")), want: ErrUnsafeContent},
		{name: "link then file below it", make: upPaletteCase(testtar.Symlink("d", ".."), testtar.File("d/evil", "x")), want: ErrUnsafeContent, entry: "d/evil"},
		{name: "link then file below it, to sentinel", make: upPaletteCase(testtar.Symlink("d", "../sentinel"), testtar.File("d/evil", "x")), want: ErrUnsafeContent, entry: "d/evil"},
		{name: "link then folder below it", make: upPaletteCase(testtar.Symlink("d", "../sentinel"), testtar.Dir("d/sub/")), want: ErrUnsafeContent, entry: "d/sub/"},
		{name: "link over a folder", make: upPaletteCase(testtar.File("d/keep", "x"), testtar.Symlink("d", "../sentinel")), want: ErrUnsafeContent, entry: "d"},
		{name: "link out of the top folder", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			return s, upPalette(t, s, testtar.Gzip(t, testtar.Tar(t, testtar.Dir("evil-1.0.0/"), testtar.File("evil-1.0.0/pack.json", upPackJSON), testtar.Symlink("evil-1.0.0/up", "../x"))))
		}, want: ErrUnsafeContent, entry: "evil-1.0.0/up"},
		{name: "link in native folder", make: upNativeCase(testtar.Dir("files/"), testtar.Symlink("files/up", "../../sentinel")), want: ErrUnsafeContent, entry: "files/up"},
		{name: "link in one layer, file below it in another", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			return s, upNative(t, s,
				upFolder(t, s, "docs", testtar.Dir("docs/"), testtar.Symlink("docs/l", "../../sentinel")),
				upFile(t, s, "docs/l/evil", "x"))
		}, want: ErrUnsafeContent, entry: "docs/l/evil"},
		{name: "link in one layer, folder layer below it in another", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			return s, upNative(t, s,
				upFolder(t, s, "docs", testtar.Dir("docs/"), testtar.Symlink("docs/l", "../../sentinel")),
				upFolder(t, s, "docs/l", testtar.Dir("docs/l/"), testtar.File("docs/l/evil", "x")))
		}, want: ErrUnsafeContent, entry: "docs/l/"},
		{name: "link layer over a file's folder", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			return s, upNative(t, s,
				upFile(t, s, "docs/a.txt", "x"),
				upFolder(t, s, "docs", testtar.Symlink("docs", "../sentinel")))
		}, want: ErrUnsafeContent, entry: "docs"},

		// Hard links.
		{name: "hard link out", make: upPaletteCase(testtar.HardLink("h", "../x")), want: ErrUnsafeContent, entry: "h"},
		{name: "hard link absolute", make: upPaletteCase(testtar.HardLink("h", "/etc/passwd")), want: ErrUnsafeContent, entry: "h"},
		{name: "hard link to nothing extracted", make: upPaletteCase(testtar.HardLink("h", "missing.txt")), want: ErrUnsafeContent, entry: "h"},
		{name: "hard link before its target", make: upPaletteCase(testtar.HardLink("h", "later.txt"), testtar.File("later.txt", "x")), want: ErrUnsafeContent, entry: "h"},
		{name: "hard link to a folder", make: upPaletteCase(testtar.Dir("dir/"), testtar.HardLink("h", "dir")), want: ErrUnsafeContent, entry: "h"},
		{name: "hard link to a link", make: upPaletteCase(testtar.Symlink("l", "values.yaml"), testtar.HardLink("h", "l")), want: ErrUnsafeContent, entry: "h"},

		// Special files.
		{name: "char device", make: upPaletteCase(testtar.Special("null", tar.TypeChar)), want: ErrUnsafeContent, entry: "null"},
		{name: "block device", make: upPaletteCase(testtar.Special("sda", tar.TypeBlock)), want: ErrUnsafeContent, entry: "sda"},
		{name: "fifo", make: upPaletteCase(testtar.Special("pipe", tar.TypeFifo)), want: ErrUnsafeContent, entry: "pipe"},
		{name: "fifo in native folder", make: upNativeCase(testtar.Dir("files/"), testtar.Special("files/pipe", tar.TypeFifo)), want: ErrUnsafeContent, entry: "files/pipe"},

		// Duplicates.
		{name: "duplicate file", make: upPaletteCase(testtar.File("dup.txt", "one"), testtar.File("dup.txt", "two")), want: ErrUnsafeContent, entry: "dup.txt"},
		{name: "duplicate pack.json", make: upPaletteCase(testtar.File("pack.json", `{"name":"other"}`)), want: ErrUnsafeContent, entry: "pack.json"},
		{name: "file then folder", make: upPaletteCase(testtar.File("dup", "one"), testtar.Dir("dup/")), want: ErrUnsafeContent, entry: "dup/"},
		{name: "folder then file", make: upPaletteCase(testtar.Dir("dup/"), testtar.File("dup", "one")), want: ErrUnsafeContent, entry: "dup"},
		{name: "file below a file", make: upPaletteCase(testtar.File("f", "one"), testtar.File("f/g", "two")), want: ErrUnsafeContent, entry: "f/g"},
		{name: "duplicate across native layers", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			return s, upNative(t, s,
				upFolder(t, s, "docs", testtar.Dir("docs/"), testtar.File("docs/a.txt", "one")),
				upFile(t, s, "docs/a.txt", "two"))
		}, want: ErrUnsafeContent, entry: "docs/a.txt"},
		{name: "duplicate pack.json across native layers", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			return s, upNative(t, s, upPush(t, s, mediatypes.PackFile, []byte(`{"name":"other"}`), map[string]string{ocispec.AnnotationTitle: "pack.json"}))
		}, want: ErrUnsafeContent, entry: "pack.json"},

		// Limits.
		{name: "gzip bomb", make: upPaletteCase(testtar.Zeros("zeros.bin", 64<<20)),
			opts: UnpackOptions{MaxSize: 1 << 20}, want: ErrTooLarge},
		{name: "gzip bomb in native folder", make: upNativeCase(testtar.Dir("files/"), testtar.Zeros("files/zeros.bin", 64<<20)),
			opts: UnpackOptions{MaxSize: 1 << 20}, want: ErrTooLarge},
		{name: "many files past the size", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			var entries []testtar.Entry
			for i := range 20 {
				entries = append(entries, testtar.Zeros(fmt.Sprintf("z%02d", i), 100<<10))
			}
			return s, upPaletteEntries(t, s, entries...)
		}, opts: UnpackOptions{MaxSize: 1 << 20}, want: ErrTooLarge},
		{name: "too many entries", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			var entries []testtar.Entry
			for i := range 20 {
				entries = append(entries, testtar.File(fmt.Sprintf("f%02d", i), "x"))
			}
			return s, upPaletteEntries(t, s, entries...)
		}, opts: UnpackOptions{MaxEntries: 10}, want: ErrTooLarge},
		{name: "too many folders", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			return s, upPaletteEntries(t, s, testtar.File(strings.Repeat("d/", 20)+"f", "x"))
		}, opts: UnpackOptions{MaxEntries: 10}, want: ErrTooLarge},
		{name: "layer past the size", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			return s, upNative(t, s, upFile(t, s, "big.bin", strings.Repeat("x", 2048)))
		}, opts: UnpackOptions{MaxSize: 1024}, want: ErrTooLarge},
		{name: "manifest over 4 MiB", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			d := upPaletteEntries(t, s)
			d.Size = MaxManifestSize + 1
			return s, d
		}, want: ErrTooLarge},

		// Content that does not match its descriptor.
		{name: "layer longer than its descriptor", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			good := testtar.Gzip(t, testtar.Tar(t, testtar.File("pack.json", upPackJSON)))
			d := upPalette(t, s, good)
			m := upGetManifest(t, s, d)
			return upLiar{s, map[digest.Digest][]byte{m.Layers[0].Digest: append(slices.Clone(good), "trailing garbage"...)}}, d
		}, want: ErrUnsafeContent},
		{name: "layer shorter than its descriptor", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			good := testtar.Tar(t, testtar.File("pack.json", upPackJSON), testtar.File("values.yaml", "a: 1\n"))
			d := upPalette(t, s, good)
			m := upGetManifest(t, s, d)
			return upLiar{s, map[digest.Digest][]byte{m.Layers[0].Digest: good[:len(good)-512]}}, d
		}, want: ErrUnsafeContent},
		{name: "link through a missing folder then up", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			// On a file system that ignores case, "X" may be the link "x".
			return s, upPalette(t, s, testtar.Gzip(t, testtar.Tar(t, testtar.File("pack.json", upPackJSON), testtar.Dir("d/"), testtar.Symlink("d/x", ".."), testtar.Symlink("d/L", "X/../sentinel"))))
		}, want: ErrUnsafeContent},
		{name: "link target longer than the path limit", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			return s, upPalette(t, s, testtar.Gzip(t, testtar.Tar(t, testtar.File("pack.json", upPackJSON), testtar.Symlink("long", strings.Repeat("a/", 2100)+"b"))))
		}, want: ErrUnsafeContent},
		{name: "links count against the size limit", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			entries := []testtar.Entry{testtar.File("pack.json", upPackJSON)}
			for i := range 20 {
				entries = append(entries, testtar.Symlink(fmt.Sprintf("l%02d", i), strings.Repeat("a/", 2000)+"b"))
			}
			return s, upPalette(t, s, testtar.Gzip(t, testtar.Tar(t, entries...)))
		}, opts: UnpackOptions{MaxSize: 16 << 10}, want: ErrTooLarge},
		{name: "manifest shorter than its descriptor", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			d := upPaletteEntries(t, s)
			raw, err := content.FetchAll(t.Context(), s, d)
			if err != nil {
				t.Fatal(err)
			}
			return upLiar{s, map[digest.Digest][]byte{d.Digest: raw[:len(raw)-10]}}, d
		}, want: ErrUnsafeContent},
		{name: "layer digest mismatch", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			// Padding after the tar's end: the archive reads the same
			// either way, only the digest tells.
			good := append(testtar.Tar(t, testtar.File("pack.json", upPackJSON)), make([]byte, 512)...)
			bad := slices.Clone(good)
			bad[len(bad)-1] = 'x'
			d := upPalette(t, s, good)
			m := upGetManifest(t, s, d)
			return upLiar{s, map[digest.Digest][]byte{m.Layers[0].Digest: bad}}, d
		}, want: ErrUnsafeContent},
		{name: "native file digest mismatch", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			v := upFile(t, s, "values.yaml", "a: 1\n")
			return upLiar{s, map[digest.Digest][]byte{v.Digest: []byte("a: 2\n")}}, upNative(t, s, v)
		}, want: ErrUnsafeContent},
		{name: "native file longer than its descriptor", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			v := upFile(t, s, "values.yaml", "a: 1\n")
			return upLiar{s, map[digest.Digest][]byte{v.Digest: []byte("a: 1\nb: 2\n")}}, upNative(t, s, v)
		}, want: ErrUnsafeContent},
		{name: "manifest digest mismatch", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			d := upPaletteEntries(t, s)
			raw, err := content.FetchAll(t.Context(), s, d)
			if err != nil {
				t.Fatal(err)
			}
			return upLiar{s, map[digest.Digest][]byte{d.Digest: bytes.Replace(raw, []byte(`"schemaVersion":2`), []byte(`"schemaVersion":3`), 1)}}, d
		}, want: ErrUnsafeContent},
		{name: "invalid layer digest", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			l := upFile(t, s, "values.yaml", "a: 1\n")
			l.Digest = "sha256:nothex"
			return s, upNative(t, s, l)
		}, want: ErrUnsafeContent},

		// Manifests that are not packs.
		{name: "image index", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			inner := upPaletteEntries(t, s)
			return s, upPushJSON(t, s, ocispec.MediaTypeImageIndex, ocispec.Index{
				Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex,
				Manifests: []ocispec.Descriptor{inner},
			})
		}, want: ErrNotPack},
		{name: "container image", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			cfg := upPush(t, s, ocispec.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`), nil)
			layer := upPush(t, s, ocispec.MediaTypeImageLayerGzip, testtar.Gzip(t, testtar.Tar(t, testtar.File("pack.json", upPackJSON))), nil)
			return s, upManifest(t, s, ocispec.Manifest{Config: cfg, Layers: []ocispec.Descriptor{layer}})
		}, want: ErrNotPack},
		{name: "two layers, not native", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			cfg := upPush(t, s, mediatypes.PaletteConfig, []byte("{}"), nil)
			a := upPush(t, s, mediatypes.PaletteArchive, testtar.Gzip(t, testtar.Tar(t, testtar.File("pack.json", upPackJSON))), nil)
			b := upPush(t, s, mediatypes.PaletteArchive, testtar.Gzip(t, testtar.Tar(t, testtar.File("values.yaml", "a: 1\n"))), nil)
			return s, upManifest(t, s, ocispec.Manifest{Config: cfg, Layers: []ocispec.Descriptor{a, b}})
		}, want: ErrNotPack},
		{name: "not JSON", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			// A memory store refuses to hold it; a registry may serve it.
			bad := []byte("not json")
			d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(bad), Size: int64(len(bad))}
			return upLiar{s, map[digest.Digest][]byte{d.Digest: bad}}, d
		}, want: ErrNotPack},
		{name: "schema version 1", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			return s, upPush(t, s, ocispec.MediaTypeImageManifest, []byte(`{"schemaVersion":1,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[{}]}`), nil)
		}, want: ErrNotPack},

		// Native artifacts that break the rules.
		{name: "native layer without title", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			return s, upNative(t, s, upPush(t, s, mediatypes.PackFile, []byte("x"), nil))
		}, want: ErrUnsafeContent},
		{name: "native title out", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			return s, upNative(t, s, upFile(t, s, "../sentinel/evil", "x"))
		}, want: ErrUnsafeContent, entry: "../sentinel/evil"},
		{name: "native title absolute", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			return s, upNative(t, s, upFile(t, s, filepath.Join(e.sentinel, "evil"), "x"))
		}, want: ErrUnsafeContent},
		{name: "native title is the target", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			return s, upNative(t, s, upFile(t, s, ".", "x"))
		}, want: ErrUnsafeContent},
		{name: "native folder layer titled as the target", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			return s, upNative(t, s, upFolder(t, s, ".", testtar.File("x", "x")))
		}, want: ErrUnsafeContent},
		{name: "native entry outside its folder", make: upNativeCase(testtar.Dir("files/"), testtar.File("other/x", "x")), want: ErrUnsafeContent, entry: "other/x"},
		{name: "native entry with the folder as prefix", make: upNativeCase(testtar.Dir("files/"), testtar.File("files-other/x", "x")), want: ErrUnsafeContent, entry: "files-other/x"},
		{name: "native wrong content digest", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			l := upFolder(t, s, "files", testtar.Dir("files/"), testtar.File("files/a", "x"))
			l.Annotations[mediatypes.AnnotationContentDigest] = digest.FromString("other").String()
			return s, upNative(t, s, l)
		}, want: ErrUnsafeContent},
		{name: "native invalid content digest", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			l := upFolder(t, s, "files", testtar.Dir("files/"), testtar.File("files/a", "x"))
			l.Annotations[mediatypes.AnnotationContentDigest] = "sha256:xyz"
			return s, upNative(t, s, l)
		}, want: ErrUnsafeContent},
		{name: "native config differs from pack.json", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			pj := upPackJSONLayer(t, s)
			cfg := upPush(t, s, mediatypes.PackConfig, []byte(`{"name":"other","version":"6.6.6"}`), nil)
			return s, upManifest(t, s, ocispec.Manifest{ArtifactType: mediatypes.ArtifactTypePack, Config: cfg, Layers: []ocispec.Descriptor{pj}})
		}, want: ErrUnsafeContent},
		{name: "native without pack.json", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			cfg := upPush(t, s, ocispec.MediaTypeEmptyJSON, []byte("{}"), nil)
			return s, upManifest(t, s, ocispec.Manifest{ArtifactType: mediatypes.ArtifactTypePack, Config: cfg,
				Layers: []ocispec.Descriptor{upFile(t, s, "values.yaml", "a: 1\n")}})
		}, want: ErrNotPack},

		// Palette archives that are not packs.
		{name: "palette without pack.json", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			return s, upPalette(t, s, testtar.Gzip(t, testtar.Tar(t, testtar.Dir("evil-1.0.0/"), testtar.File("evil-1.0.0/values.yaml", "a: 1\n"))))
		}, want: ErrNotPack},
		{name: "palette with two top folders", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			return s, upPalette(t, s, testtar.Gzip(t, testtar.Tar(t, testtar.File("a/pack.json", upPackJSON), testtar.File("b/pack.json", upPackJSON))))
		}, want: ErrNotPack},
		{name: "palette with pack.json a folder", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			return s, upPalette(t, s, testtar.Gzip(t, testtar.Tar(t, testtar.Dir("pack.json/"), testtar.File("pack.json/x", "x"))))
		}, want: ErrNotPack},
		{name: "palette not a tar", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			return s, upPalette(t, s, testtar.Gzip(t, []byte(strings.Repeat("not a tar at all ", 100))))
		}, want: ErrUnsafeContent},
		{name: "palette broken gzip", make: func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			gz := testtar.Gzip(t, testtar.Tar(t, testtar.File("pack.json", upPackJSON)))
			gz[len(gz)-5] ^= 0xff // the CRC
			return s, upPalette(t, s, gz)
		}, want: ErrUnsafeContent},
	}
}

func upGetManifest(t testing.TB, f content.Fetcher, d ocispec.Descriptor) *ocispec.Manifest {
	t.Helper()
	m, _ := btManifest(t, f, d)
	return m
}

func TestUnpackHostile(t *testing.T) {
	for _, c := range upHostileCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := upNewEnv(t)
			s := memory.New()
			f, desc := c.make(t, e, s)
			if c.outside != "" {
				if _, err := os.Lstat(c.outside); err == nil {
					t.Fatalf("%s exists before the test; remove it", c.outside)
				}
				defer func() {
					if _, err := os.Lstat(c.outside); err == nil {
						t.Errorf("unpacking wrote %s", c.outside)
					}
				}()
			}
			res, err := Unpack(t.Context(), f, desc, e.target, c.opts)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if res != nil {
				t.Errorf("result %+v with an error", res)
			}
			if c.entry != "" {
				var ue *UnsafeEntryError
				if !errors.As(err, &ue) || ue.Entry != c.entry {
					t.Errorf("err = %v, want an UnsafeEntryError for entry %q", err, c.entry)
				}
			}
			e.checkClean(t, nil)

			// With Force, over an existing target, nothing changes either.
			keep := map[string]btEntry{"old.txt": {kind: "file", data: []byte("old")}, "sub": {kind: "dir"}}
			if err := os.MkdirAll(filepath.Join(e.target, "sub"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(e.target, "old.txt"), []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := Unpack(t.Context(), f, desc, e.target, UnpackOptions{Force: true, MaxSize: c.opts.MaxSize, MaxEntries: c.opts.MaxEntries}); !errors.Is(err, c.want) {
				t.Fatalf("with Force: err = %v, want %v", err, c.want)
			}
			e.checkClean(t, keep)
		})
	}
}

// The hostile cases' fixtures are sound: without the hostile part, they
// unpack.
func TestUnpackHostileControls(t *testing.T) {
	for name, make := range map[string]func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor){
		"palette": upPaletteCase(testtar.Symlink("ok", "values.yaml"), testtar.Dir("dir/"), testtar.HardLink("dir/hard", "values.yaml"), testtar.Symlink("dir/up", "../values.yaml")),
		"native":  upNativeCase(testtar.Dir("files/"), testtar.File("files/a", "x"), testtar.Symlink("files/up", "../pack.json")),
		"many entries": func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			var entries []testtar.Entry
			for i := range 20 {
				entries = append(entries, testtar.File(fmt.Sprintf("f%02d", i), "x"))
			}
			return s, upPaletteEntries(t, s, entries...)
		},
		"top folder": func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			return s, upPalette(t, s, testtar.Gzip(t, testtar.Tar(t, testtar.Dir("evil-1.0.0/"), testtar.File("evil-1.0.0/pack.json", upPackJSON), testtar.Dir("evil-1.0.0/sub/"), testtar.Symlink("evil-1.0.0/up", "sub/../pack.json"))))
		},
		"plain tar with padding": func(t *testing.T, e upEnv, s *memory.Store) (content.Fetcher, ocispec.Descriptor) {
			return s, upPalette(t, s, append(testtar.Tar(t, testtar.File("pack.json", upPackJSON)), make([]byte, 512)...))
		},
	} {
		t.Run(name, func(t *testing.T) {
			e := upNewEnv(t)
			s := memory.New()
			f, desc := make(t, e, s)
			res, err := Unpack(t.Context(), f, desc, e.target, UnpackOptions{MaxEntries: 30})
			if err != nil {
				t.Fatal(err)
			}
			if res.Name != "evil" || res.Version != "1.0.0" {
				t.Errorf("result %+v", res)
			}
			got, err := os.ReadFile(filepath.Join(e.target, "pack.json"))
			if err != nil || string(got) != upPackJSON {
				t.Errorf("pack.json %q, %v", got, err)
			}
			if names := btDirNames(t, e.parent); !slices.Equal(names, []string{"out", "sentinel"}) {
				t.Errorf("parent holds %q", names)
			}
		})
	}
}

// upGNUTar runs the tar binary.
func upGNUTar(t testing.TB, args ...string) {
	t.Helper()
	if _, err := exec.LookPath("tar"); err != nil {
		t.Fatalf("the tar binary is needed: %v", err)
	}
	out, err := exec.Command("tar", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("tar %q: %v\n%s", args, err, out)
	}
}

func TestUnpackGNUTarArchives(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "synth-1.2.3")
	btWriteSynth(t, src, "synth", "1.2.3")
	want := btSnapshot(t, src)

	withTop := filepath.Join(base, "top.tar.gz")
	upGNUTar(t, "czf", withTop, "-C", base, "synth-1.2.3")
	dotted := filepath.Join(base, "dotted.tgz")
	upGNUTar(t, "czf", dotted, "-C", src, ".")

	for _, tc := range []struct {
		name, archive, top string
	}{
		{"top folder", withTop, "synth-1.2.3"},
		{"dot entries", dotted, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := os.ReadFile(tc.archive)
			if err != nil {
				t.Fatal(err)
			}
			s := memory.New()
			desc := upPalette(t, s, data)
			out := filepath.Join(t.TempDir(), "out")
			res, err := Unpack(t.Context(), s, desc, out, UnpackOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Encoding != mediatypes.EncodingPalette || res.TopFolder != tc.top || res.Name != "synth" || res.Version != "1.2.3" {
				t.Errorf("result %+v", res)
			}
			btCompare(t, tc.name, want, btSnapshot(t, out))
		})
	}

	// oras 1.1 pushes a file as an artifact with an empty config; that is a
	// Palette archive too.
	t.Run("oras 1.1 shape", func(t *testing.T) {
		data, err := os.ReadFile(withTop)
		if err != nil {
			t.Fatal(err)
		}
		s := memory.New()
		cfg := upPush(t, s, ocispec.MediaTypeEmptyJSON, []byte("{}"), nil)
		if cfg.Digest != mediatypes.PaletteConfigDigest {
			t.Fatalf("empty config digest %s", cfg.Digest)
		}
		layer := upPush(t, s, ocispec.MediaTypeImageLayer, data, map[string]string{ocispec.AnnotationTitle: "synth-1.2.3.tar.gz"})
		desc := upManifest(t, s, ocispec.Manifest{
			ArtifactType: "application/vnd.unknown.artifact.v1",
			Config:       cfg,
			Layers:       []ocispec.Descriptor{layer},
			Annotations:  map[string]string{ocispec.AnnotationCreated: "2024-01-02T03:04:05Z"},
		})
		out := filepath.Join(t.TempDir(), "out")
		res, err := Unpack(t.Context(), s, desc, out, UnpackOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Encoding != mediatypes.EncodingPalette || res.TopFolder != "synth-1.2.3" {
			t.Errorf("result %+v", res)
		}
		btCompare(t, "oras 1.1", want, btSnapshot(t, out))
	})
}

func TestUnpackTarget(t *testing.T) {
	p := btSynth(t)
	l, res := btBuild(t, p, BuildOptions{})
	want := btSnapshot(t, p.Dir)
	old := map[string]btEntry{
		"old.txt":        {kind: "file", data: []byte("old")},
		"pack.json":      {kind: "file", data: []byte("{}")},
		"nested":         {kind: "dir"},
		"nested/old.txt": {kind: "file", data: []byte("old too")},
	}
	writeOld := func(t *testing.T, dir string) {
		for _, rel := range []string{"old.txt", "pack.json", "nested/old.txt"} {
			full := filepath.Join(dir, filepath.FromSlash(rel))
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(full, old[rel].data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, a := range res.Artifacts() {
		t.Run(a.Encoding, func(t *testing.T) {
			parent := t.TempDir()
			target := filepath.Join(parent, "out")
			writeOld(t, target)

			_, err := Unpack(t.Context(), l, a.Manifest, target, UnpackOptions{})
			if !errors.Is(err, ErrTargetNotEmpty) {
				t.Fatalf("non-empty target: err = %v, want ErrTargetNotEmpty", err)
			}
			btCompare(t, "untouched target", old, btSnapshot(t, target))
			if names := btDirNames(t, parent); !slices.Equal(names, []string{"out"}) {
				t.Errorf("parent holds %q", names)
			}

			if _, err := Unpack(t.Context(), l, a.Manifest, target, UnpackOptions{Force: true}); err != nil {
				t.Fatalf("with Force: %v", err)
			}
			btCompare(t, "forced target", want, btSnapshot(t, target))
			if names := btDirNames(t, parent); !slices.Equal(names, []string{"out"}) {
				t.Errorf("parent holds %q after Force", names)
			}

			empty := filepath.Join(parent, "empty")
			if err := os.Mkdir(empty, 0o700); err != nil {
				t.Fatal(err)
			}
			if _, err := Unpack(t.Context(), l, a.Manifest, empty, UnpackOptions{}); err != nil {
				t.Fatalf("empty target: %v", err)
			}
			btCompare(t, "empty target", want, btSnapshot(t, empty))
			if st, err := os.Stat(empty); err != nil || st.Mode().Perm() != 0o755 {
				t.Errorf("unpacked folder mode %v, %v", st.Mode(), err)
			}

			file := filepath.Join(parent, "file")
			if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, force := range []bool{false, true} {
				if _, err := Unpack(t.Context(), l, a.Manifest, file, UnpackOptions{Force: force}); !errors.Is(err, ErrTargetNotFolder) {
					t.Errorf("a file as the target (force %v): err = %v, want ErrTargetNotFolder", force, err)
				}
			}
			if data, _ := os.ReadFile(file); string(data) != "x" {
				t.Errorf("the file target changed: %q", data)
			}

			// A missing parent is made.
			deep := filepath.Join(parent, "a", "b", "c")
			if _, err := Unpack(t.Context(), l, a.Manifest, deep, UnpackOptions{}); err != nil {
				t.Fatal(err)
			}
			btCompare(t, "deep target", want, btSnapshot(t, deep))
			if names := btDirNames(t, parent); !slices.Equal(names, []string{"a", "empty", "file", "out"}) {
				t.Errorf("parent holds %q", names)
			}
		})
	}
}

// A cancelled unpack stops, reports the cancellation and leaves nothing.
func TestUnpackCancelled(t *testing.T) {
	e := upNewEnv(t)
	s := memory.New()
	big := strings.Repeat("x", 8<<20)
	desc := upPalette(t, s, testtar.Gzip(t, testtar.Tar(t, testtar.File("pack.json", upPackJSON), testtar.File("a.bin", big), testtar.File("b.bin", big))))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Unpack(ctx, s, desc, e.target, UnpackOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled unpack: %v, want context.Canceled", err)
	}
	if _, err := os.Stat(e.target); !os.IsNotExist(err) {
		t.Errorf("target exists after a cancelled unpack: %v", err)
	}
	if names := btDirNames(t, e.parent); !slices.Equal(names, []string{"sentinel"}) {
		t.Errorf("the parent folder holds %q after a cancelled unpack", names)
	}
}

// intruder writes a file into the target while the pack is being fetched,
// as another process might.
type intruder struct {
	content.Fetcher
	path string
}

func (f intruder) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if desc.MediaType != ocispec.MediaTypeImageManifest {
		if err := os.WriteFile(f.path, []byte("mine"), 0o644); err != nil {
			return nil, err
		}
	}
	return f.Fetcher.Fetch(ctx, desc)
}

// A target that gains files during an unpack without Force is left as it
// is: the check at the start is not the only one.
func TestUnpackTargetGainsFiles(t *testing.T) {
	e := upNewEnv(t)
	if err := os.Mkdir(e.target, 0o755); err != nil {
		t.Fatal(err)
	}
	s := memory.New()
	desc := upPalette(t, s, testtar.Gzip(t, testtar.Tar(t, testtar.File("pack.json", upPackJSON))))
	mine := filepath.Join(e.target, "mine.txt")
	_, err := Unpack(t.Context(), intruder{s, mine}, desc, e.target, UnpackOptions{})
	if !errors.Is(err, ErrTargetNotEmpty) {
		t.Fatalf("unpack into a folder that gained a file: %v, want ErrTargetNotEmpty", err)
	}
	if names := btDirNames(t, e.target); !slices.Equal(names, []string{"mine.txt"}) {
		t.Errorf("target holds %q, want only the file written meanwhile", names)
	}
	if names := btDirNames(t, e.parent); !slices.Equal(names, []string{"out", "sentinel"}) {
		t.Errorf("parent holds %q", names)
	}
}
