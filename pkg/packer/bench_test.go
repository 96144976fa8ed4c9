package packer_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/packyard/packyard/pkg/ocilayout"
	"github.com/packyard/packyard/pkg/packer"
)

// benchChartSize is the size of each generated chart archive: large charts,
// as in real CSI and observability packs, but under helm's 100 MiB limit.
const benchChartSize = 32 << 20

// genBenchPack writes a pack of about total bytes whose bulk is valid Helm
// chart archives of incompressible content, and returns its folder.
func genBenchPack(tb testing.TB, dir string, total int64) string {
	tb.Helper()
	pack := filepath.Join(dir, "bench-pack")
	must(tb, os.MkdirAll(filepath.Join(pack, "charts"), 0o755))
	rng := rand.New(rand.NewPCG(1, 2))
	var charts []string
	for i := 0; int64(i)*benchChartSize < total; i++ {
		name := fmt.Sprintf("bulk%02d", i)
		rel := fmt.Sprintf("charts/%s-1.0.0.tgz", name)
		writeChart(tb, filepath.Join(pack, filepath.FromSlash(rel)), name, benchChartSize, rng)
		charts = append(charts, rel)
	}
	meta := map[string]any{
		"name": "bench-pack", "displayName": "Bench Pack", "version": "1.0.0", "layer": "addon",
		"addonType": "storage", "cloudTypes": []string{"all"}, "charts": charts,
	}
	data, _ := json.MarshalIndent(meta, "", "  ")
	must(tb, os.WriteFile(filepath.Join(pack, "pack.json"), data, 0o644))
	must(tb, os.WriteFile(filepath.Join(pack, "values.yaml"), []byte("pack:\n  namespace: bench\n"), 0o644))
	must(tb, os.WriteFile(filepath.Join(pack, "README.md"), []byte("# Bench pack\n"), 0o644))
	f, err := os.Create(filepath.Join(pack, "logo.png"))
	must(tb, err)
	must(tb, png.Encode(f, image.NewGray(image.Rect(0, 0, 16, 16))))
	must(tb, f.Close())
	return pack
}

// writeChart writes a chart archive of about size bytes: Chart.yaml plus
// random files of 4 MiB, stored without compression (random data does not
// compress), so the archive is as large as its content.
func writeChart(tb testing.TB, path, name string, size int64, rng *rand.Rand) {
	tb.Helper()
	f, err := os.Create(path)
	must(tb, err)
	zw, _ := gzip.NewWriterLevel(f, gzip.NoCompression)
	tw := tar.NewWriter(zw)
	chartYAML := fmt.Sprintf("apiVersion: v2\nname: %s\nversion: 1.0.0\n", name)
	must(tb, tw.WriteHeader(&tar.Header{Name: name + "/Chart.yaml", Mode: 0o644, Size: int64(len(chartYAML))}))
	_, err = tw.Write([]byte(chartYAML))
	must(tb, err)
	buf := make([]byte, 4<<20)
	for i := int64(0); i*int64(len(buf)) < size; i++ {
		for j := 0; j+8 <= len(buf); j += 8 {
			v := rng.Uint64()
			buf[j], buf[j+1], buf[j+2], buf[j+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
			buf[j+4], buf[j+5], buf[j+6], buf[j+7] = byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56)
		}
		must(tb, tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("%s/files/blob-%03d.bin", name, i), Mode: 0o644, Size: int64(len(buf))}))
		_, err = tw.Write(buf)
		must(tb, err)
	}
	must(tb, tw.Close())
	must(tb, zw.Close())
	must(tb, f.Close())
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func dirSize(tb testing.TB, dir string) int64 {
	var n int64
	must(tb, filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			n += info.Size()
		}
		return err
	}))
	return n
}

// hashDir is the baseline: read and sha256 every file of the pack once.
func hashDir(tb testing.TB, dir string) time.Duration {
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
		h := sha256.New()
		_, err = io.CopyBuffer(h, f, buf)
		return err
	}))
	return time.Since(start)
}

const benchPackSize = 256 << 20

// BenchmarkBuild builds a 256 MiB pack whose bulk is chart archives, and
// reports its speed against hashing the same bytes in the same run
// (hash-ratio: 1 means as fast as sha256 over the files; the goal is at
// least 0.5 for the native format).
func BenchmarkBuild(b *testing.B) {
	dir := b.TempDir()
	pack := genBenchPack(b, dir, benchPackSize)
	size := dirSize(b, pack)
	hashDir(b, pack) // warm the page cache for both sides alike
	for _, format := range []packer.Format{packer.FormatNative, packer.FormatPalette, packer.FormatBoth} {
		b.Run(string(format), func(b *testing.B) {
			p, err := packer.Load(context.Background(), pack)
			must(b, err)
			var hash time.Duration
			b.SetBytes(size)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				out := filepath.Join(dir, "layout-"+strconv.Itoa(i))
				if _, err := packer.BuildToLayout(context.Background(), p, out, packer.BuildOptions{Format: format}); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				must(b, os.RemoveAll(out))
				hash += hashDir(b, pack)
				b.StartTimer()
			}
			b.ReportMetric(float64(hash)/float64(b.Elapsed()), "hash-ratio")
		})
	}
}

// BenchmarkUnpack unpacks each encoding of the 256 MiB pack from a layout.
func BenchmarkUnpack(b *testing.B) {
	dir := b.TempDir()
	pack := genBenchPack(b, dir, benchPackSize)
	size := dirSize(b, pack)
	p, err := packer.Load(context.Background(), pack)
	must(b, err)
	layoutDir := filepath.Join(dir, "layout")
	res, err := packer.BuildToLayout(context.Background(), p, layoutDir, packer.BuildOptions{})
	must(b, err)
	l, err := ocilayout.Open(layoutDir)
	must(b, err)
	for _, a := range res.Artifacts() {
		b.Run(a.Encoding, func(b *testing.B) {
			b.SetBytes(size)
			for i := 0; i < b.N; i++ {
				out := filepath.Join(dir, "unpacked-"+strconv.Itoa(i))
				if _, err := packer.Unpack(context.Background(), l, a.Manifest, out, packer.UnpackOptions{}); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				must(b, os.RemoveAll(out))
				b.StartTimer()
			}
		})
	}
}

// vmHWM reads a running process's peak resident memory in MiB.
func vmHWM(pid int) (float64, bool) {
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

// BenchmarkPeakMemory runs the packyard binary on a 1 GiB pack and reports
// the peak resident memory of `pack build` and `pack unpack` (goal: under
// 100 MiB each: content is streamed, never held whole).
func BenchmarkPeakMemory(b *testing.B) {
	dir := b.TempDir()
	bin := filepath.Join(dir, "packyard")
	build := exec.Command("go", "build", "-o", bin, "github.com/packyard/packyard/cmd/packyard")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("building packyard: %v\n%s", err, out)
	}
	pack := genBenchPack(b, dir, 1<<30)
	layoutDir := filepath.Join(dir, "layout")
	peak := func(args ...string) float64 {
		cmd := exec.Command(bin, args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		must(b, cmd.Start())
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		// The rusage of a child counts the memory of the process it was
		// forked from, so read the child's own high-water mark instead.
		var hwm float64
		for {
			select {
			case err := <-done:
				if err != nil {
					b.Fatalf("packyard %v: %v\n%s", args, err, out.String())
				}
				if hwm == 0 {
					b.Fatalf("packyard %v: no memory reading before it ended", args)
				}
				return hwm
			case <-time.After(2 * time.Millisecond):
				if v, ok := vmHWM(cmd.Process.Pid); ok {
					hwm = max(hwm, v)
				}
			}
		}
	}
	var buildPeak, unpackPeak float64
	for i := 0; i < b.N; i++ {
		must(b, os.RemoveAll(layoutDir))
		buildPeak = max(buildPeak, peak("pack", "build", pack, "-o", layoutDir))
		for _, tag := range []string{"1.0.0", "1.0.0-palette"} {
			out := filepath.Join(dir, "unpacked")
			must(b, os.RemoveAll(out))
			unpackPeak = max(unpackPeak, peak("pack", "unpack", layoutDir+":"+tag, out))
		}
	}
	b.ReportMetric(buildPeak, "build-peak-MiB")
	b.ReportMetric(unpackPeak, "unpack-peak-MiB")
}
