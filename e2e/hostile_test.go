package e2e

import (
	"archive/tar"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/packyard/packyard/internal/hostileregistry"
	"github.com/packyard/packyard/internal/testfs"
	"github.com/packyard/packyard/internal/testtar"
)

// Media types and annotations of the crafted native artifacts, spelled out
// as the other tests do (see pkg/mediatypes).
const (
	hostileMetadataType = "application/vnd.packyard.pack.metadata.v1+json"
	hostileValuesType   = "application/vnd.packyard.pack.values.v1+yaml"
	hostileFilesType    = "application/vnd.packyard.pack.files.v1.tar+gzip"
	hostileUnpackKey    = "io.deis.oras.content.unpack"
	hostileDigestKey    = "io.deis.oras.content.digest"
)

// The pack every crafted artifact claims to be.
const (
	hostilePackJSON     = `{"name":"evil","displayName":"Evil","version":"1.0.0","layer":"addon"}`
	hostileTop          = "evil-1.0.0"
	hostileArchiveTitle = "evil-1.0.0.tar.gz"
)

// hostileTarGz writes entries, unchecked, into a tar.gz; it returns the
// archive and the digest of the tar inside it.
func hostileTarGz(t *testing.T, entries ...testtar.Entry) (gz []byte, tarDigest digest.Digest) {
	t.Helper()
	tarball := testtar.Tar(t, entries...)
	return testtar.Gzip(t, tarball), digest.FromBytes(tarball)
}

// hostileManifest stores m, tagged 1.0.0 in repo.
func hostileManifest(t *testing.T, reg *hostileregistry.Registry, repo string, m ocispec.Manifest) ocispec.Descriptor {
	t.Helper()
	d, _ := reg.PutManifest(t, repo, "1.0.0", m)
	return d
}

// hostileNative stores the native artifact of evil 1.0.0 below team/:
// pack.json, values.yaml and, when entries are given, a folder layer
// "files" of them. It returns the values.yaml layer.
func hostileNative(t *testing.T, reg *hostileregistry.Registry, entries ...testtar.Entry) ocispec.Descriptor {
	t.Helper()
	titled := func(d ocispec.Descriptor, title string) ocispec.Descriptor {
		d.Annotations = map[string]string{ocispec.AnnotationTitle: title}
		return d
	}
	pj := titled(reg.Put(hostileMetadataType, []byte(hostilePackJSON)), "pack.json")
	values := titled(reg.Put(hostileValuesType, []byte("a: 1\n")), "values.yaml")
	layers := []ocispec.Descriptor{pj, values}
	if len(entries) > 0 {
		gz, tarDigest := hostileTarGz(t, entries...)
		files := titled(reg.Put(hostileFilesType, gz), "files")
		files.Annotations[hostileUnpackKey] = "true"
		files.Annotations[hostileDigestKey] = tarDigest.String()
		layers = append(layers, files)
	}
	hostileManifest(t, reg, "team/packs/evil", ocispec.Manifest{
		ArtifactType: artifactTypePack,
		Config:       ocispec.Descriptor{MediaType: packConfigType, Digest: pj.Digest, Size: pj.Size},
		Layers:       layers,
	})
	return values
}

// hostilePalette stores the Palette archive of evil 1.0.0 below team/: a
// top folder holding pack.json, values.yaml and extra. It returns the
// archive's layer.
func hostilePalette(t *testing.T, reg *hostileregistry.Registry, extra ...testtar.Entry) ocispec.Descriptor {
	t.Helper()
	gz, _ := hostileTarGz(t, append([]testtar.Entry{
		testtar.Dir(hostileTop + "/"),
		testtar.File(hostileTop+"/pack.json", hostilePackJSON),
		testtar.File(hostileTop+"/values.yaml", "a: 1\n"),
	}, extra...)...)
	cfg := reg.Put(paletteConfigType, []byte("{}"))
	archive := reg.Put(ocispec.MediaTypeImageLayer, gz)
	archive.Annotations = map[string]string{ocispec.AnnotationTitle: hostileArchiveTitle}
	hostileManifest(t, reg, "team/spectro-packs/archive/evil", ocispec.Manifest{Config: cfg, Layers: []ocispec.Descriptor{archive}})
	return archive
}

// TestHostilePull runs `pack pull` against a registry that serves crafted
// artifacts and lies, and expects each pull to exit 1 with a one-line
// error naming the problem, write nothing outside the target, and leave no
// folder behind; with --force over a folder that holds files, to leave
// the folder as it was.
func TestHostilePull(t *testing.T) {
	t.Parallel()
	env := newClientEnv(t)
	for _, tc := range []struct {
		name string
		// serve fills the registry; it returns what the error must name.
		serve func(t *testing.T, reg *hostileregistry.Registry) string
		args  []string
		// advice, when set, is what the line after the error must hold.
		advice string
	}{
		{name: "palette entry with ..", serve: func(t *testing.T, reg *hostileregistry.Registry) string {
			hostilePalette(t, reg, testtar.File(hostileTop+"/../../sentinel/evil", "x"))
			return `entry "evil-1.0.0/../../sentinel/evil"`
		}},
		{name: "native link out, then a file through it", serve: func(t *testing.T, reg *hostileregistry.Registry) string {
			hostileNative(t, reg,
				testtar.Dir("files/"),
				testtar.Symlink("files/out", "../../sentinel"),
				testtar.File("files/out/evil", "x"))
			return `entry "files/out/evil"`
		}},
		{name: "device file", serve: func(t *testing.T, reg *hostileregistry.Registry) string {
			hostilePalette(t, reg, testtar.Special(hostileTop+"/null", tar.TypeChar))
			return `entry "evil-1.0.0/null": device files`
		}},
		{name: "gzip bomb", serve: func(t *testing.T, reg *hostileregistry.Registry) string {
			hostilePalette(t, reg, testtar.Zeros(hostileTop+"/zeros.bin", 64<<20))
			return `entry "evil-1.0.0/zeros.bin" (67108864 bytes) takes the pack past the 1048576-byte limit`
		}, args: []string{"--max-size", "1MiB"}, advice: "--max-size"},
		{name: "layer digest mismatch", serve: func(t *testing.T, reg *hostileregistry.Registry) string {
			values := hostileNative(t, reg)
			reg.Fault(hostileregistry.Fault{Method: "GET", Path: "/blobs/" + values.Digest.String(), Body: []byte("a: 2\n")})
			return "layer values.yaml: content does not match its descriptor"
		}},
		{name: "layer larger than its descriptor", serve: func(t *testing.T, reg *hostileregistry.Registry) string {
			values := hostileNative(t, reg)
			reg.Fault(hostileregistry.Fault{Method: "GET", Path: "/blobs/" + values.Digest.String(), Append: []byte("b: 2\n")})
			return "layer values.yaml: the registry sends 10 bytes where the descriptor says 5"
		}},
		{name: "manifest of 100 MB", serve: func(t *testing.T, reg *hostileregistry.Registry) string {
			hostileNative(t, reg)
			reg.Fault(hostileregistry.Fault{Path: "/team/packs/evil/manifests/1.0.0", Generate: 100 << 20})
			return "is 104857600 bytes, more than the 4194304 a manifest may have"
		}, advice: "No pack has a manifest over 4 MiB"},
		{name: "connection closed in the middle of the archive", serve: func(t *testing.T, reg *hostileregistry.Registry) string {
			archive := hostilePalette(t, reg, testtar.File(hostileTop+"/big.yaml", strings.Repeat("key: value\n", 64<<10)))
			reg.Fault(hostileregistry.Fault{Method: "GET", Path: "/blobs/" + archive.Digest.String(), CloseAfter: archive.Size / 2})
			return "layer " + hostileArchiveTitle + ": content does not match its descriptor: it ends after"
		}},
		{name: "status 500 on a layer, every time", serve: func(t *testing.T, reg *hostileregistry.Registry) string {
			values := hostileNative(t, reg)
			reg.Fault(hostileregistry.Fault{Path: "/blobs/" + values.Digest.String(), Status: 500})
			return "fetching layer values.yaml: " + reg.Host + "/team/packs/evil: the registry answers 500 on purpose (status 500)"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			parent := filepath.Join(t.TempDir(), "parent")
			target, sentinel := filepath.Join(parent, "out"), filepath.Join(parent, "sentinel")
			if err := os.MkdirAll(sentinel, 0o755); err != nil {
				t.Fatal(err)
			}
			pull := func(t *testing.T, extra ...string) {
				t.Helper()
				reg := hostileregistry.New(t)
				mention := tc.serve(t, reg)
				args := append([]string{"pack", "pull", "evil:1.0.0", target}, plainRemote(reg.Host+"/team")...)
				res := env.packyard(t, append(append(args, tc.args...), extra...)...)
				if res.code != 1 {
					t.Fatalf("exit status %d, want 1\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
				}
				if res.stdout != "" {
					t.Errorf("stdout = %q, want nothing", res.stdout)
				}
				t.Logf("packyard %s\n%s", strings.Join(extra, " "), res.stderr)
				lines := strings.Split(strings.TrimSuffix(res.stderr, "\n"), "\n")
				if !strings.HasPrefix(lines[0], "Error: ") || !strings.Contains(lines[0], mention) {
					t.Errorf("the first line of stderr is not an error naming %q:\n%s", mention, res.stderr)
				}
				switch {
				case tc.advice != "" && (len(lines) != 2 || !strings.Contains(lines[1], tc.advice)):
					t.Errorf("stderr is not the error and advice about %s:\n%s", tc.advice, res.stderr)
				case tc.advice == "" && len(lines) > 2:
					t.Errorf("stderr has %d lines, want the error and at most one line of advice:\n%s", len(lines), res.stderr)
				}
			}

			pull(t)
			assertNoLeftovers(t, parent, "sentinel")
			assertNoLeftovers(t, sentinel)

			keep := map[string]string{"old.txt": "old", "sub": "<dir>"}
			if err := os.MkdirAll(filepath.Join(target, "sub"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(target, "old.txt"), []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			pull(t, "--force")
			if got := testfs.Tree(t, target); !maps.Equal(got, keep) {
				t.Errorf("--force changed the target in a failed pull: %q, want %q", got, keep)
			}
			assertNoLeftovers(t, parent, "out", "sentinel")
			assertNoLeftovers(t, sentinel)
		})
	}
}

// TestResumedPull runs `pack pull` against a registry that answers range
// requests and cuts the archive's first download in the middle: the pull
// succeeds, having asked for the rest only.
func TestResumedPull(t *testing.T) {
	t.Parallel()
	env := newClientEnv(t)
	reg := hostileregistry.New(t)
	reg.ServeRanges()
	big := strings.Repeat("key: value\n", 64<<10)
	archive := hostilePalette(t, reg, testtar.File(hostileTop+"/big.yaml", big))
	reg.Fault(hostileregistry.Fault{Method: "GET", Path: "/blobs/" + archive.Digest.String(), CloseAfter: archive.Size / 2, Times: 1})
	target := filepath.Join(t.TempDir(), "out")
	res := env.packyard(t, append([]string{"pack", "pull", "evil:1.0.0", target}, plainRemote(reg.Host+"/team")...)...)
	if res.code != 0 {
		t.Fatalf("exit status %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	want := map[string]string{"pack.json": hostilePackJSON, "values.yaml": "a: 1\n", "big.yaml": big}
	if got := testfs.Tree(t, target); !maps.Equal(got, want) {
		t.Errorf("pulled %d files unlike the pack's %d", len(got), len(want))
	}
	var ranges []string
	for _, r := range reg.Requests() {
		if r.Method == "GET" && strings.HasSuffix(r.Path, "/blobs/"+archive.Digest.String()) {
			ranges = append(ranges, r.Range)
		}
	}
	if len(ranges) != 2 || ranges[0] != "" || ranges[1] != fmt.Sprintf("bytes=%d-%d", archive.Size/2, archive.Size-1) {
		t.Errorf("the archive was asked for with ranges %q, want the whole, then its second half", ranges)
	}
}

// TestHostileCopySource runs `pack copy` from a registry that cuts the
// connection in the middle of the Palette archive and answers no range
// request, to a distribution registry: the error names the source and
// the archive, not the destination's upload, and the destination has no
// trace of the version.
func TestHostileCopySource(t *testing.T) {
	t.Parallel()
	env := newClientEnv(t)
	src := hostileregistry.New(t)
	archive := hostilePalette(t, src, testtar.File(hostileTop+"/big.yaml", strings.Repeat("key: value\n", 64<<10)))
	src.Fault(hostileregistry.Fault{Method: "GET", Path: "/blobs/" + archive.Digest.String(), CloseAfter: archive.Size / 2})
	dst := startRegistry(t, registryOptions{})
	res := env.packyard(t, "pack", "copy", "evil:1.0.0", "--from", src.Host+"/team", "--to", dst.Host+"/mirror", "--plain-http")
	want := "Error: reading blob " + archive.Digest.String() + " (" + hostileArchiveTitle + ") of " + src.Host +
		"/team/spectro-packs/archive/evil:1.0.0: the content ends after "
	if res.code != 1 || !strings.HasPrefix(res.stderr, want) || strings.Contains(res.stderr, dst.Host) || res.stdout != "" {
		t.Errorf("exit status %d, stderr:\n%s\nwant it to start with:\n%s", res.code, res.stderr, want)
	}
	ls := env.packyard(t, "pack", "ls", "-r", dst.Host+"/mirror", "--plain-http", "-o", "json")
	if ls.code != 0 || strings.Contains(ls.stdout, "evil") {
		t.Errorf("the destination lists, after the failed copy (exit %d):\n%s%s", ls.code, ls.stdout, ls.stderr)
	}
}
