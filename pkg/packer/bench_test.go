package packer_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/packyard/packyard/internal/benchpack"
	"github.com/packyard/packyard/pkg/ocilayout"
	"github.com/packyard/packyard/pkg/packer"
)

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

const benchPackSize = 256 << 20

// benchPack writes the benchmark pack: about total bytes whose bulk is
// valid chart archives (see package benchpack).
func benchPack(tb testing.TB, dir string, total int64) string {
	pack, _ := benchpack.Pack(tb, dir, "bench-pack", total)
	return pack
}

// BenchmarkBuild builds a 256 MiB pack whose bulk is chart archives, and
// reports its speed against hashing the same bytes in the same run
// (hash-ratio: 1 means as fast as sha256 over the files; the goal is at
// least 0.5 for the native format).
func BenchmarkBuild(b *testing.B) {
	dir := b.TempDir()
	pack := benchPack(b, dir, benchPackSize)
	size := benchpack.DirSize(b, pack)
	benchpack.Warm(b, pack) // warm the page cache for both sides alike
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
				hash += benchpack.Warm(b, pack)
				b.StartTimer()
			}
			b.ReportMetric(float64(hash)/float64(b.Elapsed()), "hash-ratio")
		})
	}
}

// BenchmarkUnpack unpacks each encoding of the 256 MiB pack from a layout.
func BenchmarkUnpack(b *testing.B) {
	dir := b.TempDir()
	pack := benchPack(b, dir, benchPackSize)
	size := benchpack.DirSize(b, pack)
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
	pack := benchPack(b, dir, 1<<30)
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
				if v, ok := benchpack.VmHWM(cmd.Process.Pid); ok {
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
