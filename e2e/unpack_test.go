package e2e

import (
	"github.com/packyard/packyard/internal/testfs"

	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestBuildUnpackRoundTrip builds each pack and unpacks each encoding back.
func TestBuildUnpackRoundTrip(t *testing.T) {
	t.Parallel()
	for _, dir := range allPacks(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			tmp := t.TempDir()
			layout := filepath.Join(tmp, "layout")
			b := build(t, dir, layout, nil)
			name, version := packMeta(t, dir)
			for _, enc := range []struct {
				name string
				art  *builtArtifact
			}{{"native", b.Native}, {"palette", b.Palette}} {
				out := filepath.Join(tmp, enc.name)
				res := mustPackyard(t, "pack", "unpack", layout, out, "--format", enc.name)
				want := "unpacked " + name + " " + version + " (" + enc.name + " " + enc.art.Manifest.Digest.String() + ") into " + out + ": "
				if !strings.HasPrefix(res.stdout, want) {
					t.Errorf("stdout = %q, want it to start with %q", res.stdout, want)
				}
				testfs.SameTree(t, abs(dir), out)
			}
		})
	}
}

// TestUnpackIntoNonEmptyFolder expects unpack to leave a folder that holds
// files alone unless --force is given, and to replace it with --force.
func TestUnpackIntoNonEmptyFolder(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("examples", "hello-manifests")
	tmp := t.TempDir()
	layout := filepath.Join(tmp, "layout")
	b := build(t, dir, layout, nil)

	target := filepath.Join(tmp, "target")
	if err := os.MkdirAll(filepath.Join(target, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"keep.txt": "mine\n", "sub/values.yaml": "not: the pack's\n"} {
		if err := os.WriteFile(filepath.Join(target, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	before := testfs.Tree(t, target)

	res := packyard(t, "pack", "unpack", layout+":"+b.Tag, target)
	if res.code != 1 {
		t.Fatalf("unpack into a non-empty folder: exit status %d, want 1\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	if !strings.Contains(res.stderr, "--force") {
		t.Errorf("stderr does not mention --force:\n%s", res.stderr)
	}
	if !strings.HasPrefix(res.stderr, "Error: ") {
		t.Errorf("stderr does not start with \"Error: \":\n%s", res.stderr)
	}
	if res.stdout != "" {
		t.Errorf("stdout = %q, want nothing", res.stdout)
	}
	after := testfs.Tree(t, target)
	if len(after) != len(before) {
		t.Errorf("the folder changed: %v, was %v", after, before)
	}
	for p, c := range before {
		if after[p] != c {
			t.Errorf("%s changed: %q, was %q", p, after[p], c)
		}
	}
	assertNoLeftovers(t, tmp, "layout", "target")

	res = mustPackyard(t, "pack", "unpack", layout+":"+b.Tag, target, "--force")
	if !strings.HasPrefix(res.stdout, "unpacked hello-manifests 1.0.0 (native ") {
		t.Errorf("stdout = %q", res.stdout)
	}
	testfs.SameTree(t, abs(dir), target)
	assertNoLeftovers(t, tmp, "layout", "target")
}

// assertNoLeftovers fails unless dir holds exactly the named entries: no
// temporary folders are left behind.
func assertNoLeftovers(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join(names, " ") {
		t.Errorf("%s holds %v, want %v", dir, got, names)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	res := mustPackyard(t, "version")
	want := "packyard " + testVersion + " (commit " + testCommit + ", built " + testDate + ", " +
		runtime.Version() + ", " + runtime.GOOS + "/" + runtime.GOARCH + ")\n"
	if res.stdout != want {
		t.Errorf("version printed %q, want %q", res.stdout, want)
	}

	res = mustPackyard(t, "version", "-o", "json")
	var v map[string]string
	if err := json.Unmarshal([]byte(res.stdout), &v); err != nil {
		t.Fatalf("version -o json: %v\n%s", err, res.stdout)
	}
	for k, w := range map[string]string{"version": testVersion, "commit": testCommit, "date": testDate, "goVersion": runtime.Version()} {
		if v[k] != w {
			t.Errorf("version -o json: %s = %q, want %q", k, v[k], w)
		}
	}
}
