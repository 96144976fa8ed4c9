package ociregistry_test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/packyard/packyard/internal/hostileregistry"
	"github.com/packyard/packyard/internal/testfs"
	"github.com/packyard/packyard/internal/testtar"
	"github.com/packyard/packyard/pkg/mediatypes"
	"github.com/packyard/packyard/pkg/ociregistry"
	"github.com/packyard/packyard/pkg/packer"
)

// The pack every hostile artifact claims to be.
const (
	hostileName     = "evil"
	hostileVersion  = "1.0.0"
	hostilePackJSON = `{"name":"evil","displayName":"Evil","version":"1.0.0","layer":"addon"}`
	hostileValues   = "a: 1\n"
	// hostileTop is the Palette archive's top folder.
	hostileTop = "evil-1.0.0"
	// hostileArchiveTitle is the Palette archive's file name.
	hostileArchiveTitle = "evil-1.0.0.tar.gz"
	// hostileBase is the base path the packs are below.
	hostileBase = "team"
)

// hostileLoc is where the packs are in reg.
func hostileLoc(reg *hostileregistry.Registry) ociregistry.Location {
	return ociregistry.Location{Registry: reg.Host, Base: hostileBase}
}

// servedPack is a pack artifact a hostile registry holds, tagged
// evil:1.0.0, with the parts the cases lie about.
type servedPack struct {
	repo     string
	manifest ocispec.Descriptor
	raw      []byte
	m        ocispec.Manifest
	// values is the native artifact's values.yaml layer.
	values ocispec.Descriptor
	// files is the native artifact's folder layer, when it has one.
	files ocispec.Descriptor
	// archive is the Palette archive's layer, and data its content.
	archive ocispec.Descriptor
	data    []byte
}

// putManifest stores m as an image manifest, tagged evil:1.0.0 in repo.
func putManifest(t testing.TB, reg *hostileregistry.Registry, repo string, m ocispec.Manifest) (ocispec.Descriptor, []byte) {
	t.Helper()
	return reg.PutManifest(t, repo, hostileVersion, m)
}

func withAnnotations(d ocispec.Descriptor, kv ...string) ocispec.Descriptor {
	d.Annotations = map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		d.Annotations[kv[i]] = kv[i+1]
	}
	return d
}

// putNative stores a native artifact of pack.json, values.yaml and, when
// files are given, a folder layer titled "files" holding them.
func putNative(t testing.TB, reg *hostileregistry.Registry, files ...testtar.Entry) servedPack {
	t.Helper()
	p := servedPack{repo: hostileLoc(reg).NativeRepository(hostileName)}
	pj := withAnnotations(reg.Put(mediatypes.PackMetadata, []byte(hostilePackJSON)), mediatypes.AnnotationTitle, packer.PackJSONFile)
	p.values = withAnnotations(reg.Put(mediatypes.PackValues, []byte(hostileValues)), mediatypes.AnnotationTitle, "values.yaml")
	layers := []ocispec.Descriptor{pj, p.values}
	if len(files) > 0 {
		tarData := testtar.Tar(t, files...)
		p.files = withAnnotations(reg.Put(mediatypes.PackFiles, testtar.Gzip(t, tarData)),
			mediatypes.AnnotationTitle, "files",
			mediatypes.AnnotationContentUnpack, "true",
			mediatypes.AnnotationContentDigest, digest.FromBytes(tarData).String())
		layers = append(layers, p.files)
	}
	p.m = ocispec.Manifest{
		ArtifactType: mediatypes.ArtifactTypePack,
		Config:       ocispec.Descriptor{MediaType: mediatypes.PackConfig, Digest: pj.Digest, Size: pj.Size},
		Layers:       layers,
	}
	p.manifest, p.raw = putManifest(t, reg, p.repo, p.m)
	return p
}

// putPaletteData stores a Palette archive, shaped as ORAS 1.0 makes it,
// around the archive data.
func putPaletteData(t testing.TB, reg *hostileregistry.Registry, data []byte) servedPack {
	t.Helper()
	p := servedPack{repo: hostileLoc(reg).PaletteRepository(hostileName), data: data}
	cfg := reg.Put(mediatypes.PaletteConfig, []byte(mediatypes.PaletteConfigData))
	p.archive = withAnnotations(reg.Put(mediatypes.PaletteArchive, data), mediatypes.AnnotationTitle, hostileArchiveTitle)
	p.m = ocispec.Manifest{Config: cfg, Layers: []ocispec.Descriptor{p.archive}}
	p.manifest, p.raw = putManifest(t, reg, p.repo, p.m)
	return p
}

// putPalette stores a Palette archive whose top folder holds pack.json,
// values.yaml and extra.
func putPalette(t testing.TB, reg *hostileregistry.Registry, extra ...testtar.Entry) servedPack {
	t.Helper()
	entries := append([]testtar.Entry{
		testtar.Dir(hostileTop + "/"),
		testtar.File(hostileTop+"/pack.json", hostilePackJSON),
		testtar.File(hostileTop+"/values.yaml", hostileValues),
	}, extra...)
	return putPaletteData(t, reg, testtar.Gzip(t, testtar.Tar(t, entries...)))
}

// hostileEnv is where a case pulls: target inside parent, beside an empty
// sentinel folder that hostile entries aim at.
type hostileEnv struct {
	parent, target, sentinel string
}

func newHostileEnv(t *testing.T) hostileEnv {
	t.Helper()
	parent := filepath.Join(t.TempDir(), "parent")
	e := hostileEnv{parent: parent, target: filepath.Join(parent, "out"), sentinel: filepath.Join(parent, "sentinel")}
	if err := os.MkdirAll(e.sentinel, 0o755); err != nil {
		t.Fatal(err)
	}
	return e
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// checkClean fails unless the target is absent (or holds exactly keep),
// the parent holds nothing but the target and the sentinel (no staging or
// temporary folder), the sentinel is empty, and nothing appeared beside
// the parent.
func (e hostileEnv) checkClean(t *testing.T, keep map[string]string) {
	t.Helper()
	want := []string{"sentinel"}
	if keep == nil {
		if _, err := os.Lstat(e.target); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the target exists after a failed pull: %v", err)
		}
	} else {
		want = []string{"out", "sentinel"}
		if got := testfs.Tree(t, e.target); !maps.Equal(got, keep) {
			t.Errorf("the target changed in a failed pull: holds %q, want %q", got, keep)
		}
	}
	if names := dirNames(t, e.parent); !slices.Equal(names, want) {
		t.Errorf("the parent folder holds %q, want %q", names, want)
	}
	if names := dirNames(t, e.sentinel); len(names) != 0 {
		t.Errorf("written outside the target: the sentinel folder holds %q", names)
	}
	if names := dirNames(t, filepath.Dir(e.parent)); !slices.Equal(names, []string{"parent"}) {
		t.Errorf("written beside the parent folder: %q", names)
	}
}

// tarAttack is a hostile set of tar entries for a folder: the native
// artifact's folder layer "files", or the Palette archive's top folder.
type tarAttack struct {
	name    string
	entries func(e hostileEnv, dir string) []testtar.Entry
	// entry is the entry the error must name.
	entry func(e hostileEnv, dir string) string
	opts  packer.UnpackOptions
	want  error
}

func tarAttacks() []tarAttack {
	same := func(name string) func(hostileEnv, string) string {
		return func(_ hostileEnv, dir string) string { return dir + "/" + name }
	}
	return []tarAttack{
		{name: "dotdot", entries: func(_ hostileEnv, dir string) []testtar.Entry {
			return []testtar.Entry{testtar.File(dir+"/../../sentinel/evil", "x")}
		}, entry: same("../../sentinel/evil"), want: packer.ErrUnsafeContent},
		{name: "absolute path", entries: func(e hostileEnv, _ string) []testtar.Entry {
			return []testtar.Entry{testtar.File(filepath.Join(e.sentinel, "evil"), "x")}
		}, entry: func(e hostileEnv, _ string) string { return filepath.Join(e.sentinel, "evil") }, want: packer.ErrUnsafeContent},
		{name: "link out, then a file through it", entries: func(_ hostileEnv, dir string) []testtar.Entry {
			return []testtar.Entry{testtar.Symlink(dir+"/out", "../../sentinel"), testtar.File(dir+"/out/evil", "x")}
		}, entry: same("out/evil"), want: packer.ErrUnsafeContent},
		{name: "link to an absolute path", entries: func(_ hostileEnv, dir string) []testtar.Entry {
			return []testtar.Entry{testtar.Symlink(dir+"/passwd", "/etc/passwd")}
		}, entry: same("passwd"), want: packer.ErrUnsafeContent},
		{name: "link up and out", entries: func(_ hostileEnv, dir string) []testtar.Entry {
			return []testtar.Entry{testtar.Symlink(dir+"/up", "../../sentinel")}
		}, entry: same("up"), want: packer.ErrUnsafeContent},
		{name: "hard link out", entries: func(_ hostileEnv, dir string) []testtar.Entry {
			return []testtar.Entry{testtar.HardLink(dir+"/h", "../sentinel/x")}
		}, entry: same("h"), want: packer.ErrUnsafeContent},
		{name: "hard link to an absolute path", entries: func(_ hostileEnv, dir string) []testtar.Entry {
			return []testtar.Entry{testtar.HardLink(dir+"/passwd", "/etc/passwd")}
		}, entry: same("passwd"), want: packer.ErrUnsafeContent},
		{name: "character device", entries: func(_ hostileEnv, dir string) []testtar.Entry {
			return []testtar.Entry{testtar.Special(dir+"/null", tar.TypeChar)}
		}, entry: same("null"), want: packer.ErrUnsafeContent},
		{name: "block device", entries: func(_ hostileEnv, dir string) []testtar.Entry {
			return []testtar.Entry{testtar.Special(dir+"/sda", tar.TypeBlock)}
		}, entry: same("sda"), want: packer.ErrUnsafeContent},
		{name: "fifo", entries: func(_ hostileEnv, dir string) []testtar.Entry {
			return []testtar.Entry{testtar.Special(dir+"/pipe", tar.TypeFifo)}
		}, entry: same("pipe"), want: packer.ErrUnsafeContent},
		{name: "duplicate names", entries: func(_ hostileEnv, dir string) []testtar.Entry {
			return []testtar.Entry{testtar.File(dir+"/dup.txt", "one"), testtar.File(dir+"/dup.txt", "two")}
		}, entry: same("dup.txt"), want: packer.ErrUnsafeContent},
		{name: "gzip bomb", entries: func(_ hostileEnv, dir string) []testtar.Entry {
			return []testtar.Entry{testtar.Zeros(dir+"/zeros.bin", 64<<20)}
		}, entry: same("zeros.bin"), opts: packer.UnpackOptions{MaxSize: 1 << 20}, want: packer.ErrTooLarge},
	}
}

// hostileCase is a pull from a registry that serves something hostile.
type hostileCase struct {
	name string
	// serve fills the registry and sets its faults; it returns what the
	// error must name: the entry, blob or manifest at fault.
	serve func(t *testing.T, reg *hostileregistry.Registry, e hostileEnv) string
	opts  packer.UnpackOptions
	// want is the sentinel the error must match; status, when set
	// instead, the status of the *errcode.ErrorResponse it must hold.
	want   error
	status int
	// unsafeEntry says the error is a *packer.UnsafeEntryError for the
	// entry serve returned.
	unsafeEntry bool
	// after checks what the registry saw, once it has stopped.
	after func(t *testing.T, reg *hostileregistry.Registry, mention string)
}

// sentLess checks that the client stopped reading a body early: the
// registry sent less than limit bytes in all.
func sentLess(limit int64) func(t *testing.T, reg *hostileregistry.Registry, _ string) {
	return func(t *testing.T, reg *hostileregistry.Registry, _ string) {
		t.Helper()
		var sent int64
		for _, r := range reg.Requests() {
			sent += r.Sent
		}
		if sent >= limit {
			t.Errorf("the registry sent %d bytes, want the client to stop before %d: %+v", sent, limit, reg.Requests())
		}
	}
}

// fetchedOnce checks that the manifest the error names was fetched once:
// the client follows no reference back to it.
func fetchedOnce(t *testing.T, reg *hostileregistry.Registry, mention string) {
	t.Helper()
	if n := reg.Count("GET", "/manifests/"+mention); n != 1 {
		t.Errorf("the manifest was fetched %d times, want once: %+v", n, reg.Requests())
	}
}

// closeMidBody makes the registry close the connection halfway through
// the body of the blob d.
func closeMidBody(reg *hostileregistry.Registry, d ocispec.Descriptor) {
	reg.Fault(hostileregistry.Fault{Method: "GET", Path: "/blobs/" + d.Digest.String(), CloseAfter: d.Size / 2})
}

// bigValues is a values.yaml large enough to be cut in the middle.
var bigValues = strings.Repeat("key: value\n", 64<<10)

func hostileCases() []hostileCase {
	var cases []hostileCase
	for _, a := range tarAttacks() {
		cases = append(cases,
			hostileCase{
				name: "native " + a.name,
				serve: func(t *testing.T, reg *hostileregistry.Registry, e hostileEnv) string {
					putNative(t, reg, append([]testtar.Entry{testtar.Dir("files/")}, a.entries(e, "files")...)...)
					return a.entry(e, "files")
				},
				opts: a.opts, want: a.want, unsafeEntry: errors.Is(a.want, packer.ErrUnsafeContent),
			},
			hostileCase{
				name: "palette " + a.name,
				serve: func(t *testing.T, reg *hostileregistry.Registry, e hostileEnv) string {
					putPalette(t, reg, a.entries(e, hostileTop)...)
					return a.entry(e, hostileTop)
				},
				opts: a.opts, want: a.want, unsafeEntry: errors.Is(a.want, packer.ErrUnsafeContent),
			})
	}
	cases = append(cases, []hostileCase{
		// Blobs that do not match their descriptors.
		{name: "native layer larger than its descriptor", serve: func(t *testing.T, reg *hostileregistry.Registry, e hostileEnv) string {
			p := putNative(t, reg)
			reg.Fault(hostileregistry.Fault{Method: "GET", Path: "/blobs/" + p.values.Digest.String(), Append: []byte("b: 2\n")})
			return "values.yaml"
		}, want: packer.ErrUnsafeContent},
		{name: "native layer larger than its descriptor, without Content-Length", serve: func(t *testing.T, reg *hostileregistry.Registry, e hostileEnv) string {
			p := putNative(t, reg)
			reg.Fault(hostileregistry.Fault{Method: "GET", Path: "/blobs/" + p.values.Digest.String(), Append: []byte("b: 2\n"), Chunked: true})
			return "values.yaml"
		}, want: packer.ErrUnsafeContent},
		{name: "palette archive larger than its descriptor", serve: func(t *testing.T, reg *hostileregistry.Registry, e hostileEnv) string {
			p := putPalette(t, reg)
			reg.Fault(hostileregistry.Fault{Method: "GET", Path: "/blobs/" + p.archive.Digest.String(), Append: make([]byte, 1<<20)})
			return hostileArchiveTitle
		}, want: packer.ErrUnsafeContent},
		{name: "palette archive larger than its descriptor, without Content-Length", serve: func(t *testing.T, reg *hostileregistry.Registry, e hostileEnv) string {
			p := putPalette(t, reg)
			reg.Fault(hostileregistry.Fault{Method: "GET", Path: "/blobs/" + p.archive.Digest.String(), Append: make([]byte, 1<<20), Chunked: true})
			return hostileArchiveTitle
		}, want: packer.ErrUnsafeContent},
		{name: "native layer digest mismatch", serve: func(t *testing.T, reg *hostileregistry.Registry, e hostileEnv) string {
			p := putNative(t, reg)
			reg.Fault(hostileregistry.Fault{Method: "GET", Path: "/blobs/" + p.values.Digest.String(), Body: []byte("a: 2\n")})
			return "values.yaml"
		}, want: packer.ErrUnsafeContent},
		{name: "native folder layer digest mismatch", serve: func(t *testing.T, reg *hostileregistry.Registry, e hostileEnv) string {
			p := putNative(t, reg, testtar.Dir("files/"), testtar.File("files/a.txt", "a"))
			data := testtar.Gzip(t, testtar.Tar(t, testtar.Dir("files/"), testtar.File("files/a.txt", "a")))
			data[len(data)/2] ^= 1
			reg.Fault(hostileregistry.Fault{Method: "GET", Path: "/blobs/" + p.files.Digest.String(), Body: data})
			return "files"
		}, want: packer.ErrUnsafeContent},
		{name: "palette archive digest mismatch", serve: func(t *testing.T, reg *hostileregistry.Registry, e hostileEnv) string {
			// Padding after the tar's end: the archive unpacks the same
			// either way, only the digest tells.
			good := append(testtar.Tar(t, testtar.File("pack.json", hostilePackJSON)), make([]byte, 512)...)
			bad := slices.Clone(good)
			bad[len(bad)-1] = 'x'
			p := putPaletteData(t, reg, good)
			reg.Fault(hostileregistry.Fault{Method: "GET", Path: "/blobs/" + p.archive.Digest.String(), Body: bad})
			return hostileArchiveTitle
		}, want: packer.ErrUnsafeContent},
		{name: "manifest digest mismatch", serve: func(t *testing.T, reg *hostileregistry.Registry, e hostileEnv) string {
			p := putNative(t, reg)
			bad := bytes.Replace(p.raw, []byte(`"values.yaml"`), []byte(`"values.yml."`), 1)
			if bytes.Equal(bad, p.raw) {
				t.Fatal("the manifest does not name values.yaml")
			}
			reg.Fault(hostileregistry.Fault{Method: "GET", Path: "/manifests/" + p.manifest.Digest.String(), Body: bad})
			return p.manifest.Digest.String()
		}, want: packer.ErrUnsafeContent},

		// Manifests too large to read.
		{name: "manifest of 100 MB", serve: func(t *testing.T, reg *hostileregistry.Registry, e hostileEnv) string {
			p := putNative(t, reg)
			reg.Fault(hostileregistry.Fault{Path: p.repo + "/manifests/" + hostileVersion, Generate: 100 << 20})
			return p.manifest.Digest.String()
		}, want: packer.ErrTooLarge, after: sentLess(1 << 20)},
		{name: "manifest of 100 MB behind a small HEAD", serve: func(t *testing.T, reg *hostileregistry.Registry, e hostileEnv) string {
			p := putNative(t, reg)
			reg.Fault(hostileregistry.Fault{Method: "GET", Path: "/manifests/" + p.manifest.Digest.String(), Generate: 100 << 20})
			return p.manifest.Digest.String()
		}, want: packer.ErrUnsafeContent, after: sentLess(16 << 20)},
		{name: "manifest of 100 MB behind a small HEAD, without Content-Length", serve: func(t *testing.T, reg *hostileregistry.Registry, e hostileEnv) string {
			p := putNative(t, reg)
			reg.Fault(hostileregistry.Fault{Method: "GET", Path: "/manifests/" + p.manifest.Digest.String(), Generate: 100 << 20, Chunked: true})
			return p.manifest.Digest.String()
		}, want: packer.ErrUnsafeContent, after: sentLess(16 << 20)},

		// Manifests that refer to themselves. A manifest cannot hold its
		// own digest: only a registry that claims a digest for bytes
		// that are not its own can serve one.
		{name: "index that lists itself", serve: func(t *testing.T, reg *hostileregistry.Registry, e hostileEnv) string {
			self := digest.FromString("an index that lists itself")
			raw, err := json.Marshal(ocispec.Index{
				Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex,
				Manifests: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageIndex, Digest: self, Size: 200}},
			})
			if err != nil {
				t.Fatal(err)
			}
			reg.PutAs(self, ocispec.MediaTypeImageIndex, raw)
			reg.Tag(hostileLoc(reg).NativeRepository(hostileName), hostileVersion, self)
			return self.String()
		}, want: packer.ErrUnsafeContent, after: fetchedOnce},
		{name: "manifest whose layer is itself", serve: func(t *testing.T, reg *hostileregistry.Registry, e hostileEnv) string {
			self := digest.FromString("a manifest whose layer is itself")
			cfg := reg.Put(mediatypes.PaletteConfig, []byte(mediatypes.PaletteConfigData))
			raw, err := json.Marshal(ocispec.Manifest{
				Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cfg,
				Layers: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageManifest, Digest: self, Size: 300,
					Annotations: map[string]string{mediatypes.AnnotationTitle: hostileArchiveTitle}}},
			})
			if err != nil {
				t.Fatal(err)
			}
			reg.PutAs(self, ocispec.MediaTypeImageManifest, raw)
			reg.Tag(hostileLoc(reg).PaletteRepository(hostileName), hostileVersion, self)
			return self.String()
		}, want: packer.ErrUnsafeContent, after: fetchedOnce},

		// Wrong media types.
		{name: "tag answered with a media type that is not a manifest", serve: func(t *testing.T, reg *hostileregistry.Registry, e hostileEnv) string {
			p := putNative(t, reg)
			reg.Fault(hostileregistry.Fault{Path: p.repo + "/manifests/" + hostileVersion, ContentType: "text/html"})
			return "text/html"
		}, want: packer.ErrNotPack},
		{name: "manifest fetched with another media type than resolved", serve: func(t *testing.T, reg *hostileregistry.Registry, e hostileEnv) string {
			p := putNative(t, reg)
			reg.Fault(hostileregistry.Fault{Method: "GET", Path: "/manifests/" + p.manifest.Digest.String(), ContentType: ocispec.MediaTypeImageIndex})
			return p.manifest.Digest.String()
		}, want: packer.ErrUnsafeContent},
		{name: "manifest the registry calls an index", serve: func(t *testing.T, reg *hostileregistry.Registry, e hostileEnv) string {
			p := putNative(t, reg)
			reg.PutAs(p.manifest.Digest, ocispec.MediaTypeImageIndex, p.raw)
			return p.manifest.Digest.String()
		}, want: packer.ErrUnsafeContent},
		{name: "container image instead of a pack", serve: func(t *testing.T, reg *hostileregistry.Registry, e hostileEnv) string {
			cfg := reg.Put(ocispec.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`))
			layer := reg.Put(ocispec.MediaTypeImageLayerGzip, testtar.Gzip(t, testtar.Tar(t, testtar.File("pack.json", hostilePackJSON))))
			d, _ := putManifest(t, reg, hostileLoc(reg).NativeRepository(hostileName), ocispec.Manifest{Config: cfg, Layers: []ocispec.Descriptor{layer}})
			return d.Digest.String()
		}, want: packer.ErrNotPack},

		// Server errors: retried, and reported when they last.
		{name: "status 500 on a layer, every time", serve: func(t *testing.T, reg *hostileregistry.Registry, e hostileEnv) string {
			p := putNative(t, reg)
			reg.Fault(hostileregistry.Fault{Path: "/blobs/" + p.values.Digest.String(), Status: 500})
			return "values.yaml"
		}, status: 500, after: func(t *testing.T, reg *hostileregistry.Registry, _ string) {
			t.Helper()
			n := 0
			for _, r := range reg.Requests() {
				if r.Faulty {
					n++
				}
			}
			if n < 2 {
				t.Errorf("the failing layer was asked for %d times; a server error is worth a retry", n)
			}
		}},
		{name: "status 500 on the manifest, every time", serve: func(t *testing.T, reg *hostileregistry.Registry, e hostileEnv) string {
			p := putNative(t, reg)
			putPalette(t, reg)
			reg.Fault(hostileregistry.Fault{Path: p.repo + "/manifests/" + hostileVersion, Status: 500})
			return p.repo
		}, status: 500, after: func(t *testing.T, reg *hostileregistry.Registry, _ string) {
			t.Helper()
			// A failing registry is not a registry without the native
			// artifact: the Palette archive is not tried instead.
			for _, r := range reg.Requests() {
				if strings.Contains(r.Path, ociregistry.PaletteRepoPrefix) {
					t.Errorf("the Palette archive was asked for after a server error: %s %s", r.Method, r.Path)
				}
			}
		}},

		// Connections closed in the middle of a body.
		{name: "connection closed in the middle of a native layer", serve: func(t *testing.T, reg *hostileregistry.Registry, e hostileEnv) string {
			p := putNative(t, reg)
			big := withAnnotations(reg.Put(mediatypes.PackFile, []byte(bigValues)), mediatypes.AnnotationTitle, "big.yaml")
			p.m.Layers = append(p.m.Layers, big)
			putManifest(t, reg, p.repo, p.m)
			closeMidBody(reg, big)
			return "big.yaml"
		}, want: packer.ErrUnsafeContent},
		{name: "connection closed in the middle of a palette archive", serve: func(t *testing.T, reg *hostileregistry.Registry, e hostileEnv) string {
			p := putPalette(t, reg, testtar.File(hostileTop+"/big.yaml", bigValues))
			closeMidBody(reg, p.archive)
			return hostileArchiveTitle
		}, want: packer.ErrUnsafeContent},
		{name: "connection closed in the middle of the manifest", serve: func(t *testing.T, reg *hostileregistry.Registry, e hostileEnv) string {
			p := putNative(t, reg)
			reg.Fault(hostileregistry.Fault{Method: "GET", Path: "/manifests/" + p.manifest.Digest.String(), CloseAfter: p.manifest.Size / 2})
			return p.manifest.Digest.String()
		}, want: packer.ErrUnsafeContent},
	}...)
	return cases
}

// TestPullHostile pulls crafted artifacts from a registry that lies, and
// expects each pull to fail with a clear error, write nothing outside the
// target and leave no folder behind; with --force over an existing
// target, to leave it as it was.
func TestPullHostile(t *testing.T) {
	c := newClient(t)
	for _, tc := range hostileCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newHostileEnv(t)
			pull := func(t *testing.T, force bool) {
				t.Helper()
				reg := hostileregistry.New(t)
				mention := tc.serve(t, reg, e)
				opts := ociregistry.PullOptions{UnpackOptions: tc.opts}
				opts.Force = force
				ref := ociregistry.PackRef{Name: hostileName, Version: hostileVersion}
				res, _, err := c.Pull(t.Context(), hostileLoc(reg), ref, e.target, opts)
				if err == nil {
					t.Fatalf("pull succeeded: %+v", res)
				}
				t.Logf("force %v: %v", force, err)
				if res != nil {
					t.Errorf("a result with the error: %+v", res)
				}
				if tc.want != nil && !errors.Is(err, tc.want) {
					t.Errorf("err = %v, want %v", err, tc.want)
				}
				if tc.status != 0 {
					var er *errcode.ErrorResponse
					if !errors.As(err, &er) || er.StatusCode != tc.status {
						t.Errorf("err = %v, want an error response of status %d", err, tc.status)
					}
				}
				if tc.unsafeEntry {
					var ue *packer.UnsafeEntryError
					if !errors.As(err, &ue) || ue.Entry != mention {
						t.Errorf("err = %v, want an UnsafeEntryError naming %q", err, mention)
					}
				}
				if !strings.Contains(err.Error(), mention) {
					t.Errorf("the error does not name %q: %v", mention, err)
				}
				if tc.after != nil {
					reg.Server.Close() // waits for every answer
					tc.after(t, reg, mention)
				}
			}

			pull(t, false)
			e.checkClean(t, nil)

			// With --force, over a target that holds files, nothing
			// changes either.
			keep := map[string]string{"old.txt": "old", "sub": "<dir>"}
			if err := os.MkdirAll(filepath.Join(e.target, "sub"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(e.target, "old.txt"), []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			pull(t, true)
			e.checkClean(t, keep)
		})
	}
}

// TestPullHostileControls pulls the artifacts the hostile cases start
// from, without the hostile part: they are sound, so each case fails for
// its lie alone.
func TestPullHostileControls(t *testing.T) {
	c := newClient(t)
	for _, tc := range []struct {
		name  string
		serve func(t *testing.T, reg *hostileregistry.Registry)
		want  map[string]string
	}{
		{name: "native", serve: func(t *testing.T, reg *hostileregistry.Registry) {
			putNative(t, reg, testtar.Dir("files/"), testtar.File("files/a.txt", "a"))
		}, want: map[string]string{"pack.json": hostilePackJSON, "values.yaml": hostileValues, "files": "<dir>", "files/a.txt": "a"}},
		{name: "palette", serve: func(t *testing.T, reg *hostileregistry.Registry) {
			putPalette(t, reg, testtar.File(hostileTop+"/big.yaml", bigValues))
		}, want: map[string]string{"pack.json": hostilePackJSON, "values.yaml": hostileValues, "big.yaml": bigValues}},
		{name: "palette with padding", serve: func(t *testing.T, reg *hostileregistry.Registry) {
			putPaletteData(t, reg, append(testtar.Tar(t, testtar.File("pack.json", hostilePackJSON)), make([]byte, 512)...))
		}, want: map[string]string{"pack.json": hostilePackJSON}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newHostileEnv(t)
			reg := hostileregistry.New(t)
			tc.serve(t, reg)
			res, _, err := c.Pull(t.Context(), hostileLoc(reg), ociregistry.PackRef{Name: hostileName, Version: hostileVersion}, e.target, ociregistry.PullOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Name != hostileName || res.Version != hostileVersion {
				t.Errorf("result %+v", res)
			}
			if got := testfs.Tree(t, e.target); !maps.Equal(got, tc.want) {
				t.Errorf("pulled %q, want %q", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(tc.want)))
			}
			if names := dirNames(t, e.parent); !slices.Equal(names, []string{"out", "sentinel"}) {
				t.Errorf("the parent folder holds %q", names)
			}
		})
	}
}

// TestPullHostileTransient expects server errors that pass to be retried
// away: the pull succeeds, having asked again.
func TestPullHostileTransient(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	reg := hostileregistry.New(t)
	p := putNative(t, reg, testtar.Dir("files/"), testtar.File("files/a.txt", "a"))
	reg.Fault(hostileregistry.Fault{Path: p.repo + "/manifests/" + hostileVersion, Status: 503, Times: 2})
	reg.Fault(hostileregistry.Fault{Path: "/blobs/" + p.files.Digest.String(), Status: 500, Times: 2})
	e := newHostileEnv(t)
	if _, _, err := c.Pull(t.Context(), hostileLoc(reg), ociregistry.PackRef{Name: hostileName, Version: hostileVersion}, e.target, ociregistry.PullOptions{}); err != nil {
		t.Fatalf("pull through passing server errors: %v", err)
	}
	want := map[string]string{"pack.json": hostilePackJSON, "values.yaml": hostileValues, "files": "<dir>", "files/a.txt": "a"}
	if got := testfs.Tree(t, e.target); !maps.Equal(got, want) {
		t.Errorf("pulled %q, want %q", got, want)
	}
	if n := reg.Count("HEAD", p.repo+"/manifests/"+hostileVersion); n != 3 {
		t.Errorf("the tag was resolved %d times, want 3 (two errors, then the answer)", n)
	}
	if n := reg.Count("GET", "/blobs/"+p.files.Digest.String()); n != 3 {
		t.Errorf("the folder layer was fetched %d times, want 3 (two errors, then the content)", n)
	}
}
