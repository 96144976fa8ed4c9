package bench

import (
	"github.com/packyard/packyard/internal/benchpack"

	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"oras.land/oras-go/v2/registry/remote/credentials"

	"github.com/packyard/packyard/pkg/ociregistry"
	"github.com/packyard/packyard/pkg/packer"
)

// rounds is how many times each side runs in one iteration of the 256 MiB
// transfer benchmarks, alternating which goes first; medians are reported.
const rounds = 3

// seq numbers the fresh repositories of a run.
var seq atomic.Int64

// fresh returns a base path no push of this run has used.
func fresh(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, seq.Add(1))
}

// remote is the -r and --plain-http flags for a base path on r.
func remote(r *registry, base string) []string {
	return []string{"-r", r.Host + "/" + base, "--plain-http"}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// walls are the wall times of us.
func walls(us []usage) []time.Duration {
	var ds []time.Duration
	for _, u := range us {
		ds = append(ds, u.Wall)
	}
	return ds
}

// describe says what a side's runs cost, as medians: wall time, the
// client's CPU time, the registry's CPU time; and the client's largest
// peak memory.
func describe(us []usage) string {
	var cpu, reg []time.Duration
	var peak float64
	for _, u := range us {
		cpu, reg = append(cpu, u.CPU), append(reg, u.RegistryCPU)
		peak = max(peak, u.PeakMiB)
	}
	return fmt.Sprintf("%v (client CPU %v, registry CPU %v, client peak memory %.0f MiB)", median(walls(us)).Round(time.Millisecond),
		median(cpu).Round(10*time.Millisecond), median(reg).Round(10*time.Millisecond), peak)
}

// reportPair reports the median seconds of packyard and of the other side,
// and other/packyard: above 1 means packyard is faster.
func reportPair(b *testing.B, other string, py, them []usage, mb float64, goal float64) {
	b.Helper()
	p, o := median(walls(py)), median(walls(them))
	ratio := o.Seconds() / p.Seconds()
	b.ReportMetric(p.Seconds(), "packyard-s")
	b.ReportMetric(o.Seconds(), other+"-s")
	b.ReportMetric(ratio, other+"/packyard")
	if mb > 0 {
		b.ReportMetric(mb/p.Seconds(), "packyard-MB/s")
		b.ReportMetric(mb/o.Seconds(), other+"-MB/s")
	}
	b.Logf("packyard %s, %s %s (medians of %d): %s/packyard = %.2f, goal >= %.1f: %s",
		describe(py), other, describe(them), len(py), other, ratio, goal, met(ratio >= goal))
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// BenchmarkRegistryTransfer pushes and pulls a 256 MiB pack whose bulk is
// chart archives: `packyard pack push --format native` against `oras push`
// of the pack's files, and `packyard pack pull` against `oras pull` of the
// same native artifact. Goal: oras/packyard >= 1 (packyard no slower).
func BenchmarkRegistryTransfer(b *testing.B) {
	r := sharedRegistry(b)
	dir := b.TempDir()
	pack, files := benchpack.Pack(b, dir, "bench-pack", 256<<20)
	mb := float64(benchpack.DirSize(b, pack)) / 1e6
	benchpack.Warm(b, pack)
	// Once untimed, so that in the timed pushes the storage holds every
	// blob already, for both sides alike (each upload still sends all its
	// bytes: a fresh repository has none of them).
	run(b, repoRoot, packyardBin, append([]string{"pack", "push", "--format", "native", pack}, remote(r, "warmup")...)...)

	b.Run("push", func(b *testing.B) {
		var py, them []usage
		for i := 0; i < b.N; i++ {
			for k := range rounds {
				pyArgs := append([]string{"pack", "push", "--format", "native", pack}, remote(r, fresh("push-packyard"))...)
				orasArgs := append([]string{"push", "--plain-http", r.Host + "/" + fresh("push-oras") + "/bench-pack:1.0.0"}, files...)
				pushPy := func() { py = append(py, timed(b, repoRoot, packyardBin, pyArgs...)) }
				pushOras := func() { them = append(them, timed(b, pack, orasBin, orasArgs...)) }
				if k%2 == 0 {
					pushPy()
					pushOras()
				} else {
					pushOras()
					pushPy()
				}
			}
		}
		reportPair(b, "oras", py, them, mb, 1)
	})

	b.Run("pull", func(b *testing.B) {
		base := fresh("pull")
		run(b, repoRoot, packyardBin, append([]string{"pack", "push", "--format", "native", pack}, remote(r, base)...)...)
		ref := r.Host + "/" + base + "/packs/bench-pack:1.0.0"
		var py, them []usage
		for i := 0; i < b.N; i++ {
			for k := range rounds {
				pyOut, orasOut := filepath.Join(dir, "pulled-packyard"), filepath.Join(dir, "pulled-oras")
				pullPy := func() {
					py = append(py, timed(b, repoRoot, packyardBin, append([]string{"pack", "pull", "bench-pack:1.0.0", pyOut}, remote(r, base)...)...))
				}
				pullOras := func() {
					them = append(them, timed(b, dir, orasBin, "pull", "--plain-http", ref, "-o", orasOut))
				}
				if k%2 == 0 {
					pullPy()
					pullOras()
				} else {
					pullOras()
					pullPy()
				}
				b.StopTimer()
				for _, out := range []string{pyOut, orasOut} {
					if got := float64(benchpack.DirSize(b, out)) / 1e6; got < mb*0.99 {
						b.Fatalf("%s holds %.1f MB after the pull, want %.1f", out, got, mb)
					}
					must(b, os.RemoveAll(out))
				}
				b.StartTimer()
			}
		}
		reportPair(b, "oras", py, them, mb, 1)
	})
}

// orasLoop is the documented way to publish packs to Palette, one at a
// time: tar czf, then oras push --image-spec v1.0.
const orasLoop = `#!/usr/bin/env bash
# usage: oras-loop.sh ORAS REGISTRY/BASE CATALOG NAME:VERSION...
set -euo pipefail
oras=$1 reg=$2
cd "$3"
shift 3
for nv in "$@"; do
	name=${nv%%:*} version=${nv#*:}
	tar czf "$name-$version.tar.gz" "$name-$version/"
	"$oras" push --plain-http --image-spec v1.0 "$reg/spectro-packs/archive/$name:$version" "$name-$version.tar.gz" >/dev/null
done
`

// pushSummary is the part of `pack push -o json` the benchmarks check.
type pushSummary struct {
	Pushed, Unchanged, Failed int
}

func pushCatalog(b *testing.B, r *registry, base string, dirs []string, format string) (usage, pushSummary) {
	b.Helper()
	args := []string{"pack", "push"}
	if format != "" {
		args = append(args, "--format", format)
	}
	args = append(append(append(args, dirs...), remote(r, base)...), "-o", "json")
	out, u := runUsage(b, repoRoot, packyardBin, args...)
	var sum pushSummary
	if err := json.Unmarshal(out, &sum); err != nil {
		b.Fatalf("pack push -o json: %v\n%s", err, tail(string(out)))
	}
	return u, sum
}

// BenchmarkRegistryCatalog publishes a catalog of 200 generated packs
// (20 KB to 5 MB, about 150 MB) with one `packyard pack push DIR...` call,
// in Palette's encoding only and in both encodings (the default), against
// the documented loop (tar czf, then oras push --image-spec v1.0, one pack
// at a time); then publishes it again unchanged. Goals: the first publish
// at least 5x faster than the loop, the second at least 20x.
func BenchmarkRegistryCatalog(b *testing.B) {
	r := sharedRegistry(b)
	dir := b.TempDir()
	catalog := filepath.Join(dir, "catalog")
	packs := benchpack.Catalog(b, catalog, 200)
	mb := float64(benchpack.DirSize(b, catalog)) / 1e6
	b.Logf("catalog: %d packs, %.1f MB", len(packs), mb)
	benchpack.Warm(b, catalog)
	script := filepath.Join(dir, "oras-loop.sh")
	must(b, os.WriteFile(script, []byte(orasLoop), 0o755))
	var dirs, refs []string
	for _, p := range packs {
		dirs = append(dirs, p.Dir)
		refs = append(refs, p.Name+":"+p.Version)
	}
	firstTarball := filepath.Join(catalog, packs[0].Name+"-"+packs[0].Version+".tar.gz")

	var loop, pal, both [2][]usage
	for i := 0; i < b.N; i++ {
		loopBase, palBase, bothBase := fresh("catalog-oras"), fresh("catalog-palette"), fresh("catalog-both")
		var tarballDigest string
		for pass := range 2 {
			want := pushSummary{Pushed: len(packs)}
			if pass == 1 {
				want = pushSummary{Unchanged: len(packs)}
			}
			loop[pass] = append(loop[pass], timed(b, dir, "bash", append([]string{script, orasBin, r.Host + "/" + loopBase, catalog}, refs...)...))
			d, sum := pushCatalog(b, r, palBase, dirs, "palette")
			if sum != want {
				b.Fatalf("pack push --format palette, pass %d: %+v, want %+v", pass+1, sum, want)
			}
			pal[pass] = append(pal[pass], d)
			d, sum = pushCatalog(b, r, bothBase, dirs, "")
			if sum != want {
				b.Fatalf("pack push, pass %d: %+v, want %+v", pass+1, sum, want)
			}
			both[pass] = append(both[pass], d)

			b.StopTimer()
			digest := fileDigest(b, firstTarball)
			if pass == 1 && digest != tarballDigest {
				b.Logf("the loop's tar czf made other bytes the second time (%s, then %s): oras uploads them again", tarballDigest, digest)
			}
			tarballDigest = digest
			b.StartTimer()
		}
	}
	for pass, name := range []string{"first", "again"} {
		l, p, bo := median(walls(loop[pass])), median(walls(pal[pass])), median(walls(both[pass]))
		b.ReportMetric(l.Seconds(), name+"-loop-s")
		b.ReportMetric(p.Seconds(), name+"-palette-s")
		b.ReportMetric(bo.Seconds(), name+"-both-s")
		b.ReportMetric(l.Seconds()/p.Seconds(), name+"-loop/palette")
		b.ReportMetric(l.Seconds()/bo.Seconds(), name+"-loop/both")
		goal := 5.0
		if pass == 1 {
			goal = 20
		}
		b.Logf("%s publish: loop %s; packyard --format palette %s: %.1fx, %s; packyard both encodings %s: %.1fx, %s (goal >= %.0fx)",
			name, describe(loop[pass]), describe(pal[pass]), l.Seconds()/p.Seconds(), met(l >= time.Duration(goal*float64(p))),
			describe(both[pass]), l.Seconds()/bo.Seconds(), met(l >= time.Duration(goal*float64(bo))), goal)
	}
}

func fileDigest(b *testing.B, path string) string {
	b.Helper()
	f, err := os.Open(path)
	must(b, err)
	defer f.Close()
	h := sha256.New()
	_, err = io.Copy(h, f)
	must(b, err)
	return hex.EncodeToString(h.Sum(nil))
}

// listedPack is the part of `pack ls -o json` the benchmark checks.
type listedPack struct {
	Name     string `json:"name"`
	Versions []struct {
		Version     string `json:"version"`
		DisplayName string `json:"displayName"`
		Layer       string `json:"layer"`
	} `json:"versions"`
}

// BenchmarkRegistryList lists 1,000 packs of 3 versions each, with their
// metadata, with `packyard pack ls -o json`. Goal: under 2 s. The registry
// is seeded with small native-only packs by the Go client, in parallel.
func BenchmarkRegistryList(b *testing.B) {
	const packs, versions = 1000, 3
	r := sharedRegistry(b)
	base := listSeeded(b, r, packs, versions)
	repos := countRepositories(b, r)

	args := append([]string{"pack", "ls"}, append(remote(r, base), "-o", "json")...)
	var took []usage
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, u := runUsage(b, repoRoot, packyardBin, args...)
		took = append(took, u)
		b.StopTimer()
		checkListing(b, out, packs, versions)
		b.StartTimer()
	}
	m := median(walls(took))
	b.ReportMetric(m.Seconds(), "ls-s")
	b.ReportMetric(float64(repos), "registry-repos")
	b.Logf("pack ls of %d packs x %d versions: %s, median of %d runs (registry holds %d repositories); goal < 2s: %s",
		packs, versions, describe(took), len(took), repos, met(m < 2*time.Second))
}

// listSeed is the listing's base path, seeded once per run: the testing
// package may call a benchmark function more than once.
var listSeed struct {
	once sync.Once
	base string
	took time.Duration
}

// listSeeded seeds the registry for the listing on first use and returns
// the base path.
func listSeeded(b *testing.B, r *registry, packs, versions int) string {
	b.Helper()
	listSeed.once.Do(func() {
		start := time.Now()
		base := fresh("list")
		seedList(b, r, filepath.Join(tmpRoot, "list-packs"), base, packs, versions)
		listSeed.base, listSeed.took = base, time.Since(start)
	})
	if listSeed.base == "" {
		b.Fatal("seeding the listing failed earlier")
	}
	b.Logf("seeded %d packs of %d versions in %v with the Go client (ociregistry.PushMany, 32 at once)",
		packs, versions, listSeed.took.Round(time.Millisecond))
	return listSeed.base
}

// seedList pushes packs x versions small native packs below base.
func seedList(b *testing.B, r *registry, dir, base string, packs, versions int) {
	b.Helper()
	var sources []string
	for i := range packs {
		for v := range versions {
			name, version := fmt.Sprintf("list-pack-%04d", i), fmt.Sprintf("1.%d.0", v)
			pack := filepath.Join(dir, name+"-"+version)
			must(b, os.MkdirAll(pack, 0o755))
			writeSmallPack(b, pack, name, version)
			sources = append(sources, pack)
		}
	}
	client, err := ociregistry.New(ociregistry.Options{PlainHTTP: true, Credentials: credentials.NewMemoryStore(), NoCache: true})
	must(b, err)
	loc, err := ociregistry.ParseLocation(r.Host + "/" + base)
	must(b, err)
	results, err := client.PushMany(context.Background(), sources, loc, ociregistry.PushOptions{
		Format: packer.FormatNative, Packs: 32,
	})
	must(b, err)
	for _, res := range results {
		if res.Err != nil {
			b.Fatalf("seeding %s: %v", res.Source, res.Err)
		}
	}
}

// smallLogo is a 16x16 PNG shared by the listing's packs.
var smallLogo = func() []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 16, 16))); err != nil {
		panic(err)
	}
	return buf.Bytes()
}()

func writeSmallPack(b *testing.B, pack, name, version string) {
	b.Helper()
	meta := map[string]any{
		"name": name, "displayName": "List " + name, "version": version, "layer": "addon",
		"addonType": "monitoring", "cloudTypes": []string{"aws", "azure", "vsphere"},
	}
	data, _ := json.MarshalIndent(meta, "", "  ")
	files := map[string][]byte{
		"pack.json":   data,
		"values.yaml": fmt.Appendf(nil, "pack:\n  namespace: %s\n", name),
		"README.md":   fmt.Appendf(nil, "# %s %s\n", name, version),
		"logo.png":    smallLogo,
	}
	for rel, content := range files {
		must(b, os.WriteFile(filepath.Join(pack, rel), content, 0o644))
	}
}

// countRepositories counts the repositories the registry's storage holds.
func countRepositories(b *testing.B, r *registry) int {
	b.Helper()
	n := 0
	root := filepath.Join(r.Storage, "docker", "registry", "v2", "repositories")
	must(b, filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "_manifests" {
			n++
			return filepath.SkipDir
		}
		return nil
	}))
	return n
}

func checkListing(b *testing.B, out []byte, packs, versions int) {
	b.Helper()
	var listed []listedPack
	if err := json.Unmarshal(out, &listed); err != nil {
		b.Fatalf("pack ls -o json: %v\n%s", err, tail(string(out)))
	}
	if len(listed) != packs {
		b.Fatalf("pack ls listed %d packs, want %d", len(listed), packs)
	}
	for _, p := range listed {
		if len(p.Versions) != versions {
			b.Fatalf("pack ls: %s has %d versions, want %d", p.Name, len(p.Versions), versions)
		}
		for _, v := range p.Versions {
			if v.DisplayName != "List "+p.Name || v.Layer != "addon" {
				b.Fatalf("pack ls: %s %s has no metadata: %+v", p.Name, v.Version, v)
			}
		}
	}
}

// peak runs packyard and returns its peak resident memory in MiB, read from
// /proc while it runs (a child's rusage would count the memory of the
// process it was forked from, this benchmark), and how long it took.
func peak(b *testing.B, args ...string) (float64, time.Duration) {
	b.Helper()
	cmd := exec.Command(packyardBin, args...)
	cmd.Dir = repoRoot
	cmd.Env = clientEnv
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	must(b, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var hwm float64
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				b.Fatalf("packyard %v: %v\n%s", args, err, tail(out.String()))
			}
			if hwm == 0 {
				b.Fatalf("packyard %v: no memory reading before it ended", args)
			}
			return hwm, time.Since(start)
		case <-tick.C:
			if v, ok := benchpack.VmHWM(cmd.Process.Pid); ok {
				hwm = max(hwm, v)
			}
		}
	}
}

// BenchmarkRegistryPeakMemory reports the peak resident memory of
// `packyard pack push` (both encodings, the default) and `pack pull` (each
// encoding) of a 1 GiB pack. Goal: under 100 MiB each.
func BenchmarkRegistryPeakMemory(b *testing.B) {
	r := sharedRegistry(b)
	dir := b.TempDir()
	pack, _ := benchpack.Pack(b, dir, "big-pack", 1<<30)
	benchpack.Warm(b, pack)
	var pushPeak, pullPeak float64
	for i := 0; i < b.N; i++ {
		base := fresh("memory")
		p, d := peak(b, append([]string{"pack", "push", pack}, remote(r, base)...)...)
		pushPeak = max(pushPeak, p)
		b.Logf("pack push (both encodings) of 1 GiB: peak %.1f MiB, %v", p, d.Round(time.Millisecond))
		for _, format := range []string{"native", "palette"} {
			out := filepath.Join(dir, "pulled")
			p, d := peak(b, append([]string{"pack", "pull", "big-pack:1.0.0", out, "--format", format}, remote(r, base)...)...)
			pullPeak = max(pullPeak, p)
			b.Logf("pack pull --format %s of 1 GiB: peak %.1f MiB, %v", format, p, d.Round(time.Millisecond))
			must(b, os.RemoveAll(out))
		}
	}
	b.ReportMetric(pushPeak, "push-peak-MiB")
	b.ReportMetric(pullPeak, "pull-peak-MiB")
	b.Logf("goal < 100 MiB: push %s, pull %s", met(pushPeak < 100), met(pullPeak < 100))
}
