package packer

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	kgzip "github.com/klauspost/compress/gzip"
	"helm.sh/helm/v3/pkg/chart/loader"
)

// fzGunzip is the tar inside a chart archive, or nil.
func fzGunzip(data []byte) []byte {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil
	}
	out, err := io.ReadAll(io.LimitReader(zr, 1<<20))
	if err != nil {
		return nil
	}
	return out
}

// fzGzip compresses data as a chart archive is.
func fzGzip(data []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(data)
	_ = zw.Close()
	return buf.Bytes()
}

// fzGzipSound says whether data is a gzip stream both gzip readers read
// whole without error.
func fzGzipSound(data []byte) bool {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return false
	}
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return false
	}
	kr, err := kgzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return false
	}
	_, err = io.Copy(io.Discard, kr)
	return err == nil
}

// FuzzLoadChart feeds lint's streaming chart loader chart archives, and
// compares it with helm's own loader, which it must agree with: it loads
// only what helm loads, as helm loads it, and refuses what helm refuses,
// with helm's message, wherever the gzip stream is sound. The
// archive is given compressed, or as the tar inside, which the fuzzer
// changes more usefully, to be compressed here.
func FuzzLoadChart(f *testing.F) {
	real, err := filepath.Glob("../../examples/*/charts/*.tgz")
	if err != nil || len(real) == 0 {
		f.Fatalf("no example chart archives: %v", err)
	}
	for _, name := range real {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, false)
		f.Add(fzGunzip(data), true)
	}
	chartYAML := "apiVersion: v2\nname: demo\nversion: 1.2.3\n"
	tarOf := func(entries ...tarFile) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, e := range entries {
			typ := e.typ
			if typ == 0 {
				typ = tar.TypeReg
			}
			size := int64(len(e.data))
			if typ != tar.TypeReg {
				size = 0
			}
			if err := tw.WriteHeader(&tar.Header{Name: e.name, Typeflag: typ, Mode: 0o644, Size: size}); err != nil {
				f.Fatal(err)
			}
			if size > 0 {
				if _, err := tw.Write([]byte(e.data)); err != nil {
					f.Fatal(err)
				}
			}
		}
		if err := tw.Close(); err != nil {
			f.Fatal(err)
		}
		return buf.Bytes()
	}
	for _, entries := range [][]tarFile{
		{{name: "demo/Chart.yaml", data: chartYAML}, {name: "demo/values.yaml", data: "a: [1, 2]\n"}, {name: "demo/templates/x.yaml", data: "{{ .Values.a }}"}},
		{{name: "demo/Chart.yaml", data: "\xEF\xBB\xBF" + chartYAML}},
		{{name: "demo/Chart.yaml", data: chartYAML}, {name: "demo/charts/sub/Chart.yaml", data: "apiVersion: v2\nname: sub\nversion: 0.1.0\n"}},
		{{name: "demo/Chart.yaml", data: chartYAML}, {name: "demo/charts/sub.tgz", data: string(fzGzip([]byte("not a tar")))}},
		{{name: "demo/Chart.yaml", data: chartYAML}, {name: "demo/values.schema.json", data: `{"type": "object"}`}},
		{{name: "demo/Chart.yaml", data: "apiVersion: v1\nname: demo\nversion: 1.2.3\n"}, {name: "demo/requirements.yaml", data: "dependencies: [{name: x}]\n"}},
		{{name: "demo/Chart.yaml", data: chartYAML}, {name: "demo/Chart.lock", data: "digest: x\n"}},
		{{name: "Chart.yaml", data: chartYAML}},
		{{name: "demo/../../x", data: "x"}},
		{{name: "demo//etc/passwd", data: "x"}},
		{{name: `demo\Chart.yaml`, data: chartYAML}, {name: `demo\..\..\x`, data: "x"}},
		{{name: "demo/c:/x", data: "x"}},
		{{name: "demo/Chart.yaml", data: chartYAML}, {name: "demo/link", typ: tar.TypeSymlink}},
		{{name: "demo/", typ: tar.TypeDir}},
		{{name: "demo/Chart.yaml", data: "apiVersion: v2\nname: demo\nversion: [\n"}},
		{{name: "demo/Chart.yaml", data: "apiVersion: v3\nname: ../demo\nversion: 1\n"}},
		{},
	} {
		f.Add(tarOf(entries...), true)
	}
	f.Add([]byte("apiVersion: v2\n"), false)
	f.Add([]byte("\x1f\x8b\x08"), false)
	f.Add(append(fzGzip(tarOf(tarFile{name: "demo/Chart.yaml", data: chartYAML})), "trailing"...), false)

	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte, compress bool) {
		if compress {
			data = fzGzip(data)
		}
		p := filepath.Join(dir, "chart.tgz")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		want, wantErr := loader.LoadFile(p)
		got, gotErr := loadChart(p)
		if gotErr == nil && wantErr != nil {
			t.Fatalf("loadChart loads what helm refuses: %v", wantErr)
		}
		if gotErr != nil && errors.Is(gotErr, io.EOF) {
			t.Errorf("loadChart fails with %q, which does not say the archive is cut short", gotErr)
		}
		// Helm's gzip reader and lint's differ on damaged streams (lint's
		// refuses reserved header flags, and reads past the tar's end);
		// on a sound stream, only the tar and the chart matter, and both
		// loaders must agree on them.
		if !fzGzipSound(data) {
			return
		}
		switch {
		case gotErr != nil && wantErr == nil:
			t.Fatalf("loadChart refuses what helm loads: %v", gotErr)
		case gotErr != nil:
			if gotErr.Error() != wantErr.Error() {
				t.Errorf("loadChart: %v\nhelm: %v", gotErr, wantErr)
			}
			return
		case wantErr != nil:
			return
		}
		if !reflect.DeepEqual(got.Metadata, want.Metadata) || !reflect.DeepEqual(got.Values, want.Values) ||
			!reflect.DeepEqual(got.Schema, want.Schema) || !reflect.DeepEqual(got.Lock, want.Lock) {
			t.Errorf("loadChart loads %+v, helm %+v", got.Metadata, want.Metadata)
		}
		if len(got.Templates) != len(want.Templates) || len(got.Files) != len(want.Files) ||
			len(got.Raw) != len(want.Raw) || len(got.Dependencies()) != len(want.Dependencies()) {
			t.Errorf("loadChart loads %d templates, %d files, %d raw, %d dependencies; helm %d, %d, %d, %d",
				len(got.Templates), len(got.Files), len(got.Raw), len(got.Dependencies()),
				len(want.Templates), len(want.Files), len(want.Raw), len(want.Dependencies()))
		}
	})
}
