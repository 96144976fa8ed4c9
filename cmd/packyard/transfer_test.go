package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/packyard/packyard/cmd/packyard/option"
	"github.com/packyard/packyard/internal/testfs"
	"github.com/packyard/packyard/internal/testregistry"
	"github.com/packyard/packyard/pkg/mediatypes"
	"github.com/packyard/packyard/pkg/ociregistry"
	"github.com/packyard/packyard/pkg/packer"
)

// isolate points packyard's settings and the docker config at empty
// temporary folders, and clears the environment that picks a registry.
func isolate(t *testing.T) (configHome, dockerConfig string) {
	t.Helper()
	configHome, dockerConfig = t.TempDir(), t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", configHome)
	t.Setenv("HOME", t.TempDir())
	t.Setenv("DOCKER_CONFIG", dockerConfig)
	t.Setenv(option.RegistryEnv, "")
	t.Setenv("SOURCE_DATE_EPOCH", "")
	return configHome, dockerConfig
}

// packyard runs the command line and returns its exit code, stdout and
// stderr.
func packyard(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// setStdin makes standard input read s, for the length of the test.
func setStdin(t *testing.T, s string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "stdin")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdin
	os.Stdin = f
	t.Cleanup(func() {
		os.Stdin = old
		f.Close()
	})
}

// built builds a pack folder into a layout and returns the manifest digest
// of each encoding, as `pack push` must push them.
func built(t *testing.T, dir string) map[string]string {
	t.Helper()
	p, err := packer.Load(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	res, err := packer.BuildToLayout(t.Context(), p, filepath.Join(t.TempDir(), "layout"), packer.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		mediatypes.EncodingNative:  res.Native.Manifest.Digest.String(),
		mediatypes.EncodingPalette: res.Palette.Manifest.Digest.String(),
		"name":                     res.Name,
		"version":                  res.Version,
		"tag":                      res.Tag,
	}
}

// pushLines is the text `pack push` prints for the packs in dirs.
func pushLines(t *testing.T, status, target string, dirs ...string) string {
	t.Helper()
	var b strings.Builder
	for _, d := range dirs {
		want := built(t, d)
		fmt.Fprintf(&b, "%s %s %s (native) %s/packs/%s:%s %s\n", status, want["name"], want["version"], target, want["name"], want["tag"], want[mediatypes.EncodingNative])
		fmt.Fprintf(&b, "%s %s %s (palette) %s/spectro-packs/archive/%s:%s %s\n", status, want["name"], want["version"], target, want["name"], want["tag"], want[mediatypes.EncodingPalette])
	}
	return b.String()
}

var allPacks = []string{
	"../../examples/custom-ubuntu-os",
	"../../examples/hello-chart",
	"../../examples/hello-manifests",
	"../../testdata/packs/hello-universe-1.3.1",
	"../../testdata/packs/hpe-csi-driver-3.2.0",
	"../../testdata/packs/kubewatch-3.5.0",
	"../../testdata/packs/permission-manager-1.0.0",
}

func TestPushCatalogThenUnchanged(t *testing.T) {
	isolate(t)
	reg := testregistry.New(t)
	target := reg.Host + "/team"

	code, stdout, stderr := packyard(t, append([]string{"pack", "push", "-r", target, "--plain-http"}, allPacks...)...)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	want := pushLines(t, "pushed", target, allPacks...) + "7 packs: 7 pushed, 0 unchanged, 0 failed\n"
	if stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
	}
	wantErr := "../../testdata/packs/permission-manager-1.0.0: 1 lint warning (run `packyard pack lint ../../testdata/packs/permission-manager-1.0.0` to see them)\n"
	if stderr != wantErr {
		t.Errorf("stderr:\n%s\nwant:\n%s", stderr, wantErr)
	}

	// The same content again is a no-op that says so.
	code, stdout, stderr = packyard(t, append([]string{"pack", "push", "-r", target, "--plain-http"}, allPacks...)...)
	if code != 0 {
		t.Fatalf("re-push exit %d, stderr:\n%s", code, stderr)
	}
	want = pushLines(t, "unchanged", target, allPacks...) + "7 packs: 0 pushed, 7 unchanged, 0 failed\n"
	if stdout != want {
		t.Errorf("re-push stdout:\n%s\nwant:\n%s", stdout, want)
	}
}

func TestPushJSON(t *testing.T) {
	isolate(t)
	reg := testregistry.New(t)
	src := "../../testdata/packs/kubewatch-3.5.0"
	code, stdout, stderr := packyard(t, "pack", "push", src, "-r", reg.Host, "--plain-http", "--format", "palette", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	var sum struct {
		Registry string `json:"registry"`
		Packs    []struct {
			Source    string                       `json:"source"`
			Name      string                       `json:"name"`
			Version   string                       `json:"version"`
			Status    string                       `json:"status"`
			Error     string                       `json:"error"`
			Artifacts []ociregistry.PushedArtifact `json:"artifacts"`
		} `json:"packs"`
		Pushed, Unchanged, Failed int
	}
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	want := built(t, src)
	if sum.Registry != reg.Host || sum.Pushed != 1 || sum.Unchanged != 0 || sum.Failed != 0 || len(sum.Packs) != 1 {
		t.Fatalf("summary %+v", sum)
	}
	p := sum.Packs[0]
	if p.Source != src || p.Name != "kubewatch" || p.Version != "3.5.0" || p.Status != "pushed" || p.Error != "" || len(p.Artifacts) != 1 {
		t.Fatalf("pack %+v", p)
	}
	a := p.Artifacts[0]
	if a.Encoding != mediatypes.EncodingPalette || a.Repository != "spectro-packs/archive/kubewatch" || a.Tag != "3.5.0" ||
		a.Status != ociregistry.StatusPushed || a.Manifest.Digest.String() != want[mediatypes.EncodingPalette] {
		t.Errorf("artifact %+v", a)
	}
}

func TestPushChangedNeedsForce(t *testing.T) {
	isolate(t)
	reg := testregistry.New(t)
	src := "../../examples/hello-chart"
	if code, _, stderr := packyard(t, "pack", "push", src, "-r", reg.Host, "--plain-http"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	old := built(t, src)
	changed := testfs.Copy(t, src)
	if err := os.WriteFile(filepath.Join(changed, "README.md"), []byte("# hello-chart, changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	now := built(t, changed)

	code, stdout, stderr := packyard(t, "pack", "push", changed, "-r", reg.Host, "--plain-http")
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, stderr)
	}
	if stdout != "1 pack: 0 pushed, 0 unchanged, 1 failed\n" {
		t.Errorf("stdout:\n%s", stdout)
	}
	wantErr := fmt.Sprintf("Error: %s: %s/packs/hello-chart:0.1.0 already holds %s, not %s\n", changed, reg.Host, old[mediatypes.EncodingNative], now[mediatypes.EncodingNative]) +
		"A pack version should not change once published: raise the version in pack.json, or pass --force to replace it.\n"
	if stderr != wantErr {
		t.Errorf("stderr:\n%s\nwant:\n%s", stderr, wantErr)
	}

	code, stdout, stderr = packyard(t, "pack", "push", changed, "-r", reg.Host, "--plain-http", "--force")
	if code != 0 {
		t.Fatalf("forced push exit %d: %s", code, stderr)
	}
	want := pushLines(t, "replaced", reg.Host, changed) + "1 pack: 1 pushed, 0 unchanged, 0 failed\n"
	if stdout != want {
		t.Errorf("forced push stdout:\n%s\nwant:\n%s", stdout, want)
	}
}

func TestPushLintErrorStopsThatPack(t *testing.T) {
	isolate(t)
	reg := testregistry.New(t)
	bad := "testdata/lint/errors"
	good := "../../examples/hello-manifests"
	code, stdout, stderr := packyard(t, "pack", "push", bad, good, "-r", reg.Host, "--plain-http")
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, stderr)
	}
	want := pushLines(t, "pushed", reg.Host, good) + "2 packs: 1 pushed, 0 unchanged, 1 failed\n"
	if stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
	}
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "Error: pack testdata/lint/errors has ") ||
		lines[1] != "Run `packyard pack lint testdata/lint/errors` to see every problem and its fix." {
		t.Errorf("stderr:\n%s", stderr)
	}
	// Nothing of the refused pack reached the registry.
	client, err := ociregistry.New(ociregistry.Options{PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	loc, _ := ociregistry.ParseLocation(reg.Host)
	ref, _ := ociregistry.ParsePackRef("broken")
	if _, err := client.Resolve(t.Context(), loc, ref, ""); err == nil {
		t.Error("the pack with lint errors was pushed")
	}
}

func TestPushLayout(t *testing.T) {
	isolate(t)
	reg := testregistry.New(t)
	layout := filepath.Join(t.TempDir(), "layout")
	src := "../../examples/hello-chart"
	if code, _, stderr := packyard(t, "pack", "build", src, "-o", layout); code != 0 {
		t.Fatalf("build exit %d: %s", code, stderr)
	}
	code, stdout, stderr := packyard(t, "pack", "push", layout, "-r", reg.Host+"/from-layout", "--plain-http")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := pushLines(t, "pushed", reg.Host+"/from-layout", src) + "1 pack: 1 pushed, 0 unchanged, 0 failed\n"
	if stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
	}
}

func TestPullBothEncodings(t *testing.T) {
	isolate(t)
	reg := testregistry.New(t)
	target := reg.Host + "/team"
	src := "../../testdata/packs/hello-universe-1.3.1"
	if code, _, stderr := packyard(t, "pack", "push", src, "-r", target, "--plain-http"); code != 0 {
		t.Fatalf("push exit %d: %s", code, stderr)
	}
	want := built(t, src)
	for _, enc := range []string{mediatypes.EncodingNative, mediatypes.EncodingPalette} {
		dir := filepath.Join(t.TempDir(), "pulled")
		code, stdout, stderr := packyard(t, "pack", "pull", "hello-universe:1.3.1", dir, "-r", target, "--plain-http", "--format", enc)
		if code != 0 {
			t.Fatalf("pull %s exit %d: %s", enc, code, stderr)
		}
		testfs.SameTree(t, src, dir)
		found := fmt.Sprintf("found hello-universe 1.3.1 as a native pack artifact at %s/packs/hello-universe:1.3.1 (%s)\n", target, want[enc])
		if enc == mediatypes.EncodingPalette {
			found = fmt.Sprintf("found hello-universe 1.3.1 as a Palette archive, hello-universe-1.3.1.tar.gz, at %s/spectro-packs/archive/hello-universe:1.3.1 (%s)\n", target, want[enc])
		}
		if !strings.HasPrefix(stdout, found) || !strings.Contains(stdout, "pulled hello-universe 1.3.1 into "+dir+": ") {
			t.Errorf("pull %s stdout:\n%s\nwant it to start with:\n%s", enc, stdout, found)
		}
		if stderr != "" {
			t.Errorf("pull %s stderr: %s", enc, stderr)
		}
	}

	// Without a DIR the pack lands in ./NAME; without a version the
	// highest is pulled; a second pull into it needs --force.
	absSrc := mustAbs(t, src)
	t.Chdir(t.TempDir())
	if code, _, stderr := packyard(t, "pack", "pull", "hello-universe", "-r", target, "--plain-http"); code != 0 {
		t.Fatalf("pull to ./NAME exit %d: %s", code, stderr)
	}
	testfs.SameTree(t, absSrc, "hello-universe")
	code, _, stderr := packyard(t, "pack", "pull", "hello-universe", "-r", target, "--plain-http")
	if code != 1 || !strings.Contains(stderr, "Pass --force to replace the folder's content") {
		t.Errorf("second pull exit %d, stderr:\n%s", code, stderr)
	}
	code, stdout, stderr := packyard(t, "pack", "pull", "hello-universe", "-r", target, "--plain-http", "--force", "-o", "json")
	if code != 0 {
		t.Fatalf("forced pull exit %d: %s", code, stderr)
	}
	var pulled pulledPack
	if err := json.Unmarshal([]byte(stdout), &pulled); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if pulled.Encoding != mediatypes.EncodingNative || pulled.Registry != reg.Host || pulled.Repository != "team/packs/hello-universe" ||
		pulled.Tag != "1.3.1" || pulled.Name != "hello-universe" || pulled.Dir != "hello-universe" || pulled.Manifest.Digest.String() != want[mediatypes.EncodingNative] {
		t.Errorf("pull -o json: %+v", pulled)
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// A Palette archive pushed by hand the way Palette's documentation shows
// (tar -czvf of the pack folder, then oras push) is pulled, and pull says
// it was made by hand.
func TestPullHandMadePaletteArchive(t *testing.T) {
	isolate(t)
	reg := testregistry.New(t)
	src := "../../examples/hello-manifests"

	// tar -czvf hello-manifests-1.0.0.tar.gz hello-manifests
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		name := filepath.ToSlash(filepath.Join("hello-manifests", rel))
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name = name
		if d.IsDir() {
			hdr.Name += "/"
			return tw.WriteHeader(hdr)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}

	// oras push --image-spec v1.0 REG/spectro-packs/archive/hello-manifests:1.0.0 hello-manifests-1.0.0.tar.gz
	ctx := t.Context()
	store := memory.New()
	layer, err := oras.PushBytes(ctx, store, ocispec.MediaTypeImageLayer, buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	layer.Annotations = map[string]string{ocispec.AnnotationTitle: "hello-manifests-1.0.0.tar.gz"}
	manifest, err := oras.PackManifest(ctx, store, oras.PackManifestVersion1_0, "", oras.PackManifestOptions{Layers: []ocispec.Descriptor{layer}})
	if err != nil {
		t.Fatal(err)
	}
	repo, err := remote.NewRepository(reg.Host + "/spectro-packs/archive/hello-manifests")
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	if err := store.Tag(ctx, manifest, "1.0.0"); err != nil {
		t.Fatal(err)
	}
	if _, err := oras.Copy(ctx, store, "1.0.0", repo, "1.0.0", oras.DefaultCopyOptions); err != nil {
		t.Fatal(err)
	}

	dir := filepath.Join(t.TempDir(), "pulled")
	code, stdout, stderr := packyard(t, "pack", "pull", "hello-manifests:1.0.0", dir, "-r", reg.Host, "--plain-http")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := fmt.Sprintf("found hello-manifests 1.0.0 as a Palette archive made by hand, hello-manifests-1.0.0.tar.gz holding the folder hello-manifests/, at %s/spectro-packs/archive/hello-manifests:1.0.0 (%s)\n", reg.Host, manifest.Digest)
	if !strings.HasPrefix(stdout, want) {
		t.Errorf("stdout:\n%s\nwant it to start with:\n%s", stdout, want)
	}
	testfs.SameTree(t, src, dir)
}

func TestPullMissingPack(t *testing.T) {
	isolate(t)
	reg := testregistry.New(t)
	target := reg.Host + "/team"
	for _, c := range []struct{ ref, what string }{
		{"nope:1.0.0", "pack nope:1.0.0"},
		{"nope", "pack nope (any version)"},
	} {
		code, stdout, stderr := packyard(t, "pack", "pull", c.ref, filepath.Join(t.TempDir(), "x"), "-r", target, "--plain-http")
		want := fmt.Sprintf("Error: %s not found: neither %s/packs/nope nor %s/spectro-packs/archive/nope holds it\n", c.what, target, target) +
			fmt.Sprintf("Check the name and version; `packyard pack ls -r %s` lists the packs there.\n", target)
		if code != 1 || stdout != "" || stderr != want {
			t.Errorf("pull %s: exit %d, stdout %q, stderr:\n%s\nwant:\n%s", c.ref, code, stdout, stderr, want)
		}
	}
}

func TestLoginLogoutDefaultRegistry(t *testing.T) {
	configHome, dockerConfig := isolate(t)
	const user, password = "alice", "Wh1sper-c0rrect-h0rse"
	reg := testregistry.New(t, testregistry.WithHtpasswd(t, user, password))
	src := "../../examples/hello-manifests"

	// Without a login the push fails, and says to log in.
	code, _, stderr := packyard(t, "pack", "push", src, "-r", reg.Host+"/team", "--plain-http")
	if code != 1 || !strings.Contains(stderr, "Error: "+src+": unauthorized: ") ||
		!strings.Contains(stderr, "Run `packyard registry login "+reg.Host+"`") {
		t.Fatalf("push without login: exit %d, stderr:\n%s", code, stderr)
	}

	// A wrong password fails without ever showing it.
	const wrong = "N0t-the-Passw0rd-at-all"
	setStdin(t, wrong+"\n")
	code, stdout, stderr := packyard(t, "registry", "login", reg.Host, "-u", user, "--password-stdin", "--plain-http")
	if code != 1 || stdout != "" || !strings.HasPrefix(stderr, "Error: unauthorized: "+reg.Host+": ") ||
		!strings.Contains(stderr, "Run `packyard registry login "+reg.Host+"`") {
		t.Errorf("wrong password: exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	if strings.Contains(stderr, wrong) || strings.Contains(stdout, wrong) {
		t.Errorf("the password shows in the output:\n%s%s", stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(dockerConfig, "config.json")); err == nil {
		data, _ := os.ReadFile(filepath.Join(dockerConfig, "config.json"))
		if strings.Contains(string(data), reg.Host) {
			t.Errorf("a refused login was saved:\n%s", data)
		}
	}

	// A password is never taken as a flag.
	code, stdout, stderr = packyard(t, "registry", "login", reg.Host, "-u", user, "-p", password, "--plain-http")
	if code != 1 || !strings.Contains(stderr, "not accepted as a flag value") || !strings.Contains(stderr, "--password-stdin") ||
		strings.Contains(stderr, password) || strings.Contains(stdout, password) {
		t.Errorf("-p: exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}

	// Without a terminal and without --password-stdin, login says how.
	setStdin(t, "")
	code, _, stderr = packyard(t, "registry", "login", reg.Host, "-u", user, "--plain-http")
	if code != 1 || stderr != "Error: no terminal to ask for the password on\nPipe the password in with --password-stdin (and give the user with -u).\n" {
		t.Errorf("login without a terminal: exit %d, stderr:\n%s", code, stderr)
	}

	// The right password is saved in the docker config, with the default
	// registry in packyard's settings.
	setStdin(t, password+"\n")
	code, stdout, stderr = packyard(t, "registry", "login", reg.Host+"/team", "-u", user, "--password-stdin", "--plain-http", "--default")
	if code != 0 {
		t.Fatalf("login exit %d: %s", code, stderr)
	}
	if want := "logged in to " + reg.Host + " as alice\ndefault registry: " + reg.Host + "/team\n"; stdout != want {
		t.Errorf("login stdout:\n%s\nwant:\n%s", stdout, want)
	}
	var docker struct {
		Auths map[string]struct {
			Auth string `json:"auth"`
		} `json:"auths"`
	}
	data, err := os.ReadFile(filepath.Join(dockerConfig, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &docker); err != nil {
		t.Fatal(err)
	}
	if _, ok := docker.Auths[reg.Host]; !ok {
		t.Errorf("docker config has no login for %s:\n%s", reg.Host, data)
	}
	settings, err := os.ReadFile(filepath.Join(configHome, "packyard", "config.json"))
	if err != nil || !strings.Contains(string(settings), `"defaultRegistry": "`+reg.Host+`/team"`) {
		t.Errorf("settings: %v\n%s", err, settings)
	}

	// -r is left out: the default registry is used, with the saved login.
	code, stdout, stderr = packyard(t, "pack", "push", src, "--plain-http")
	if code != 0 {
		t.Fatalf("push after login exit %d: %s", code, stderr)
	}
	if want := pushLines(t, "pushed", reg.Host+"/team", src) + "1 pack: 1 pushed, 0 unchanged, 0 failed\n"; stdout != want {
		t.Errorf("push after login stdout:\n%s\nwant:\n%s", stdout, want)
	}
	dir := filepath.Join(t.TempDir(), "pulled")
	if code, _, stderr := packyard(t, "pack", "pull", "hello-manifests:1.0.0", dir, "--plain-http"); code != 0 {
		t.Fatalf("pull after login exit %d: %s", code, stderr)
	}
	testfs.SameTree(t, src, dir)

	// Logout removes the login; the default registry stays.
	code, stdout, _ = packyard(t, "registry", "logout", reg.Host)
	if code != 0 || stdout != "logged out of "+reg.Host+"\n" {
		t.Errorf("logout: exit %d, stdout %q", code, stdout)
	}
	code, stdout, _ = packyard(t, "registry", "logout", reg.Host)
	if code != 0 || stdout != "not logged in to "+reg.Host+"\n" {
		t.Errorf("second logout: exit %d, stdout %q", code, stdout)
	}
	code, _, stderr = packyard(t, "pack", "pull", "hello-manifests:1.0.0", filepath.Join(t.TempDir(), "x"), "--plain-http")
	if want := "Error: unauthorized: " + reg.Host + " asks for a user and password, and no login is saved for it\nRun `packyard registry login " + reg.Host + "`.\n"; code != 1 || stderr != want {
		t.Errorf("pull after logout: exit %d, stderr:\n%s", code, stderr)
	}
}

func TestRegistryFromEnvironment(t *testing.T) {
	isolate(t)
	reg := testregistry.New(t)
	src := "../../examples/hello-chart"

	// No -r, no environment, no default: say how to name one.
	code, _, stderr := packyard(t, "pack", "push", src, "--plain-http")
	if code != 1 || !strings.Contains(stderr, "no registry given: pass -r SERVER[/BASE], set PACKYARD_REGISTRY, or log in with --default") {
		t.Errorf("no registry: exit %d, stderr:\n%s", code, stderr)
	}

	t.Setenv(option.RegistryEnv, reg.Host+"/env")
	code, stdout, stderr := packyard(t, "pack", "push", src, "--plain-http", "--format", "native")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := built(t, src)
	line := fmt.Sprintf("pushed hello-chart 0.1.0 (native) %s/env/packs/hello-chart:0.1.0 %s\n", reg.Host, want[mediatypes.EncodingNative])
	if stdout != line+"1 pack: 1 pushed, 0 unchanged, 0 failed\n" {
		t.Errorf("stdout:\n%s", stdout)
	}
	// -r wins over the environment.
	code, stdout, stderr = packyard(t, "pack", "push", src, "--plain-http", "--format", "native", "-r", reg.Host+"/flag")
	if code != 0 || !strings.Contains(stdout, reg.Host+"/flag/packs/hello-chart:0.1.0") {
		t.Errorf("exit %d, stdout:\n%s%s", code, stdout, stderr)
	}
}

// --no-cache neither reads nor writes packyard's cache folder. To tell
// whether a push read the cache, the cache is made to lie: it says that
// folder a's artifacts are those of folder b, another content of the same
// version, which a registry base holds.
func TestPushNoCache(t *testing.T) {
	isolate(t)
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	reg := testregistry.New(t)
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	testfs.CopyTree(t, "../../testdata/packs/kubewatch-3.5.0", a)
	testfs.CopyTree(t, "../../testdata/packs/kubewatch-3.5.0", b)
	f, err := os.OpenFile(filepath.Join(b, "values.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString("# b\n")
	_ = f.Close()
	// Files are known by their times only once these are two seconds old.
	time.Sleep(2100 * time.Millisecond)

	push := func(dir, base string, args ...string) (int, pushSummary) {
		t.Helper()
		code, stdout, stderr := packyard(t, append([]string{"pack", "push", dir, "-r", reg.Host + "/" + base, "--plain-http", "-o", "json"}, args...)...)
		var sum pushSummary
		if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
			t.Fatalf("push %s: exit %d, stdout:\n%s\nstderr:\n%s", dir, code, stdout, stderr)
		}
		return code, sum
	}
	for i, want := range []string{"pushed", "unchanged"} {
		if code, sum := push(b, "b", "--no-cache"); code != 0 || sum.Packs[0].Status != want {
			t.Fatalf("push %d of b: exit %d, %+v", i+1, code, sum.Packs[0])
		}
	}
	if entries, _ := os.ReadDir(cache); len(entries) != 0 {
		t.Fatalf("--no-cache wrote %s", entries[0].Name())
	}
	_, sumB := push(b, "b", "--no-cache")
	if code, _ := push(a, "a"); code != 0 {
		t.Fatalf("push of a with the cache: exit %d", code)
	}
	entries, _ := filepath.Glob(filepath.Join(cache, "packyard", "packs", "sha256", "*"))
	if len(entries) != 1 {
		t.Fatalf("the push with the cache remembered %d pack states, want 1", len(entries))
	}
	lie := map[string]ocispec.Descriptor{}
	for _, art := range sumB.Packs[0].Artifacts {
		lie[art.Encoding] = art.Manifest
	}
	data, _ := json.Marshal(lie)
	if err := os.WriteFile(entries[0], data, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, sum := push(a, "b"); code != 0 || sum.Packs[0].Status != "unchanged" {
		t.Errorf("push of a where b is, with the lying cache: exit %d, %+v; want unchanged (the cache read)", code, sum.Packs[0])
	}
	if code, sum := push(a, "b", "--no-cache"); code != 1 || !strings.Contains(sum.Packs[0].Error, "already holds") {
		t.Errorf("push of a where b is, --no-cache: exit %d, %+v; want the version refused", code, sum.Packs[0])
	}
}
