package e2e

import (
	"github.com/packyard/packyard/internal/testfs"

	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestRegistryListInspectDelete pushes the example packs and reads them
// back with `pack ls` and `pack inspect`, then deletes one version.
func TestRegistryListInspectDelete(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t, registryOptions{})
	env := newClientEnv(t)
	packs := examplePacks(t)
	loc := reg.Host + "/catalog"
	res := env.mustPackyard(t, pushArgs(packs, plainRemote(loc), "-o", "json")...)
	arts := artifactsByEncoding(pushedArtifacts(t, res.stdout))

	ls := env.mustPackyard(t, append([]string{"pack", "ls", "-o", "json"}, plainRemote(loc)...)...)
	if !json.Valid([]byte(ls.stdout)) {
		t.Fatalf("pack ls -o json printed no JSON:\n%s", ls.stdout)
	}
	text := env.mustPackyard(t, append([]string{"pack", "ls"}, plainRemote(loc)...)...)
	for _, dir := range packs {
		name, version := packMeta(t, dir)
		for what, out := range map[string]string{"pack ls -o json": ls.stdout, "pack ls": text.stdout} {
			if !strings.Contains(out, name) || !strings.Contains(out, version) {
				t.Errorf("%s does not list %s %s:\n%s", what, name, version, out)
			}
		}
		ins := env.mustPackyard(t, append([]string{"pack", "inspect", name + ":" + version}, plainRemote(loc)...)...)
		for _, enc := range []string{"native", "palette"} {
			if d := arts[name+" "+enc].Manifest.Digest; d == "" || !strings.Contains(ins.stdout, d) {
				t.Errorf("pack inspect %s does not show its %s manifest %q:\n%s", name, enc, d, ins.stdout)
			}
		}
	}

	name, version := packMeta(t, packs[0])
	env.mustPackyard(t, append([]string{"pack", "delete", name + ":" + version}, plainRemote(loc)...)...)
	if got := env.tags(t, loc+"/packs/"+name, "--insecure"); slices.Contains(got, packTag(version)) {
		t.Errorf("after pack delete, %s/packs/%s still has tags %q", loc, name, got)
	}
	for _, dir := range packs[1:] {
		other, v := packMeta(t, dir)
		if got := env.tags(t, loc+"/packs/"+other, "--insecure"); !slices.Equal(got, []string{packTag(v)}) {
			t.Errorf("pack delete of %s touched %s: tags %q", name, other, got)
		}
	}
}

// TestRegistryExportImport moves a pack through `pack export` and
// `pack import`, as for an air-gapped site, and expects the same manifests
// on the other side.
func TestRegistryExportImport(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t, registryOptions{})
	env := newClientEnv(t)
	dir := filepath.Join("examples", "hello-chart")
	name, version := packMeta(t, dir)
	env.mustPackyard(t, pushArgs([]string{dir}, plainRemote(reg.Host+"/online"))...)
	archive := filepath.Join(t.TempDir(), "packs.tar")
	env.mustPackyard(t, append([]string{"pack", "export", name + ":" + version, "-o", archive}, plainRemote(reg.Host+"/online")...)...)
	env.mustPackyard(t, append([]string{"pack", "import", archive}, plainRemote(reg.Host+"/airgap")...)...)
	for _, repo := range []string{"packs/" + name, "spectro-packs/archive/" + name} {
		src := env.manifestDigest(t, reg.Host+"/online/"+repo+":"+packTag(version), "--insecure")
		dst := env.manifestDigest(t, reg.Host+"/airgap/"+repo+":"+packTag(version), "--insecure")
		if src != dst {
			t.Errorf("%s is %s online and %s after export and import", repo, src, dst)
		}
	}
	out := filepath.Join(t.TempDir(), "pulled")
	env.mustPackyard(t, append([]string{"pack", "pull", name + ":" + version, out}, plainRemote(reg.Host+"/airgap")...)...)
	testfs.SameTree(t, abs(dir), out)
}
