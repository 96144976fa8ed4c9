package packer

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"

	"github.com/packyard/packyard/pkg/mediatypes"
	"github.com/packyard/packyard/pkg/ocilayout"
)

const btPacksDir = "../../testdata/packs"

// btPNG is a valid 2x2 PNG image.
func btPNG(t testing.TB) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	img.Set(0, 0, color.RGBA{R: 255, A: 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// btTarGz makes a gzip'd tar of regular files, in the order given.
func btTarGz(t testing.TB, files [][2]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f[0], Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(f[1])), ModTime: time.Unix(1e9, 0)}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(f[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const (
	btChartYAML  = "apiVersion: v2\nname: demo\nversion: 0.1.0\nappVersion: \"1.0\"\ndescription: a demo chart\n"
	btChartVals  = "replicas: 1\n"
	btChartTmpl  = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\ndata:\n  replicas: \"{{ .Values.replicas }}\"\n"
	btAppYAML    = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n"
	btStandalone = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: standalone\n"
	btRoleTasks  = "- name: hello\n  debug:\n    msg: hello\n"
)

// btWriteSynth writes a pack that exercises every shape a pack folder can
// take: an executable script at the top and deeper, nested and empty
// folders, links to a file and to a folder (at the top and deeper), files
// pack.json does not list, a manifest listed outside manifests/, a role
// outside ansible-roles/, and a chart archive with its unpacked folder
// beside it.
func btWriteSynth(t testing.TB, dir, name, version string) {
	t.Helper()
	packJSON := fmt.Sprintf(`{
  "name": %q,
  "displayName": "Synthetic",
  "version": %q,
  "layer": "addon",
  "addonType": "monitoring",
  "cloudTypes": ["all", "aws"],
  "group": "tests",
  "charts": ["charts/demo-0.1.0.tgz"],
  "kubeManifests": ["manifests/app.yaml", "extra/standalone.yaml"],
  "ansibleRoles": ["ansible-roles/base", "roles/web"]
}
`, name, version)
	chart := btTarGz(t, [][2]string{
		{"demo/Chart.yaml", btChartYAML},
		{"demo/values.yaml", btChartVals},
		{"demo/templates/cm.yaml", btChartTmpl},
	})
	files := []struct {
		rel  string
		data []byte
		mode fs.FileMode
	}{
		{"pack.json", []byte(packJSON), 0o644},
		{"values.yaml", []byte("pack:\n  namespace: demo\ncharts:\n  demo:\n    replicas: 2\n"), 0o644},
		{"README.md", []byte("# Synthetic\n\nA test pack.\n"), 0o644},
		{"logo.png", btPNG(t), 0o644},
		{"charts/demo-0.1.0.tgz", chart, 0o644},
		{"charts/demo/Chart.yaml", []byte(btChartYAML), 0o644},
		{"charts/demo/values.yaml", []byte(btChartVals), 0o644},
		{"charts/demo/templates/cm.yaml", []byte(btChartTmpl), 0o644},
		{"manifests/app.yaml", []byte(btAppYAML), 0o644},
		{"manifests/nested/deep/unlisted.yaml", []byte(btAppYAML), 0o644},
		{"extra/standalone.yaml", []byte(btStandalone), 0o644},
		{"ansible-roles/base/tasks/main.yml", []byte(btRoleTasks), 0o644},
		{"roles/web/tasks/main.yml", []byte(btRoleTasks), 0o644},
		{"roles/README.md", []byte("roles live here\n"), 0o644},
		{"scripts/run.sh", []byte("#!/bin/sh\necho run\n"), 0o755},
		{"scripts/lib/helper.sh", []byte("#!/bin/sh\necho helper\n"), 0o755},
		{"scripts/lib/data.txt", []byte("not executable\n"), 0o644},
		{"docs/guide.md", []byte("# Guide\n"), 0o644},
		{"notes.txt", []byte("stray notes\n"), 0o644},
		{"install.sh", []byte("#!/bin/sh\necho install\n"), 0o755},
	}
	for _, f := range files {
		full := filepath.Join(dir, filepath.FromSlash(f.rel))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, f.data, f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(full, f.mode); err != nil { // past the umask
			t.Fatal(err)
		}
	}
	for _, d := range []string{"empty", "docs/empty-sub"} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.FromSlash(d)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range [][2]string{
		{"docs/guide-link.md", "guide.md"},
		{"docs/chart-src", "../charts/demo"},
		{"manifests/app-link.yaml", "app.yaml"},
		{"latest", "charts/demo"},
		{"readme-link", "README.md"},
	} {
		if err := os.Symlink(l[1], filepath.Join(dir, filepath.FromSlash(l[0]))); err != nil {
			t.Fatal(err)
		}
	}
}

// btEntry is one entry of a folder tree as far as a pack cares.
type btEntry struct {
	kind   string // "file", "dir", "link"
	data   []byte
	exec   bool
	target string
}

func (e btEntry) String() string {
	switch e.kind {
	case "file":
		return fmt.Sprintf("file (%d bytes, %s, exec=%v)", len(e.data), digest.FromBytes(e.data), e.exec)
	case "link":
		return "link to " + e.target
	}
	return e.kind
}

// btSnapshot records every entry below root, links not followed.
func btSnapshot(t testing.TB, root string) map[string]btEntry {
	t.Helper()
	out := map[string]btEntry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch {
		case info.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = btEntry{kind: "file", data: data, exec: info.Mode().Perm()&0o111 != 0}
		case info.IsDir():
			out[rel] = btEntry{kind: "dir"}
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = btEntry{kind: "link", target: target}
		default:
			out[rel] = btEntry{kind: "other " + info.Mode().Type().String()}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// btCompare fails the test for every difference between two snapshots.
func btCompare(t testing.TB, label string, want, got map[string]btEntry) {
	t.Helper()
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		w, wok := want[k]
		g, gok := got[k]
		switch {
		case !gok:
			t.Errorf("%s: %s missing (want %v)", label, k, w)
		case !wok:
			t.Errorf("%s: %s is extra (%v)", label, k, g)
		case w.kind != g.kind || !bytes.Equal(w.data, g.data) || w.exec != g.exec || w.target != g.target:
			t.Errorf("%s: %s is %v, want %v", label, k, g, w)
		}
	}
}

// btCopyTree copies a folder tree, links as links, keeping permission bits.
func btCopyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case info.IsDir():
			return os.MkdirAll(to, 0o755)
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, to)
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if err := os.WriteFile(to, data, 0o644); err != nil {
				return err
			}
			return os.Chmod(to, info.Mode().Perm())
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

func btLoad(t testing.TB, dir string) *Pack {
	t.Helper()
	p, err := Load(t.Context(), dir)
	if err != nil {
		t.Fatalf("loading %s: %v", dir, err)
	}
	return p
}

// btSynth writes the synthetic pack into a fresh folder and loads it.
func btSynth(t testing.TB) *Pack {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "synth")
	btWriteSynth(t, dir, "synth", "1.2.3")
	return btLoad(t, dir)
}

func btBuild(t testing.TB, p *Pack, opts BuildOptions) (*ocilayout.Layout, *BuildResult) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "layout")
	res, err := BuildToLayout(t.Context(), p, root, opts)
	if err != nil {
		t.Fatalf("building %s: %v", p.Dir, err)
	}
	l, err := ocilayout.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	return l, res
}

func btFetch(t testing.TB, f content.Fetcher, desc ocispec.Descriptor) []byte {
	t.Helper()
	data, err := content.FetchAll(t.Context(), f, desc)
	if err != nil {
		t.Fatalf("fetching %s: %v", desc.Digest, err)
	}
	return data
}

func btManifest(t testing.TB, f content.Fetcher, desc ocispec.Descriptor) (*ocispec.Manifest, []byte) {
	t.Helper()
	raw := btFetch(t, f, desc)
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return &m, raw
}

func btGunzip(t testing.TB, data []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestBuildRoundTrip(t *testing.T) {
	entries, err := os.ReadDir(btPacksDir)
	if err != nil {
		t.Fatal(err)
	}
	dirs := map[string]string{}
	for _, e := range entries {
		if e.IsDir() {
			dirs[e.Name()] = filepath.Join(btPacksDir, e.Name())
		}
	}
	if len(dirs) < 4 {
		t.Fatalf("found %d test packs in %s, want at least 4", len(dirs), btPacksDir)
	}
	synth := filepath.Join(t.TempDir(), "synth")
	btWriteSynth(t, synth, "synth", "1.2.3")
	dirs["synthetic"] = synth

	for name, dir := range dirs {
		t.Run(name, func(t *testing.T) {
			p := btLoad(t, dir)
			l, res := btBuild(t, p, BuildOptions{Format: FormatBoth})
			if res.Native == nil || res.Palette == nil {
				t.Fatalf("FormatBoth built native=%v palette=%v", res.Native != nil, res.Palette != nil)
			}
			want := btSnapshot(t, dir)
			for _, a := range res.Artifacts() {
				out := filepath.Join(t.TempDir(), "out")
				ur, err := Unpack(t.Context(), l, a.Manifest, out, UnpackOptions{})
				if err != nil {
					t.Fatalf("unpacking the %s encoding: %v", a.Encoding, err)
				}
				if ur.Encoding != a.Encoding || ur.Name != p.Meta.Name || ur.Version != p.Meta.Version {
					t.Errorf("%s: Unpack says encoding %q, pack %s:%s", a.Encoding, ur.Encoding, ur.Name, ur.Version)
				}
				wantTop := ""
				if a.Encoding == mediatypes.EncodingPalette {
					wantTop = p.Meta.Name + "-" + p.Meta.Version
				}
				if ur.TopFolder != wantTop {
					t.Errorf("%s: TopFolder %q, want %q", a.Encoding, ur.TopFolder, wantTop)
				}
				files := 0
				for _, e := range want {
					if e.kind == "file" {
						files++
					}
				}
				if ur.Files != files {
					t.Errorf("%s: Unpack counted %d files, want %d", a.Encoding, ur.Files, files)
				}
				btCompare(t, a.Encoding, want, btSnapshot(t, out))
			}
		})
	}
}

func TestBuildReproducible(t *testing.T) {
	base := t.TempDir()
	orig := filepath.Join(base, "orig")
	btWriteSynth(t, orig, "synth", "1.2.3")

	a := filepath.Join(base, "a", "synth")
	b := filepath.Join(base, "elsewhere", "deeper", "another-name")
	btCopyTree(t, orig, a)
	btCopyTree(t, orig, b)
	// Give the two copies different times, permission bits that normalise
	// the same, and different owners.
	restamp := func(root string, when time.Time, fileMode, execMode, dirMode fs.FileMode, uid int) {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			info, err := os.Lstat(p)
			if err != nil {
				return err
			}
			if err := os.Lchown(p, uid, uid); err != nil {
				return err
			}
			if info.Mode()&fs.ModeSymlink != 0 {
				return nil
			}
			switch {
			case info.IsDir():
				err = os.Chmod(p, dirMode)
			case info.Mode().Perm()&0o111 != 0:
				err = os.Chmod(p, execMode)
			default:
				err = os.Chmod(p, fileMode)
			}
			if err != nil {
				return err
			}
			return os.Chtimes(p, when, when)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	restamp(a, time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC), 0o644, 0o755, 0o755, 0)
	restamp(b, time.Date(2024, 10, 11, 12, 13, 14, 0, time.UTC), 0o600, 0o700, 0o700, 4242)
	if st, err := os.Stat(filepath.Join(b, "values.yaml")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("copy b not restamped: %v %v", st, err)
	}

	_, ra := btBuild(t, btLoad(t, a), BuildOptions{})
	_, rb := btBuild(t, btLoad(t, b), BuildOptions{})
	if ra.Native.Manifest.Digest != rb.Native.Manifest.Digest {
		t.Errorf("native manifests differ: %s vs %s", ra.Native.Manifest.Digest, rb.Native.Manifest.Digest)
		for i := range min(len(ra.Native.Layers), len(rb.Native.Layers)) {
			if ra.Native.Layers[i].Digest != rb.Native.Layers[i].Digest {
				t.Logf("layer %s differs", ra.Native.Layers[i].Annotations[mediatypes.AnnotationTitle])
			}
		}
	}
	if ra.Palette.Manifest.Digest != rb.Palette.Manifest.Digest {
		t.Errorf("palette manifests differ: %s vs %s", ra.Palette.Manifest.Digest, rb.Palette.Manifest.Digest)
	}

	// A second build of the same folder is the same, too.
	_, ra2 := btBuild(t, btLoad(t, a), BuildOptions{})
	if ra2.Native.Manifest.Digest != ra.Native.Manifest.Digest || ra2.Palette.Manifest.Digest != ra.Palette.Manifest.Digest {
		t.Errorf("rebuilding the same folder changed the digests")
	}

	// A changed file changes both digests.
	if err := os.WriteFile(filepath.Join(b, "scripts", "lib", "data.txt"), []byte("not executable!\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, rc := btBuild(t, btLoad(t, b), BuildOptions{})
	if rc.Native.Manifest.Digest == ra.Native.Manifest.Digest {
		t.Errorf("native manifest digest did not change with the content")
	}
	if rc.Palette.Manifest.Digest == ra.Palette.Manifest.Digest {
		t.Errorf("palette manifest digest did not change with the content")
	}
	// Only the layer holding the file changed.
	var changed []string
	for i := range ra.Native.Layers {
		if ra.Native.Layers[i].Digest != rc.Native.Layers[i].Digest {
			changed = append(changed, ra.Native.Layers[i].Annotations[mediatypes.AnnotationTitle])
		}
	}
	if !slices.Equal(changed, []string{"scripts"}) {
		t.Errorf("changed layers %q, want [scripts]", changed)
	}
}

// btSynthLayers are the native layers of the synthetic pack, in order.
var btSynthLayers = [][2]string{
	{"pack.json", mediatypes.PackMetadata},
	{"values.yaml", mediatypes.PackValues},
	{"README.md", mediatypes.PackReadme},
	{"logo.png", mediatypes.PackLogo},
	{"charts/demo-0.1.0.tgz", mediatypes.PackChart},
	{"extra/standalone.yaml", mediatypes.PackManifest},
	{"ansible-roles", mediatypes.PackAnsibleRoles},
	{"manifests", mediatypes.PackManifests},
	{"roles/web", mediatypes.PackAnsibleRoles},
	{"charts", mediatypes.PackFiles},
	{"docs", mediatypes.PackFiles},
	{"empty", mediatypes.PackFiles},
	{"install.sh", mediatypes.PackFiles}, // executable: kept in a tar for its mode
	{"latest", mediatypes.PackFiles},     // a link: kept in a tar as a link
	{"notes.txt", mediatypes.PackFile},
	{"readme-link", mediatypes.PackFiles},
	{"roles", mediatypes.PackFiles},
	{"scripts", mediatypes.PackFiles},
}

func TestBuildNativeManifest(t *testing.T) {
	p := btSynth(t)
	l, res := btBuild(t, p, BuildOptions{})
	m, raw := btManifest(t, l, res.Native.Manifest)

	if res.Native.Manifest.MediaType != ocispec.MediaTypeImageManifest || res.Native.Manifest.Size != int64(len(raw)) ||
		res.Native.Manifest.ArtifactType != mediatypes.ArtifactTypePack {
		t.Errorf("native manifest descriptor %+v", res.Native.Manifest)
	}
	if m.SchemaVersion != 2 || m.MediaType != ocispec.MediaTypeImageManifest {
		t.Errorf("schemaVersion %d, mediaType %q", m.SchemaVersion, m.MediaType)
	}
	if m.ArtifactType != "application/vnd.packyard.pack.v1" {
		t.Errorf("artifactType %q", m.ArtifactType)
	}
	if m.Config.MediaType != "application/vnd.packyard.pack.config.v1+json" {
		t.Errorf("config media type %q", m.Config.MediaType)
	}
	packJSON, err := os.ReadFile(filepath.Join(p.Dir, "pack.json"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg := btFetch(t, l, m.Config); !bytes.Equal(cfg, packJSON) {
		t.Errorf("config blob is %q, want pack.json's bytes %q", cfg, packJSON)
	}
	if m.Subject != nil {
		t.Errorf("unexpected subject %+v", m.Subject)
	}

	wantAnn := map[string]string{
		"io.packyard.pack.name":             "synth",
		"io.packyard.pack.displayName":      "Synthetic",
		"io.packyard.pack.version":          "1.2.3",
		"org.opencontainers.image.version":  "1.2.3",
		"io.packyard.pack.layer":            "addon",
		"io.packyard.pack.addonType":        "monitoring",
		"io.packyard.pack.cloudTypes":       "all,aws",
		"io.packyard.pack.group":            "tests",
		"org.opencontainers.image.created":  "", // absent
		"io.packyard.pack.eol":              "", // absent: pack.json has none
		"io.packyard.pack.addonSubType":     "", // absent
		"io.deis.oras.content.unpack":       "", // only on layers
		"org.opencontainers.image.ref.name": "", // only in index.json
	}
	for k, v := range wantAnn {
		got, ok := m.Annotations[k]
		if v == "" && ok {
			t.Errorf("manifest annotation %s = %q, want none", k, got)
		} else if v != "" && got != v {
			t.Errorf("manifest annotation %s = %q, want %q", k, got, v)
		}
	}
	if len(m.Annotations) != 8 {
		t.Errorf("manifest has %d annotations, want 8: %v", len(m.Annotations), m.Annotations)
	}

	var got [][2]string
	for _, layer := range m.Layers {
		got = append(got, [2]string{layer.Annotations[ocispec.AnnotationTitle], layer.MediaType})
	}
	if !slices.Equal(got, btSynthLayers) {
		t.Errorf("layers:\n got %q\nwant %q", got, btSynthLayers)
	}
	if !slices.EqualFunc(m.Layers, res.Native.Layers, func(a, b ocispec.Descriptor) bool { return a.Digest == b.Digest }) {
		t.Errorf("BuildResult layers differ from the manifest's")
	}

	folderTypes := []string{mediatypes.PackFiles, mediatypes.PackManifests, mediatypes.PackAnsibleRoles}
	for _, layer := range m.Layers {
		title := layer.Annotations[ocispec.AnnotationTitle]
		if title == "" {
			t.Errorf("layer %s has no title", layer.Digest)
			continue
		}
		blob := btFetch(t, l, layer)
		if slices.Contains(folderTypes, layer.MediaType) {
			if layer.Annotations["io.deis.oras.content.unpack"] != "true" {
				t.Errorf("%s: unpack annotation %q", title, layer.Annotations["io.deis.oras.content.unpack"])
			}
			tarData := btGunzip(t, blob)
			if want := digest.FromBytes(tarData).String(); layer.Annotations["io.deis.oras.content.digest"] != want {
				t.Errorf("%s: content digest annotation %q, want %q", title, layer.Annotations["io.deis.oras.content.digest"], want)
			}
			// Every entry lies in the title folder, the way oras pull needs.
			tr := tar.NewReader(bytes.NewReader(tarData))
			for {
				hdr, err := tr.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				name := strings.TrimSuffix(hdr.Name, "/")
				if name != title && !strings.HasPrefix(name, title+"/") {
					t.Errorf("%s: entry %q lies outside the layer's folder", title, hdr.Name)
				}
				if hdr.Uid != 0 || hdr.Gid != 0 || hdr.Uname != "" || hdr.Gname != "" || !hdr.ModTime.Equal(time.Unix(0, 0)) {
					t.Errorf("%s: entry %q is not normalised: uid %d gid %d %q %q %v", title, hdr.Name, hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname, hdr.ModTime)
				}
			}
			continue
		}
		if _, ok := layer.Annotations["io.deis.oras.content.unpack"]; ok {
			t.Errorf("%s: a single-file layer has the unpack annotation", title)
		}
		src, err := os.ReadFile(filepath.Join(p.Dir, filepath.FromSlash(title)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(blob, src) {
			t.Errorf("%s: layer blob differs from the file", title)
		}
		if layer.MediaType == mediatypes.PackChart {
			if layer.Annotations["io.packyard.chart.name"] != "demo" || layer.Annotations["io.packyard.chart.version"] != "0.1.0" {
				t.Errorf("chart annotations %v", layer.Annotations)
			}
		}
	}
}

func TestBuildPaletteManifest(t *testing.T) {
	p := btSynth(t)
	l, res := btBuild(t, p, BuildOptions{})
	m, raw := btManifest(t, l, res.Palette.Manifest)
	if len(m.Layers) != 1 {
		t.Fatalf("palette manifest has %d layers, want 1", len(m.Layers))
	}
	layer := m.Layers[0]
	// What ORAS 1.0 writes for `oras push REF synth-1.2.3.tar.gz`, field for
	// field and in the same order.
	want := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
		`"config":{"mediaType":"application/vnd.unknown.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},` +
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"` + layer.Digest.String() + `","size":` + fmt.Sprint(layer.Size) +
		`,"annotations":{"org.opencontainers.image.title":"synth-1.2.3.tar.gz"}}]}`
	if string(raw) != want {
		t.Errorf("palette manifest\n got %s\nwant %s", raw, want)
	}
	if res.Palette.Manifest.Digest != digest.FromBytes(raw) || res.Palette.Manifest.MediaType != ocispec.MediaTypeImageManifest {
		t.Errorf("palette descriptor %+v", res.Palette.Manifest)
	}
	if cfg := btFetch(t, l, m.Config); string(cfg) != "{}" {
		t.Errorf("config blob %q", cfg)
	}

	// The archive: one top folder holding every file of the pack, in the
	// inventory's order.
	tr := tar.NewReader(bytes.NewReader(btGunzip(t, btFetch(t, l, layer))))
	var names []string
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
		rel := strings.TrimPrefix(strings.TrimSuffix(hdr.Name, "/"), "synth-1.2.3/")
		if hdr.Typeflag == tar.TypeReg {
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			src, err := os.ReadFile(filepath.Join(p.Dir, filepath.FromSlash(rel)))
			if err != nil || !bytes.Equal(src, data) {
				t.Errorf("archive entry %s differs from the pack's file (%v)", hdr.Name, err)
			}
			if wantMode := map[bool]int64{true: 0o755, false: 0o644}[rel == "install.sh" || strings.HasSuffix(rel, "/run.sh") || strings.HasSuffix(rel, "/helper.sh")]; hdr.Mode != wantMode {
				t.Errorf("archive entry %s has mode %o, want %o", hdr.Name, hdr.Mode, wantMode)
			}
		}
	}
	wantNames := []string{"synth-1.2.3/"}
	for _, f := range p.Files {
		n := "synth-1.2.3/" + f.Path
		if f.Kind == KindDir {
			n += "/"
		}
		wantNames = append(wantNames, n)
	}
	if !slices.Equal(names, wantNames) {
		t.Errorf("archive entries\n got %q\nwant %q", names, wantNames)
	}
}

func TestBuildCreated(t *testing.T) {
	p := btSynth(t)
	created := time.Date(2024, 5, 6, 9, 8, 7, 0, time.FixedZone("CEST", 2*3600))
	l, res := btBuild(t, p, BuildOptions{Created: created})
	const want = "2024-05-06T07:08:07Z"
	nm, _ := btManifest(t, l, res.Native.Manifest)
	if got := nm.Annotations["org.opencontainers.image.created"]; got != want {
		t.Errorf("native created %q, want %q", got, want)
	}
	pm, raw := btManifest(t, l, res.Palette.Manifest)
	if len(pm.Annotations) != 1 || pm.Annotations["org.opencontainers.image.created"] != want {
		t.Errorf("palette annotations %v", pm.Annotations)
	}
	if !bytes.HasSuffix(raw, []byte(`]},"annotations":{"org.opencontainers.image.created":"`+want+`"}}`)) &&
		!bytes.HasSuffix(raw, []byte(`}],"annotations":{"org.opencontainers.image.created":"`+want+`"}}`)) {
		t.Errorf("palette manifest does not end with its created annotation: %s", raw)
	}
	// Without Created the digests differ from those with it.
	_, plain := btBuild(t, p, BuildOptions{})
	if plain.Native.Manifest.Digest == res.Native.Manifest.Digest || plain.Palette.Manifest.Digest == res.Palette.Manifest.Digest {
		t.Errorf("the created annotation did not change the manifests")
	}
}

func TestBuildVersionTag(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "synth")
	btWriteSynth(t, dir, "synth", "1.0.0+build.1")
	p := btLoad(t, dir)
	l, res := btBuild(t, p, BuildOptions{})
	if res.Tag != "1.0.0_build.1" || res.Version != "1.0.0+build.1" || p.Tag() != "1.0.0_build.1" {
		t.Errorf("tag %q, version %q", res.Tag, res.Version)
	}
	m, _ := btManifest(t, l, res.Native.Manifest)
	if m.Annotations["io.packyard.pack.version"] != "1.0.0+build.1" || m.Annotations["org.opencontainers.image.version"] != "1.0.0+build.1" {
		t.Errorf("version annotations %v", m.Annotations)
	}
	var tags []string
	for _, d := range l.Manifests() {
		tags = append(tags, d.Annotations[ocispec.AnnotationRefName])
		if d.Annotations["io.packyard.pack.version"] != "1.0.0+build.1" {
			t.Errorf("index entry version annotation %q", d.Annotations["io.packyard.pack.version"])
		}
	}
	if !slices.Equal(tags, []string{"1.0.0_build.1", "1.0.0_build.1-palette"}) {
		t.Errorf("layout tags %q", tags)
	}
	pm, _ := btManifest(t, l, res.Palette.Manifest)
	if title := pm.Layers[0].Annotations[ocispec.AnnotationTitle]; title != "synth-1.0.0+build.1.tar.gz" {
		t.Errorf("archive title %q", title)
	}
}

// btDirNames lists a folder's entries.
func btDirNames(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// btBlobNames lists the blobs of a layout.
func btBlobNames(t testing.TB, root string) []string {
	t.Helper()
	return btDirNames(t, filepath.Join(root, "blobs", "sha256"))
}

func TestBuildToLayoutLintError(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "broken")
	btWriteSynth(t, dir, "synth", "1.2.3")
	if err := os.Remove(filepath.Join(dir, "values.yaml")); err != nil {
		t.Fatal(err)
	}
	p := btLoad(t, dir)
	parent := t.TempDir()
	root := filepath.Join(parent, "layout")
	res, err := BuildToLayout(t.Context(), p, root, BuildOptions{})
	var lerr *LintError
	if !errors.As(err, &lerr) || !errors.Is(err, ErrInvalidPack) {
		t.Fatalf("err = %v, want a *LintError", err)
	}
	if res != nil {
		t.Errorf("result %+v for a failed build", res)
	}
	if lerr.Report.Errors() != 1 || !slices.ContainsFunc(lerr.Report.Findings, func(f Finding) bool {
		return f.Severity == SeverityError && f.File == "values.yaml" && f.Code == CodeMissingFile
	}) {
		t.Errorf("report %+v", lerr.Report.Findings)
	}
	if names := btDirNames(t, parent); len(names) != 0 {
		t.Errorf("a failed build left %q beside the layout", names)
	}
}

func TestBuildToLayoutRefusesOtherFolder(t *testing.T) {
	p := btSynth(t)
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "keep.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := BuildToLayout(t.Context(), p, root, BuildOptions{}); !errors.Is(err, ErrTargetNotEmpty) {
		t.Fatalf("building into a folder of other files: %v, want ErrTargetNotEmpty", err)
	}
	if names := btDirNames(t, root); !slices.Equal(names, []string{"keep.txt"}) {
		t.Errorf("the folder now holds %q", names)
	}
	if data, _ := os.ReadFile(filepath.Join(root, "keep.txt")); string(data) != "mine" {
		t.Errorf("keep.txt changed: %q", data)
	}
	// A file given as the layout is refused too.
	file := filepath.Join(root, "keep.txt")
	if _, err := BuildToLayout(t.Context(), p, file, BuildOptions{}); !errors.Is(err, ErrTargetNotFolder) {
		t.Fatalf("building into a file: %v, want ErrTargetNotFolder", err)
	}

	// An empty folder becomes the layout.
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := BuildToLayout(t.Context(), p, empty, BuildOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ocilayout.Open(empty); err != nil {
		t.Errorf("the empty folder is not a layout: %v", err)
	}
	if names := btDirNames(t, filepath.Dir(empty)); len(names) != 1 {
		t.Errorf("building into an empty folder left %q beside it", names)
	}
}

func TestBuildToLayoutTagCollision(t *testing.T) {
	base := t.TempDir()
	alpha := filepath.Join(base, "alpha")
	beta := filepath.Join(base, "beta")
	btWriteSynth(t, alpha, "alpha", "1.0.0")
	btWriteSynth(t, beta, "beta", "1.0.0")
	root := filepath.Join(base, "layout")
	first, err := BuildToLayout(t.Context(), btLoad(t, alpha), root, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	index, err := os.ReadFile(filepath.Join(root, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	blobs := btBlobNames(t, root)

	_, err = BuildToLayout(t.Context(), btLoad(t, beta), root, BuildOptions{})
	if !errors.Is(err, errdef.ErrAlreadyExists) {
		t.Fatalf("second pack with the same version: err = %v, want ErrAlreadyExists", err)
	}
	if after, _ := os.ReadFile(filepath.Join(root, "index.json")); !bytes.Equal(after, index) {
		t.Errorf("index.json changed:\n%s\n%s", index, after)
	}
	if after := btBlobNames(t, root); !slices.Equal(after, blobs) {
		t.Errorf("blobs changed: %d -> %d", len(blobs), len(after))
	}

	// Rebuilding the same pack is fine and changes nothing.
	again, err := BuildToLayout(t.Context(), btLoad(t, alpha), root, BuildOptions{})
	if err != nil {
		t.Fatalf("rebuilding the same pack: %v", err)
	}
	if again.Native.Manifest.Digest != first.Native.Manifest.Digest || again.Palette.Manifest.Digest != first.Palette.Manifest.Digest {
		t.Errorf("rebuild changed the digests")
	}
	if after, _ := os.ReadFile(filepath.Join(root, "index.json")); !bytes.Equal(after, index) {
		t.Errorf("rebuild changed index.json:\n%s\n%s", index, after)
	}
	if after := btBlobNames(t, root); !slices.Equal(after, blobs) {
		t.Errorf("rebuild changed the blobs: %d -> %d", len(blobs), len(after))
	}
	for _, n := range blobs {
		if strings.HasPrefix(n, ".") {
			t.Errorf("temporary file %s left in the layout", n)
		}
	}
}

func TestBuildFormats(t *testing.T) {
	p := btSynth(t)
	_, both := btBuild(t, p, BuildOptions{Format: FormatBoth})
	for _, tc := range []struct {
		format          Format
		native, palette bool
		tags            []string
	}{
		{FormatNative, true, false, []string{"1.2.3"}},
		{FormatPalette, false, true, []string{"1.2.3-palette"}},
		{"", true, true, []string{"1.2.3", "1.2.3-palette"}},
	} {
		t.Run(string(tc.format), func(t *testing.T) {
			l, res := btBuild(t, p, BuildOptions{Format: tc.format})
			if (res.Native != nil) != tc.native || (res.Palette != nil) != tc.palette {
				t.Fatalf("native=%v palette=%v", res.Native != nil, res.Palette != nil)
			}
			var tags []string
			for _, d := range l.Manifests() {
				tags = append(tags, d.Annotations[ocispec.AnnotationRefName])
			}
			if !slices.Equal(tags, tc.tags) {
				t.Errorf("tags %q, want %q", tags, tc.tags)
			}
			// Each encoding is the same as when both are built.
			if tc.native && res.Native.Manifest.Digest != both.Native.Manifest.Digest {
				t.Errorf("native digest differs from a FormatBoth build")
			}
			if tc.palette && res.Palette.Manifest.Digest != both.Palette.Manifest.Digest {
				t.Errorf("palette digest differs from a FormatBoth build")
			}
			// Only the blobs of the built encodings are stored.
			want := map[digest.Digest]bool{}
			for _, a := range res.Artifacts() {
				want[a.Manifest.Digest] = true
				m, _ := btManifest(t, l, a.Manifest)
				want[m.Config.Digest] = true
				for _, layer := range m.Layers {
					want[layer.Digest] = true
				}
			}
			got := btBlobNames(t, l.Root())
			if len(got) != len(want) {
				t.Errorf("layout holds %d blobs, want %d", len(got), len(want))
			}
			for _, n := range got {
				if !want[digest.NewDigestFromEncoded(digest.SHA256, n)] {
					t.Errorf("unexpected blob %s", n)
				}
			}
		})
	}
	if _, err := ParseFormat("tarball"); err == nil {
		t.Errorf("ParseFormat accepted an unknown format")
	}
}

func TestResolveInLayout(t *testing.T) {
	ctx := t.Context()
	p := btSynth(t)
	l, res := btBuild(t, p, BuildOptions{})
	native, palette := res.Native.Manifest.Digest, res.Palette.Manifest.Digest

	for _, tc := range []struct {
		ref, encoding string
		want          digest.Digest
	}{
		{"1.2.3", "", native},
		{"1.2.3", mediatypes.EncodingNative, native},
		{"1.2.3", mediatypes.EncodingPalette, palette},
		{"1.2.3-palette", "", palette},
		{"1.2.3-palette", mediatypes.EncodingPalette, palette},
		{native.String(), "", native},
		{palette.String(), "", palette},
		{"", "", native},
		{"", mediatypes.EncodingNative, native},
		{"", mediatypes.EncodingPalette, palette},
	} {
		d, err := ResolveInLayout(ctx, l, tc.ref, tc.encoding)
		if err != nil {
			t.Errorf("ResolveInLayout(%q, %q): %v", tc.ref, tc.encoding, err)
			continue
		}
		if d.Digest != tc.want {
			t.Errorf("ResolveInLayout(%q, %q) = %s, want %s", tc.ref, tc.encoding, d.Digest, tc.want)
		}
		if _, ok := d.Annotations[ocispec.AnnotationRefName]; ok {
			t.Errorf("ResolveInLayout(%q, %q) kept the ref.name annotation", tc.ref, tc.encoding)
		}
		if d.MediaType != ocispec.MediaTypeImageManifest || d.Size <= 0 {
			t.Errorf("ResolveInLayout(%q, %q) = %+v", tc.ref, tc.encoding, d)
		}
	}
	for _, tc := range [][2]string{
		{"9.9.9", ""},
		{"1.2.3-palette", mediatypes.EncodingNative},
		{"sha256:" + strings.Repeat("0", 64), ""},
	} {
		if _, err := ResolveInLayout(ctx, l, tc[0], tc[1]); !errors.Is(err, errdef.ErrNotFound) {
			t.Errorf("ResolveInLayout(%q, %q): err = %v, want ErrNotFound", tc[0], tc[1], err)
		}
	}

	// A layout with the Palette archive only: the plain tag falls back to
	// TAG-palette.
	pl, pres := btBuild(t, p, BuildOptions{Format: FormatPalette})
	for _, ref := range []string{"1.2.3", "1.2.3-palette", ""} {
		d, err := ResolveInLayout(ctx, pl, ref, "")
		if err != nil || d.Digest != pres.Palette.Manifest.Digest {
			t.Errorf("palette-only layout, %q: %s, %v", ref, d.Digest, err)
		}
	}
	if _, err := ResolveInLayout(ctx, pl, "1.2.3", mediatypes.EncodingNative); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("native encoding in a palette-only layout: err = %v, want ErrNotFound", err)
	}
	if _, err := ResolveInLayout(ctx, pl, "", mediatypes.EncodingNative); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("no ref, native encoding in a palette-only layout: err = %v, want ErrNotFound", err)
	}

	// Several packs: a reference is needed.
	other := filepath.Join(t.TempDir(), "synth")
	btWriteSynth(t, other, "synth", "1.2.4")
	res2, err := BuildToLayout(ctx, btLoad(t, other), l.Root(), BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l, err = ocilayout.Open(l.Root())
	if err != nil {
		t.Fatal(err)
	}
	d, err := ResolveInLayout(ctx, l, "", "")
	if !errors.Is(err, errdef.ErrMissingReference) || d.Digest != "" {
		t.Errorf("no ref with two packs: %s, %v; want ErrMissingReference", d.Digest, err)
	}
	if d, err := ResolveInLayout(ctx, l, "1.2.4", ""); err != nil || d.Digest != res2.Native.Manifest.Digest {
		t.Errorf("1.2.4: %s, %v", d.Digest, err)
	}
	if d, err := ResolveInLayout(ctx, l, "1.2.3", ""); err != nil || d.Digest != native {
		t.Errorf("1.2.3 beside 1.2.4: %s, %v", d.Digest, err)
	}

	// An empty layout holds no pack.
	empty, err := ocilayout.Create(filepath.Join(t.TempDir(), "empty"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ResolveInLayout(ctx, empty, "", ""); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("empty layout: err = %v, want ErrNotFound", err)
	}
}

func TestSplitLayoutRef(t *testing.T) {
	base := t.TempDir()
	layout := filepath.Join(base, "layout")
	if _, err := ocilayout.Create(layout); err != nil {
		t.Fatal(err)
	}
	colon := filepath.Join(base, "with:colon")
	if err := os.Mkdir(colon, 0o755); err != nil {
		t.Fatal(err)
	}
	dgst := "sha256:" + strings.Repeat("ab", 32)
	for _, tc := range []struct{ in, root, ref string }{
		{layout, layout, ""},
		{layout + ":1.2.3", layout, "1.2.3"},
		{layout + ":1.0.0_build.1-palette", layout, "1.0.0_build.1-palette"},
		{layout + "@" + dgst, layout, dgst},
		{layout + "@not-a-digest", layout + "@not-a-digest", ""},
		{colon, colon, ""},           // the colon is part of an existing folder's name
		{colon + ":v1", colon, "v1"}, // a tag after such a folder
		{filepath.Join(base, "new") + ":2.0", filepath.Join(base, "new"), "2.0"}, // a folder yet to be made
		{filepath.Join(base, "a:b", "c"), filepath.Join(base, "a:b", "c"), ""},   // a colon before a slash is part of the path
		{"relative:tag", "relative", "tag"},
		{"plain", "plain", ""},
	} {
		root, ref := SplitLayoutRef(tc.in)
		if root != tc.root || ref != tc.ref {
			t.Errorf("SplitLayoutRef(%q) = %q, %q; want %q, %q", tc.in, root, ref, tc.root, tc.ref)
		}
	}
}

// Ensure the helpers compile against the interfaces they are used with.
var _ content.Fetcher = (*ocilayout.Layout)(nil)
var _ Ingester = (*ocilayout.Layout)(nil)
