package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"oras.land/oras-go/v2/registry/remote/credentials"

	"github.com/packyard/packyard/cmd/packyard/option"
	"github.com/packyard/packyard/internal/testregistry"
	"github.com/packyard/packyard/pkg/mediatypes"
	"github.com/packyard/packyard/pkg/ociregistry"
	"github.com/packyard/packyard/pkg/packer"
)

// catalogEnv isolates the command from the user's settings and
// credentials.
func catalogEnv(t *testing.T) {
	t.Helper()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	t.Setenv(option.RegistryEnv, "")
	t.Setenv("SOURCE_DATE_EPOCH", "")
}

func catalogRun(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// catalogPush pushes pack folders with the library, to set the scene.
func catalogPush(t *testing.T, location string, format packer.Format, dirs ...string) []*ociregistry.PushResult {
	t.Helper()
	c, err := ociregistry.New(ociregistry.Options{PlainHTTP: true, Credentials: credentials.NewMemoryStore()})
	if err != nil {
		t.Fatal(err)
	}
	loc, err := ociregistry.ParseLocation(location)
	if err != nil {
		t.Fatal(err)
	}
	var out []*ociregistry.PushResult
	for _, d := range dirs {
		res, err := c.PushDir(t.Context(), d, loc, ociregistry.PushOptions{Format: format})
		if err != nil {
			t.Fatalf("push %s: %v", d, err)
		}
		out = append(out, res)
	}
	return out
}

func TestLs(t *testing.T) {
	catalogEnv(t)
	reg := testregistry.New(t)
	loc := reg.Host + "/team"
	catalogPush(t, loc, "", "../../testdata/packs/hello-universe-1.3.1")
	catalogPush(t, loc, packer.FormatNative, "../../examples/custom-ubuntu-os")
	catalogPush(t, loc, packer.FormatPalette, "../../examples/hello-chart")

	code, stdout, stderr := catalogRun(t, "pack", "ls", "-r", loc, "--plain-http")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	want := `NAME              VERSION  LAYER  TYPE          ENCODINGS       DISPLAY NAME
custom-ubuntu-os  1.0.0    os     -             native          Custom Ubuntu
hello-chart       0.1.0    -      -             palette         -
hello-universe    1.3.1    addon  app services  native,palette  Hello Universe
`
	if stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
	}

	code, stdout, stderr = catalogRun(t, "pack", "ls", "-r", loc, "--plain-http", "--layer", "addon", "-o", "json")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	var packs []ociregistry.PackInfo
	if err := json.Unmarshal([]byte(stdout), &packs); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	if len(packs) != 1 || packs[0].Name != "hello-universe" || len(packs[0].Versions) != 1 ||
		packs[0].Versions[0].AddonType != "app services" || len(packs[0].Versions[0].Digests) != 2 {
		t.Errorf("ls --layer addon -o json: %+v", packs)
	}

	// Nothing matches: the header only, and an empty JSON list.
	code, stdout, _ = catalogRun(t, "pack", "ls", "-r", loc, "--plain-http", "--name", "nothing")
	if code != 0 || stdout != "NAME  VERSION  LAYER  TYPE  ENCODINGS  DISPLAY NAME\n" {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
	code, stdout, _ = catalogRun(t, "pack", "ls", "-r", loc, "--plain-http", "--name", "nothing", "-o", "json")
	if code != 0 || strings.TrimSpace(stdout) != "[]" {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
}

func TestLsCatalogRefused(t *testing.T) {
	catalogEnv(t)
	reg := testregistry.New(t)
	h := reg.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/_catalog" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	catalogPush(t, host, "", "../../testdata/packs/kubewatch-3.5.0")

	code, stdout, stderr := catalogRun(t, "pack", "ls", "-r", host, "--plain-http")
	if code != 1 || stdout != "" {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
	if !strings.Contains(stderr, "does not list its repositories") || !strings.Contains(stderr, "registry catalog unavailable") ||
		!strings.Contains(stderr, "--name PACK") {
		t.Errorf("stderr does not say the catalog is refused and what to do:\n%s", stderr)
	}
	code, stdout, stderr = catalogRun(t, "pack", "ls", "-r", host, "--plain-http", "--name", "kubewatch")
	if code != 0 || !strings.Contains(stdout, "kubewatch  3.5.0    addon  monitoring  native,palette  KubeWatch\n") {
		t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

func TestInspectCmd(t *testing.T) {
	catalogEnv(t)
	reg := testregistry.New(t)
	res := catalogPush(t, reg.Host, "", "../../testdata/packs/kubewatch-3.5.0")[0]

	code, stdout, stderr := catalogRun(t, "pack", "inspect", "kubewatch", "-r", reg.Host, "--plain-http")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	for _, want := range []string{
		"Name:      kubewatch\n",
		"Version:   3.5.0\n",
		"Encodings: native, palette\n",
		"native: " + reg.Host + "/packs/kubewatch:3.5.0\n",
		"  manifest:      " + res.Artifacts[0].Manifest.Digest.String(),
		"  artifact type: " + mediatypes.ArtifactTypePack + "\n",
		"    io.packyard.pack.displayName: KubeWatch\n",
		"palette: " + reg.Host + "/spectro-packs/archive/kubewatch:3.5.0\n",
		"kubewatch-3.5.0.tar.gz",
		"charts/kubewatch-3.5.0.tgz",
		"kubewatch 3.5.0\n",
		"pack.json:\n  {\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}

	code, stdout, _ = catalogRun(t, "pack", "inspect", "kubewatch:3.5.0", "-r", reg.Host, "--plain-http", "-o", "json")
	var ins ociregistry.Inspection
	if code != 0 || json.Unmarshal([]byte(stdout), &ins) != nil {
		t.Fatalf("exit %d, stdout:\n%s", code, stdout)
	}
	var meta packer.Metadata
	if err := json.Unmarshal(ins.PackJSON, &meta); err != nil || meta.Name != "kubewatch" || len(ins.Artifacts) != 2 {
		t.Errorf("inspect -o json: %+v (%v)", ins, err)
	}

	code, _, stderr = catalogRun(t, "pack", "inspect", "nothing:1.0.0", "-r", reg.Host, "--plain-http")
	if code != 1 || !strings.Contains(stderr, "nothing:1.0.0") || !strings.Contains(stderr, "pack ls") {
		t.Errorf("inspect of a missing pack: exit %d, stderr:\n%s", code, stderr)
	}
}

func TestDeleteCmd(t *testing.T) {
	catalogEnv(t)

	// A registry that forbids deletes says so, and how to allow them.
	plain := testregistry.New(t)
	catalogPush(t, plain.Host, "", "../../examples/hello-chart")
	code, stdout, stderr := catalogRun(t, "pack", "delete", "hello-chart:0.1.0", "-r", plain.Host, "--plain-http")
	if code != 1 || stdout != "" || !strings.Contains(stderr, "does not allow deleting manifests") || !strings.Contains(stderr, "storage.delete.enabled") {
		t.Errorf("delete refused: exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}

	reg := testregistry.New(t, testregistry.WithDelete())
	res := catalogPush(t, reg.Host+"/team", "", "../../examples/hello-chart")[0]
	code, _, stderr = catalogRun(t, "pack", "delete", "hello-chart", "-r", reg.Host+"/team", "--plain-http")
	if code != 1 || !strings.Contains(stderr, "names no version") || !strings.Contains(stderr, "hello-chart:1.0.0") {
		t.Errorf("delete without a version: exit %d, stderr:\n%s", code, stderr)
	}
	code, stdout, stderr = catalogRun(t, "pack", "delete", "hello-chart:0.1.0", "-r", reg.Host+"/team", "--plain-http", "--format", "palette")
	want := "deleted " + reg.Host + "/team/spectro-packs/archive/hello-chart:0.1.0 (palette) " + res.Artifacts[1].Manifest.Digest.String() + "\n"
	if code != 0 || stdout != want {
		t.Errorf("exit %d, stdout %q, want %q; stderr:\n%s", code, stdout, want, stderr)
	}
	code, stdout, _ = catalogRun(t, "pack", "delete", "hello-chart:0.1.0", "-r", reg.Host+"/team", "--plain-http", "-o", "json")
	var deleted []ociregistry.Deleted
	if code != 0 || json.Unmarshal([]byte(stdout), &deleted) != nil || len(deleted) != 1 || deleted[0].Encoding != mediatypes.EncodingNative {
		t.Errorf("exit %d, stdout:\n%s", code, stdout)
	}
	code, _, stderr = catalogRun(t, "pack", "delete", "hello-chart:0.1.0", "-r", reg.Host+"/team", "--plain-http")
	if code != 1 || !strings.Contains(stderr, "not found") {
		t.Errorf("second delete: exit %d, stderr:\n%s", code, stderr)
	}
}

func TestCopyCmd(t *testing.T) {
	catalogEnv(t)
	a, b := testregistry.New(t), testregistry.New(t)
	res := catalogPush(t, a.Host+"/team", "", "../../examples/hello-manifests")[0]

	args := []string{"pack", "copy", "hello-manifests", "--from", a.Host + "/team", "--to", b.Host + "/site", "--plain-http"}
	code, stdout, stderr := catalogRun(t, args...)
	want := "copied hello-manifests 1.0.0 (native) " + b.Host + "/site/packs/hello-manifests:1.0.0 " + res.Artifacts[0].Manifest.Digest.String() + "\n" +
		"copied hello-manifests 1.0.0 (palette) " + b.Host + "/site/spectro-packs/archive/hello-manifests:1.0.0 " + res.Artifacts[1].Manifest.Digest.String() + "\n"
	if code != 0 || stdout != want {
		t.Fatalf("exit %d, stdout:\n%s\nwant:\n%s\nstderr:\n%s", code, stdout, want, stderr)
	}
	code, stdout, _ = catalogRun(t, append(args, "-o", "json")...)
	var again ociregistry.PushResult
	if code != 0 || json.Unmarshal([]byte(stdout), &again) != nil || len(again.Artifacts) != 2 || again.Artifacts[0].Status != ociregistry.StatusUnchanged {
		t.Errorf("second copy: exit %d, stdout:\n%s", code, stdout)
	}
	dir := filepath.Join(t.TempDir(), "pulled")
	c, _ := ociregistry.New(ociregistry.Options{PlainHTTP: true, Credentials: credentials.NewMemoryStore()})
	ref, _ := ociregistry.ParsePackRef("hello-manifests:1.0.0")
	if _, _, err := c.Pull(t.Context(), ociregistry.Location{Registry: b.Host, Base: "site"}, ref, dir, ociregistry.PullOptions{}); err != nil {
		t.Errorf("pull of the copy: %v", err)
	}

	// A pack the source lacks: the advice looks at the source.
	code, _, stderr = catalogRun(t, "pack", "copy", "nope", "--from", a.Host+"/team", "--to", b.Host+"/site", "--plain-http")
	if code != 1 || !strings.Contains(stderr, "pack nope not found in "+a.Host+"/team/packs/nope") ||
		!strings.Contains(stderr, "`packyard pack ls -r "+a.Host+"/team` lists the packs there") {
		t.Errorf("copy of a missing pack: exit %d, stderr:\n%s", code, stderr)
	}

	code, _, stderr = catalogRun(t, "pack", "copy", "hello-manifests", "--to", b.Host, "--plain-http")
	if code != 1 || !strings.Contains(stderr, "--from") {
		t.Errorf("copy without --from: exit %d, stderr:\n%s", code, stderr)
	}

	// The SRC DST form: the pack is the last path part of SRC.
	code, stdout, stderr = catalogRun(t, "pack", "copy", a.Host+"/team/hello-manifests:1.0.0", b.Host+"/other", "--plain-http")
	want = "copied hello-manifests 1.0.0 (native) " + b.Host + "/other/packs/hello-manifests:1.0.0 " + res.Artifacts[0].Manifest.Digest.String() + "\n" +
		"copied hello-manifests 1.0.0 (palette) " + b.Host + "/other/spectro-packs/archive/hello-manifests:1.0.0 " + res.Artifacts[1].Manifest.Digest.String() + "\n"
	if code != 0 || stdout != want {
		t.Errorf("copy SRC DST: exit %d, stdout:\n%s\nwant:\n%s\nstderr:\n%s", code, stdout, want, stderr)
	}
	code, _, stderr = catalogRun(t, "pack", "copy", a.Host+"/team/hello-manifests", b.Host, "--to", b.Host, "--plain-http")
	if code != 1 || !strings.Contains(stderr, "not both") {
		t.Errorf("copy SRC DST with --to: exit %d, stderr:\n%s", code, stderr)
	}
	code, _, stderr = catalogRun(t, "pack", "copy", "hello-manifests", "--from", a.Host+"/team", "--plain-http")
	if code != 1 || !strings.Contains(stderr, "give the destination") {
		t.Errorf("copy without a destination: exit %d, stderr:\n%s", code, stderr)
	}
}

func TestExportImportCmd(t *testing.T) {
	catalogEnv(t)
	a, b := testregistry.New(t), testregistry.New(t)
	catalogPush(t, a.Host, "", "../../examples/hello-chart", "../../examples/custom-ubuntu-os")
	file := filepath.Join(t.TempDir(), "packs.tar")

	code, stdout, stderr := catalogRun(t, "pack", "export", "hello-chart:0.1.0", "custom-ubuntu-os", "-r", a.Host, "--plain-http", "-o", file)
	if code != 0 || !strings.HasPrefix(stdout, "exported 2 packs to "+file+" (") || stderr != "" {
		t.Fatalf("export: exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	if entries, _ := os.ReadDir(filepath.Dir(file)); len(entries) != 1 {
		t.Errorf("export left %d files beside the archive", len(entries))
	}

	code, stdout, stderr = catalogRun(t, "pack", "import", file, "-r", b.Host+"/airgap", "--plain-http")
	if code != 0 || stderr != "" {
		t.Fatalf("import: exit %d, stderr:\n%s", code, stderr)
	}
	for _, want := range []string{
		"pushed hello-chart 0.1.0 (native) " + b.Host + "/airgap/packs/hello-chart:0.1.0 sha256:",
		"pushed custom-ubuntu-os 1.0.0 (palette) " + b.Host + "/airgap/spectro-packs/archive/custom-ubuntu-os:1.0.0 sha256:",
		"2 packs imported from " + file + "\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("import stdout lacks %q:\n%s", want, stdout)
		}
	}
	code, stdout, _ = catalogRun(t, "pack", "ls", "-r", b.Host+"/airgap", "--plain-http")
	want := `NAME              VERSION  LAYER  TYPE          ENCODINGS       DISPLAY NAME
custom-ubuntu-os  1.0.0    os     -             native,palette  Custom Ubuntu
hello-chart       0.1.0    addon  app services  native,palette  Hello Chart
`
	if code != 0 || stdout != want {
		t.Errorf("ls after import: exit %d, stdout:\n%s\nwant:\n%s", code, stdout, want)
	}

	// Importing again: unchanged, as JSON.
	code, stdout, _ = catalogRun(t, "pack", "import", file, "-r", b.Host+"/airgap", "--plain-http", "-o", "json")
	var sum importSummary
	if code != 0 || json.Unmarshal([]byte(stdout), &sum) != nil || len(sum.Packs) != 2 || sum.Packs[0].Artifacts[0].Status != ociregistry.StatusUnchanged {
		t.Errorf("second import: exit %d, stdout:\n%s", code, stdout)
	}

	// A file that is not an archive of packs.
	bad := filepath.Join(t.TempDir(), "bad.tar")
	if err := os.WriteFile(bad, []byte("not a tar"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = catalogRun(t, "pack", "import", bad, "-r", b.Host, "--plain-http")
	if code != 1 || stdout != "" || !strings.Contains(stderr, "Error: ") {
		t.Errorf("import of a bad file: exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
}
