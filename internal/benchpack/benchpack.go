// Package benchpack generates the packs packyard's benchmarks measure:
// large packs whose bulk is valid Helm chart archives of incompressible
// content, and catalogs of many packs shaped like real ones. The content is
// fixed by a seed, so every run measures the same bytes.
package benchpack

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ChartSize is the size of each chart archive of the big packs, as in
// pkg/packer's benchmarks: large charts, as in real CSI and observability
// packs, under helm's 100 MiB limit.
const ChartSize = 32 << 20

// Pack writes a pack named name of about total bytes whose bulk is
// valid Helm chart archives of incompressible content , and returns its folder and its files, relative to it.
func Pack(tb testing.TB, dir, name string, total int64) (string, []string) {
	tb.Helper()
	pack := filepath.Join(dir, name)
	must(tb, os.MkdirAll(filepath.Join(pack, "charts"), 0o755))
	rng := rand.New(rand.NewPCG(1, 2))
	var charts []string
	for i := 0; int64(i)*ChartSize < total; i++ {
		chart := fmt.Sprintf("bulk%02d", i)
		rel := fmt.Sprintf("charts/%s-1.0.0.tgz", chart)
		writeChart(tb, filepath.Join(pack, filepath.FromSlash(rel)), chart, "1.0.0", ChartSize, 4<<20, rng)
		charts = append(charts, rel)
	}
	writePackFiles(tb, pack, name, "1.0.0", charts, rng)
	return pack, append([]string{"pack.json", "values.yaml", "README.md", "logo.png"}, charts...)
}

// writePackFiles writes pack.json, values.yaml, README.md and logo.png.
func writePackFiles(tb testing.TB, pack, name, version string, charts []string, rng *rand.Rand) {
	tb.Helper()
	meta := map[string]any{
		"name": name, "displayName": "Bench " + name, "version": version, "layer": "addon",
		"addonType": "storage", "cloudTypes": []string{"all"}, "charts": charts,
	}
	data, _ := json.MarshalIndent(meta, "", "  ")
	must(tb, os.WriteFile(filepath.Join(pack, "pack.json"), data, 0o644))
	values := fmt.Sprintf("pack:\n  namespace: %s\n  content:\n    images: []\ncharts:\n  %s:\n    replicas: 1\n", name, name)
	must(tb, os.WriteFile(filepath.Join(pack, "values.yaml"), []byte(values), 0o644))
	readme := fmt.Sprintf("# %s\n\nA generated pack for packyard's registry benchmarks.\n", name)
	must(tb, os.WriteFile(filepath.Join(pack, "README.md"), []byte(readme), 0o644))
	// A 48x48 logo of noise: about 9 KB, like a small real logo.
	img := image.NewNRGBA(image.Rect(0, 0, 48, 48))
	for y := range 48 {
		for x := range 48 {
			v := rng.Uint32()
			img.Set(x, y, color.NRGBA{byte(v), byte(v >> 8), byte(v >> 16), 255})
		}
	}
	var buf bytes.Buffer
	must(tb, png.Encode(&buf, img))
	must(tb, os.WriteFile(filepath.Join(pack, "logo.png"), buf.Bytes(), 0o644))
}

// writeChart writes a chart archive of about size bytes: Chart.yaml plus
// random files of at most fileSize bytes, stored without compression
// (random data does not compress), so the archive is as large as its
// content.
func writeChart(tb testing.TB, path, name, version string, size, fileSize int64, rng *rand.Rand) {
	tb.Helper()
	f, err := os.Create(path)
	must(tb, err)
	zw, _ := gzip.NewWriterLevel(f, gzip.NoCompression)
	tw := tar.NewWriter(zw)
	chartYAML := fmt.Sprintf("apiVersion: v2\nname: %s\nversion: %s\n", name, version)
	must(tb, tw.WriteHeader(&tar.Header{Name: name + "/Chart.yaml", Mode: 0o644, Size: int64(len(chartYAML)),
		ModTime: time.Unix(1700000000, 0)}))
	_, err = tw.Write([]byte(chartYAML))
	must(tb, err)
	buf := make([]byte, fileSize)
	for i := 0; size > 0; i++ {
		n := min(size, fileSize)
		b := buf[:n]
		for j := 0; j+8 <= len(b); j += 8 {
			v := rng.Uint64()
			b[j], b[j+1], b[j+2], b[j+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
			b[j+4], b[j+5], b[j+6], b[j+7] = byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56)
		}
		must(tb, tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("%s/files/blob-%03d.bin", name, i), Mode: 0o644, Size: n,
			ModTime: time.Unix(1700000000, 0)}))
		_, err = tw.Write(b)
		must(tb, err)
		size -= n
	}
	must(tb, tw.Close())
	must(tb, zw.Close())
	must(tb, f.Close())
}

// CatalogPack is one pack of a generated catalog.
type CatalogPack struct {
	Name, Version string
	// Dir is the pack's folder, NAME-VERSION, as the documented loop
	// expects.
	Dir  string
	Size int64
}

// Catalog writes n packs shaped like real ones into dir: pack.json,
// values.yaml, README.md, logo.png and one chart archive each, with sizes
// spread from 20 KB to 5 MB (most of them small, as in a real catalog;
// 200 packs come to about 150 MB).
func Catalog(tb testing.TB, dir string, n int) []CatalogPack {
	tb.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	const minSize, maxSize = 20e3, 5e6
	// Sizes evenly spread on a log scale, skewed towards the small end
	// (exponent 1.28), then shuffled so big and small packs mix.
	sizes := make([]int64, n)
	for i := range sizes {
		u := float64(i) / float64(max(n-1, 1))
		sizes[i] = int64(minSize * math.Pow(maxSize/minSize, math.Pow(u, 1.28)))
	}
	rng.Shuffle(len(sizes), func(i, j int) { sizes[i], sizes[j] = sizes[j], sizes[i] })
	packs := make([]CatalogPack, n)
	for i := range packs {
		p := CatalogPack{
			Name:    fmt.Sprintf("pack-%03d", i),
			Version: fmt.Sprintf("1.%d.%d", i%7, i%3),
			Size:    sizes[i],
		}
		p.Dir = filepath.Join(dir, p.Name+"-"+p.Version)
		must(tb, os.MkdirAll(filepath.Join(p.Dir, "charts"), 0o755))
		chart := fmt.Sprintf("charts/%s-%s.tgz", p.Name, p.Version)
		writePackFiles(tb, p.Dir, p.Name, p.Version, []string{chart}, rng)
		// The chart is the rest of the pack's size.
		rest := max(p.Size-DirSize(tb, p.Dir), 4<<10)
		writeChart(tb, filepath.Join(p.Dir, filepath.FromSlash(chart)), p.Name, p.Version, rest, 1<<20, rng)
		packs[i] = p
	}
	return packs
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func DirSize(tb testing.TB, dir string) int64 {
	tb.Helper()
	var n int64
	must(tb, filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			n += info.Size()
		}
		return err
	}))
	return n
}

// Warm reads and hashes every file below dir, so that the page cache holds
// them for both sides alike.
//
// It returns how long that took: reading and hashing the bytes once is the
// baseline build speed is measured against.
func Warm(tb testing.TB, dir string) time.Duration {
	tb.Helper()
	start := time.Now()
	buf := make([]byte, 1<<20)
	must(tb, filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || !info.Mode().IsRegular() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.CopyBuffer(sha256.New(), f, buf)
		return err
	}))
	return time.Since(start)
}

// VmHWM reads a running process's peak resident memory, in MiB, from
// /proc. (A child's rusage maxrss counts the memory of the process it was
// started from, so it cannot measure the child alone.)
func VmHWM(pid int) (float64, bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kib / 1024, err == nil
		}
	}
	return 0, false
}
