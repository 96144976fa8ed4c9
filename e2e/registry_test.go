package e2e

import (
	"github.com/packyard/packyard/internal/testfs"

	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Media types the tests expect in the registry (see pkg/mediatypes; the
// tests spell them out so that a change there shows up here).
const (
	artifactTypePack  = "application/vnd.packyard.pack.v1"
	packConfigType    = "application/vnd.packyard.pack.config.v1+json"
	packChartType     = "application/vnd.packyard.pack.chart.v1.tar+gzip"
	paletteConfigType = "application/vnd.unknown.config.v1+json"
)

// packTag is the tag a pack version gets: '+' cannot be in a tag and
// becomes '_', as helm does.
func packTag(version string) string { return strings.ReplaceAll(version, "+", "_") }

// plainRemote are the packyard flags that reach a plain HTTP registry at
// location SERVER[/BASE].
func plainRemote(location string) []string { return []string{"-r", location, "--plain-http"} }

// pushArgs is `pack push SOURCES... REMOTE... EXTRA...`.
func pushArgs(sources []string, remote []string, extra ...string) []string {
	args := append([]string{"pack", "push"}, sources...)
	args = append(args, remote...)
	return append(args, extra...)
}

// fetchManifest reads a manifest with oras from a plain HTTP registry.
func (e *clientEnv) fetchManifest(t *testing.T, ref string, extra ...string) []byte {
	t.Helper()
	args := append([]string{"manifest", "fetch", "--plain-http", ref}, extra...)
	return []byte(e.oras(t, t.TempDir(), args...).stdout)
}

// artifactsByEncoding indexes pushed artifacts by "name encoding" with the
// repository's last path element as the name.
func artifactsByEncoding(arts []pushedArtifact) map[string]pushedArtifact {
	out := map[string]pushedArtifact{}
	for _, a := range arts {
		out[filepath.Base(a.Repository)+" "+a.Encoding] = a
	}
	return out
}

// TestRegistryOrasPullNative pushes every pack with packyard in one call
// and expects a plain `oras pull` of each native artifact to write the
// pack's files back, byte for byte.
func TestRegistryOrasPullNative(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t, registryOptions{})
	env := newClientEnv(t)
	packs := allPacks(t)
	res := env.mustPackyard(t, pushArgs(packs, plainRemote(reg.Host), "--format", "native", "-o", "json")...)
	arts := artifactsByEncoding(pushedArtifacts(t, res.stdout))
	if len(arts) != len(packs) {
		t.Errorf("pack push -o json reported %d artifacts for %d packs with --format native:\n%s", len(arts), len(packs), res.stdout)
	}
	for _, dir := range packs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			name, version := packMeta(t, dir)
			a, ok := arts[name+" native"]
			if !ok {
				t.Fatalf("pack push -o json reported no native artifact of %s:\n%s", name, res.stdout)
			}
			if a.Status != "pushed" || a.Tag != packTag(version) {
				t.Errorf("pushed %s: status %q tag %q, want pushed, %s", name, a.Status, a.Tag, packTag(version))
			}
			ref := reg.Host + "/packs/" + name + ":" + packTag(version)
			tmp := t.TempDir()
			out := filepath.Join(tmp, "pulled")
			pull := env.oras(t, tmp, "pull", "--plain-http", ref, "-o", out)
			if !strings.Contains(pull.stdout, strings.TrimPrefix(a.Manifest.Digest, "sha256:")[:12]) {
				t.Errorf("oras pull did not pull the digest packyard reported, %s:\n%s", a.Manifest.Digest, pull.stdout)
			}
			testfs.SameTree(t, abs(dir), out)
		})
	}
}

// TestRegistryPullHandMadePaletteArchive makes Palette archives exactly as
// Palette's documentation does (tar -czvf, then oras push --image-spec
// v1.0 to spectro-packs/archive) and pulls them with packyard.
func TestRegistryPullHandMadePaletteArchive(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t, registryOptions{})
	env := newClientEnv(t)
	for _, dir := range allPacks(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			tmp := t.TempDir()
			name, version := packMeta(t, dir)
			top := name + "-" + version
			testfs.CopyTree(t, abs(dir), filepath.Join(tmp, top))
			archive := top + ".tar.gz"
			env.mustRun(t, tmp, "tar", "-czvf", archive, top+"/")
			ref := reg.Host + "/spectro-packs/archive/" + name + ":" + packTag(version)
			env.oras(t, tmp, "push", "--plain-http", "--image-spec", "v1.0", ref, archive)
			digest := env.manifestDigest(t, ref, "--insecure")

			out := filepath.Join(tmp, "pulled")
			res := env.mustPackyard(t, append([]string{"pack", "pull", name + ":" + version, out}, plainRemote(reg.Host)...)...)
			// It tells the user what it found: the Palette encoding, which
			// digest.
			if !strings.Contains(strings.ToLower(res.stdout), "palette") || !strings.Contains(res.stdout, digest) {
				t.Errorf("pack pull stdout does not say it pulled the Palette archive %s:\n%s", digest, res.stdout)
			}
			testfs.SameTree(t, abs(dir), out)

			// NAME@DIGEST and NAME (the highest version) find it too.
			for _, ref := range []string{name + "@" + digest, name} {
				out := filepath.Join(t.TempDir(), "pulled")
				env.mustPackyard(t, append([]string{"pack", "pull", ref, out}, plainRemote(reg.Host)...)...)
				testfs.SameTree(t, abs(dir), out)
			}
		})
	}
}

// TestRegistryPaletteManifestMatchesOras pushes each pack's Palette archive
// with packyard, pushes the same tar.gz with `oras push --image-spec v1.0`,
// and expects the two manifests to be the same bytes but for the created
// annotation. packyard's manifest must also be in the untagged base
// repository, as Palette's documentation puts it there.
func TestRegistryPaletteManifestMatchesOras(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t, registryOptions{})
	env := newClientEnv(t)
	for _, dir := range allPacks(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			name, version := packMeta(t, dir)
			res := env.mustPackyard(t, pushArgs([]string{dir}, plainRemote(reg.Host+"/ours"), "--format", "palette", "-o", "json")...)
			arts := pushedArtifacts(t, res.stdout)
			if len(arts) != 1 || arts[0].Encoding != "palette" {
				t.Fatalf("pack push --format palette -o json reported %+v, want one palette artifact:\n%s", arts, res.stdout)
			}
			wantRepo := "ours/spectro-packs/archive/" + name
			if !strings.HasSuffix(arts[0].Repository, wantRepo) {
				t.Errorf("pushed to repository %q, want %s", arts[0].Repository, wantRepo)
			}
			ours := env.fetchManifest(t, reg.Host+"/"+wantRepo+":"+packTag(version))
			if got := sha256Digest(ours); got != arts[0].Manifest.Digest {
				t.Errorf("the registry's manifest has digest %s, packyard reported %s", got, arts[0].Manifest.Digest)
			}
			m := parseManifest(t, ours)
			if len(m.Layers) != 1 {
				t.Fatalf("packyard's Palette manifest has %d layers, want 1:\n%s", len(m.Layers), ours)
			}
			archive := m.Layers[0].Annotations[ocispec.AnnotationTitle]
			if want := name + "-" + version + ".tar.gz"; archive != want {
				t.Errorf("the archive is titled %q, want %q", archive, want)
			}

			// The same tar.gz, pushed by oras the way the docs do.
			tmp := t.TempDir()
			env.oras(t, tmp, "blob", "fetch", "--plain-http", "--output", filepath.Join(tmp, archive),
				reg.Host+"/"+wantRepo+"@"+m.Layers[0].Digest.String())
			theirsRef := reg.Host + "/theirs/spectro-packs/archive/" + name + ":" + packTag(version)
			env.oras(t, tmp, "push", "--plain-http", "--image-spec", "v1.0", theirsRef, archive)
			theirs := env.fetchManifest(t, theirsRef)
			if got, want := normalized(t, ours), normalized(t, theirs); !bytes.Equal(got, want) {
				t.Errorf("packyard's Palette manifest\n%s\ndiffers from oras's, created aside:\n%s", ours, theirs)
			}
			if _, ok := parseManifest(t, theirs).Annotations[ocispec.AnnotationCreated]; !ok {
				t.Errorf("oras's manifest has no created annotation; this test no longer checks what it says")
			}
			if m.Config.MediaType != paletteConfigType {
				t.Errorf("config media type %q, want %s", m.Config.MediaType, paletteConfigType)
			}

			// The untagged copy in <base>/spectro-packs/archive.
			base := env.fetchManifest(t, reg.Host+"/ours/spectro-packs/archive@"+arts[0].Manifest.Digest)
			if !bytes.Equal(base, ours) {
				t.Errorf("the base repository holds\n%s\nnot the pack's manifest\n%s", base, ours)
			}
		})
	}
}

func sha256Digest(data []byte) string {
	return "sha256:" + sha256Hex(data)
}

// TestRegistryCraneSeesPush pushes every pack in both encodings below a
// base path and reads the registry with crane: catalog, tags, manifests
// and the config blob.
func TestRegistryCraneSeesPush(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t, registryOptions{})
	env := newClientEnv(t)
	packs := allPacks(t)
	loc := reg.Host + "/team/edge"
	res := env.mustPackyard(t, pushArgs(packs, plainRemote(loc), "-o", "json")...)
	arts := artifactsByEncoding(pushedArtifacts(t, res.stdout))
	if len(arts) != 2*len(packs) {
		t.Errorf("pack push -o json of %d packs in both encodings reported %d artifacts:\n%s", len(packs), len(arts), res.stdout)
	}

	catalog := strings.Fields(env.crane(t, "catalog", reg.Host, "--insecure").stdout)
	want := []string{"team/edge/spectro-packs/archive"}
	for _, dir := range packs {
		name, _ := packMeta(t, dir)
		want = append(want, "team/edge/packs/"+name, "team/edge/spectro-packs/archive/"+name)
	}
	slices.Sort(want)
	slices.Sort(catalog)
	if !slices.Equal(catalog, want) {
		t.Errorf("crane catalog = %q, want %q", catalog, want)
	}

	for _, dir := range packs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			name, version := packMeta(t, dir)
			tag := packTag(version)
			for _, enc := range []struct{ name, repo string }{
				{"native", loc + "/packs/" + name},
				{"palette", loc + "/spectro-packs/archive/" + name},
			} {
				if got := env.tags(t, enc.repo, "--insecure"); !slices.Equal(got, []string{tag}) {
					t.Errorf("crane ls %s = %q, want [%s]", enc.repo, got, tag)
				}
				raw := []byte(env.crane(t, "manifest", enc.repo+":"+tag, "--insecure").stdout)
				a := arts[name+" "+enc.name]
				if got := sha256Digest(raw); got != a.Manifest.Digest {
					t.Errorf("crane manifest %s has digest %s, packyard reported %s", enc.repo, got, a.Manifest.Digest)
				}
				m := parseManifest(t, raw)
				switch enc.name {
				case "native":
					if m.ArtifactType != artifactTypePack || m.Config.MediaType != packConfigType {
						t.Errorf("native manifest: artifactType %q config %q, want %s and %s", m.ArtifactType, m.Config.MediaType,
							artifactTypePack, packConfigType)
					}
					if got := m.Annotations["io.packyard.pack.name"]; got != name {
						t.Errorf("native manifest: name annotation %q, want %q", got, name)
					}
					// The config is pack.json, as it is.
					config := env.crane(t, "config", enc.repo+":"+tag, "--insecure").stdout
					packJSON, err := os.ReadFile(filepath.Join(abs(dir), "pack.json"))
					if err != nil {
						t.Fatal(err)
					}
					if config != string(packJSON) {
						t.Errorf("crane config printed\n%s\nwant pack.json\n%s", config, packJSON)
					}
				case "palette":
					if m.Config.MediaType != paletteConfigType || len(m.Layers) != 1 {
						t.Errorf("Palette manifest: config %q, %d layers; want %s and one layer", m.Config.MediaType, len(m.Layers), paletteConfigType)
					}
				}
			}
		})
	}
}

// TestRegistryHelmPullsCopiedChart: the native layout keeps a pack's chart
// archive as a layer of the pack, byte for byte. The test pushes a pack
// with a chart, copies it to another base with `pack copy`, takes the chart
// out of the copy with crane, and has helm push, pull and read it: the
// chart packyard carried is the chart helm packaged, and helm works on it.
func TestRegistryHelmPullsCopiedChart(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t, registryOptions{})
	env := newClientEnv(t)
	dir := filepath.Join("examples", "hello-chart")
	name, version := packMeta(t, dir)
	chartFile := filepath.Join(abs(dir), "charts", "hello-chart-0.1.0.tgz")
	chart, err := os.ReadFile(chartFile)
	if err != nil {
		t.Fatal(err)
	}

	env.mustPackyard(t, pushArgs([]string{dir}, plainRemote(reg.Host+"/src"))...)
	env.mustPackyard(t, "pack", "copy", name+":"+version, "--from", reg.Host+"/src", "--to", reg.Host+"/dst", "--plain-http")
	for _, repo := range []string{"packs/" + name, "spectro-packs/archive/" + name} {
		src := env.manifestDigest(t, reg.Host+"/src/"+repo+":"+packTag(version), "--insecure")
		dst := env.manifestDigest(t, reg.Host+"/dst/"+repo+":"+packTag(version), "--insecure")
		if src != dst {
			t.Errorf("pack copy: %s is %s in the source, %s in the copy", repo, src, dst)
		}
	}

	dstRepo := reg.Host + "/dst/packs/" + name
	m := parseManifest(t, []byte(env.crane(t, "manifest", dstRepo+":"+packTag(version), "--insecure").stdout))
	var layer *ocispec.Descriptor
	for i, l := range m.Layers {
		if l.MediaType == packChartType {
			layer = &m.Layers[i]
		}
	}
	if layer == nil {
		t.Fatalf("the copied native manifest has no %s layer: %+v", packChartType, m.Layers)
	}
	if got := layer.Annotations[ocispec.AnnotationTitle]; got != "charts/hello-chart-0.1.0.tgz" {
		t.Errorf("chart layer title %q, want charts/hello-chart-0.1.0.tgz", got)
	}
	copied := env.crane(t, "blob", dstRepo+"@"+layer.Digest.String(), "--insecure").stdout
	if copied != string(chart) {
		t.Fatalf("the copied chart layer (%d bytes) is not the pack's chart archive (%d bytes)", len(copied), len(chart))
	}

	tmp := t.TempDir()
	if err := os.WriteFile(filepath.Join(tmp, "hello-chart-0.1.0.tgz"), []byte(copied), 0o644); err != nil {
		t.Fatal(err)
	}
	env.helm(t, tmp, "push", "hello-chart-0.1.0.tgz", "oci://"+reg.Host+"/dst/charts", "--plain-http")
	out := filepath.Join(tmp, "pulled")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	env.helm(t, tmp, "pull", "oci://"+reg.Host+"/dst/charts/hello-chart", "--version", "0.1.0", "--plain-http", "-d", out)
	pulled, err := os.ReadFile(filepath.Join(out, "hello-chart-0.1.0.tgz"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pulled, chart) {
		t.Errorf("helm pull wrote %d bytes, not the pack's chart archive (%d bytes)", len(pulled), len(chart))
	}
	show := env.helm(t, tmp, "show", "chart", filepath.Join(out, "hello-chart-0.1.0.tgz"))
	if !strings.Contains(show.stdout, "name: hello-chart") {
		t.Errorf("helm show chart:\n%s", show.stdout)
	}
}

// TestRegistryLogin runs against an htpasswd-protected registry: a push
// fails without login and says to log in; `registry login --password-stdin`
// saves the credential in DOCKER_CONFIG's config.json, where oras finds it
// too; the password never shows; logout removes it.
func TestRegistryLogin(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t, registryOptions{Htpasswd: true})
	env := newClientEnv(t)
	dir := filepath.Join("examples", "hello-manifests")
	name, version := packMeta(t, dir)
	noSecret := func(what string, res result, secrets ...string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(res.stdout+res.stderr, s) {
				t.Errorf("%s printed the password:\nstdout:\n%s\nstderr:\n%s", what, res.stdout, res.stderr)
			}
		}
	}

	res := env.packyard(t, pushArgs([]string{dir}, plainRemote(reg.Host))...)
	if res.code != 1 || !strings.Contains(strings.ToLower(res.stderr), "login") {
		t.Errorf("push without login: exit status %d, want 1 and advice to log in\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	tagsRes := env.runStdin(t, repoRoot, reg.Password, orasBin, "repo", "tags", "--plain-http", "-u", reg.User, "--password-stdin", reg.Host+"/packs/"+name)
	if tagsRes.code == 0 && strings.TrimSpace(tagsRes.stdout) != "" {
		t.Errorf("a push without login left tags %q", tagsRes.stdout)
	}

	wrong := "not-" + reg.Password
	res = env.runStdin(t, repoRoot, wrong+"\n", packyardBin, "registry", "login", reg.Host, "-u", reg.User, "--password-stdin", "--plain-http")
	if res.code == 0 {
		t.Errorf("login with a wrong password succeeded:\n%s", res.stdout)
	}
	noSecret("login with a wrong password", res, wrong)

	res = env.runStdin(t, repoRoot, reg.Password+"\n", packyardBin, "registry", "login", reg.Host, "-u", reg.User, "--password-stdin", "--plain-http", "--default")
	if res.code != 0 {
		t.Fatalf("registry login: exit status %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	noSecret("registry login", res, reg.Password)

	config := readDockerConfig(t, env)
	wantAuth := base64.StdEncoding.EncodeToString([]byte(reg.User + ":" + reg.Password))
	if got := config.Auths[reg.Host].Auth; got != wantAuth {
		t.Errorf("config.json auths[%q].auth = %q, want base64 of user:password; config.json: %+v", reg.Host, got, config)
	}

	// --default saved the registry: -r can be left out.
	res = env.mustPackyard(t, "pack", "push", dir, "--plain-http")
	noSecret("pack push", res, reg.Password)
	if got := env.tags(t, reg.Host+"/packs/"+name, "--insecure"); !slices.Equal(got, []string{packTag(version)}) {
		t.Errorf("after push: tags %q, want [%s]", got, packTag(version))
	}

	// oras reads the same config.json.
	tmp := t.TempDir()
	out := filepath.Join(tmp, "pulled")
	env.oras(t, tmp, "pull", "--plain-http", reg.Host+"/packs/"+name+":"+packTag(version), "-o", out)
	testfs.SameTree(t, abs(dir), out)
	out = filepath.Join(tmp, "pulled-by-packyard")
	env.mustPackyard(t, "pack", "pull", name+":"+version, out, "--plain-http", "--format", "palette")
	testfs.SameTree(t, abs(dir), out)

	res = env.mustPackyard(t, "registry", "logout", reg.Host)
	noSecret("registry logout", res, reg.Password)
	config = readDockerConfig(t, env)
	if a, ok := config.Auths[reg.Host]; ok && a.Auth != "" {
		t.Errorf("config.json still holds a credential for %s after logout", reg.Host)
	}
	res = env.packyard(t, "pack", "pull", name+":"+version, filepath.Join(tmp, "after-logout"), "-r", reg.Host, "--plain-http")
	if res.code != 1 || !strings.Contains(strings.ToLower(res.stderr), "login") {
		t.Errorf("pull after logout: exit status %d, want 1 and advice to log in\nstderr:\n%s", res.code, res.stderr)
	}
}

// dockerConfig is the part of docker's config.json the tests read.
type dockerConfig struct {
	Auths map[string]struct {
		Auth string `json:"auth"`
	} `json:"auths"`
	CredsStore string `json:"credsStore"`
}

func readDockerConfig(t *testing.T, env *clientEnv) dockerConfig {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(env.DockerConfig, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c dockerConfig
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatalf("config.json: %v\n%s", err, data)
	}
	return c
}

// TestRegistryTLS runs against a registry whose certificate a CA made for
// the test signed: packyard fails clearly without --ca-file and works with
// it (or with --insecure).
func TestRegistryTLS(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t, registryOptions{TLS: true})
	env := newClientEnv(t)
	dir := filepath.Join("examples", "hello-chart")
	name, version := packMeta(t, dir)

	res := env.packyard(t, "pack", "push", dir, "-r", reg.Host)
	lower := strings.ToLower(res.stderr)
	if res.code != 1 || !strings.Contains(lower, "certificate") || !strings.Contains(lower, "--ca-file") {
		t.Errorf("push to a registry with an unknown CA: exit status %d, want 1 and an error that names the certificate and --ca-file\nstdout:\n%s\nstderr:\n%s",
			res.code, res.stdout, res.stderr)
	}

	res = env.mustPackyard(t, "pack", "push", dir, "-r", reg.Host, "--ca-file", reg.CAFile, "-o", "json")
	arts := pushedArtifacts(t, res.stdout)
	if len(arts) != 2 {
		t.Errorf("push reported %d artifacts, want 2:\n%s", len(arts), res.stdout)
	}
	tmp := t.TempDir()
	for _, enc := range []string{"native", "palette"} {
		out := filepath.Join(tmp, enc)
		env.mustPackyard(t, "pack", "pull", name+":"+version, out, "-r", reg.Host, "--ca-file", reg.CAFile, "--format", enc)
		testfs.SameTree(t, abs(dir), out)
	}
	out := filepath.Join(tmp, "insecure")
	env.mustPackyard(t, "pack", "pull", name+":"+version, out, "-r", reg.Host, "--insecure")
	testfs.SameTree(t, abs(dir), out)

	// oras, given the same CA, sees what packyard pushed.
	m := env.oras(t, tmp, "manifest", "fetch", "--ca-file", reg.CAFile, reg.Host+"/packs/"+name+":"+packTag(version)).stdout
	if got := parseManifest(t, []byte(m)).ArtifactType; got != artifactTypePack {
		t.Errorf("oras read artifactType %q, want %s", got, artifactTypePack)
	}

	res = env.packyard(t, "pack", "pull", name+":"+version, filepath.Join(tmp, "no-ca"), "-r", reg.Host)
	if res.code != 1 || !strings.Contains(strings.ToLower(res.stderr), "certificate") {
		t.Errorf("pull without --ca-file: exit status %d, want 1 and a certificate error\nstderr:\n%s", res.code, res.stderr)
	}
}

// TestRegistryForceAndNoop: pushing a version again with the same content
// is a no-op that says so; with other content it fails and leaves the
// registry as it was, unless --force.
func TestRegistryForceAndNoop(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t, registryOptions{})
	env := newClientEnv(t)
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "hello-manifests")
	testfs.CopyTree(t, abs(filepath.Join("examples", "hello-manifests")), dir)
	name, version := packMeta(t, dir)
	remote := plainRemote(reg.Host)
	refs := []string{reg.Host + "/packs/" + name + ":" + packTag(version), reg.Host + "/spectro-packs/archive/" + name + ":" + packTag(version)}
	digests := func() []string {
		var out []string
		for _, r := range refs {
			out = append(out, env.manifestDigest(t, r, "--insecure"))
		}
		return out
	}
	statuses := func(stdout string) []string {
		var out []string
		for _, a := range pushedArtifacts(t, stdout) {
			out = append(out, a.Encoding+" "+a.Status)
		}
		slices.Sort(out)
		return out
	}

	res := env.mustPackyard(t, pushArgs([]string{dir}, remote, "-o", "json")...)
	if got, want := statuses(res.stdout), []string{"native pushed", "palette pushed"}; !slices.Equal(got, want) {
		t.Errorf("first push: %q, want %q", got, want)
	}
	first := digests()

	res = env.mustPackyard(t, pushArgs([]string{dir}, remote, "-o", "json")...)
	if got, want := statuses(res.stdout), []string{"native unchanged", "palette unchanged"}; !slices.Equal(got, want) {
		t.Errorf("push again: %q, want %q", got, want)
	}
	res = env.mustPackyard(t, pushArgs([]string{dir}, remote)...)
	if !strings.Contains(strings.ToLower(res.stdout), "unchanged") {
		t.Errorf("push again does not say the pack was unchanged:\n%s", res.stdout)
	}
	if got := digests(); !slices.Equal(got, first) {
		t.Errorf("a no-op push changed the manifests from %q to %q", first, got)
	}

	values := filepath.Join(dir, "values.yaml")
	f, err := os.OpenFile(values, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("\n# changed without a new version\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	res = env.packyard(t, pushArgs([]string{dir}, remote)...)
	if res.code != 1 || !strings.Contains(res.stderr, "packs/"+name+":"+packTag(version)) || !strings.Contains(res.stderr, "--force") {
		t.Errorf("push of other content under the same version: exit status %d, want 1 and an error that names the version and mentions --force\nstdout:\n%s\nstderr:\n%s",
			res.code, res.stdout, res.stderr)
	}
	if got := digests(); !slices.Equal(got, first) {
		t.Errorf("a refused push changed the manifests from %q to %q", first, got)
	}

	res = env.mustPackyard(t, pushArgs([]string{dir}, remote, "--force", "-o", "json")...)
	if got, want := statuses(res.stdout), []string{"native replaced", "palette replaced"}; !slices.Equal(got, want) {
		t.Errorf("forced push: %q, want %q", got, want)
	}
	forced := digests()
	for i := range forced {
		if forced[i] == first[i] {
			t.Errorf("after a forced push %s still is %s", refs[i], first[i])
		}
	}
	for _, enc := range []string{"native", "palette"} {
		out := filepath.Join(tmp, "pulled-"+enc)
		env.mustPackyard(t, append([]string{"pack", "pull", name + ":" + version, out, "--format", enc}, remote...)...)
		testfs.SameTree(t, dir, out)
	}

	// -f is --force, and forcing the same content again is a no-op.
	res = env.mustPackyard(t, pushArgs([]string{dir}, remote, "-f", "-o", "json")...)
	if got, want := statuses(res.stdout), []string{"native unchanged", "palette unchanged"}; !slices.Equal(got, want) {
		t.Errorf("forced push of what is there: %q, want %q", got, want)
	}
}
