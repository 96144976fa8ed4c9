package packer

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
)

type tarFile struct {
	name string
	data string
	typ  byte
}

func writeTgz(t *testing.T, files []tarFile) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range files {
		typ := f.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		size := int64(len(f.data))
		if typ == tar.TypeDir {
			size = 0
		}
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Typeflag: typ, Mode: 0o644, Size: size}); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write([]byte(f.data)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "chart.tgz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLoadChartMatchesHelm checks that the streaming loader accepts and
// refuses exactly what helm's own loader does, with the same result.
func TestLoadChartMatchesHelm(t *testing.T) {
	chartYAML := "apiVersion: v2\nname: demo\nversion: 1.2.3\nappVersion: \"4.5\"\n"
	big := strings.Repeat("x", chartKeepSize+1)
	cases := map[string][]tarFile{
		"plain": {
			{name: "demo/", typ: tar.TypeDir},
			{name: "demo/Chart.yaml", data: chartYAML},
			{name: "demo/values.yaml", data: "replicas: 2\n"},
			{name: "demo/templates/deploy.yaml", data: "kind: Deployment\n"},
			{name: "demo/files/big.bin", data: big},
		},
		"bom":                {{name: "demo/Chart.yaml", data: "\xEF\xBB\xBF" + chartYAML}},
		"no Chart.yaml":      {{name: "demo/values.yaml", data: "a: 1\n"}},
		"bad Chart.yaml":     {{name: "demo/Chart.yaml", data: "name: [\n"}},
		"no version":         {{name: "demo/Chart.yaml", data: "apiVersion: v2\nname: demo\n"}},
		"top-level chart":    {{name: "Chart.yaml", data: chartYAML}},
		"parent reference":   {{name: "demo/Chart.yaml", data: chartYAML}, {name: "demo/../../x", data: "x"}},
		"absolute":           {{name: "demo/Chart.yaml", data: chartYAML}, {name: "demo//etc/x", data: "x"}},
		"base folder only":   {{name: "demo/Chart.yaml", data: chartYAML}, {name: "demo", data: "x"}},
		"bad values":         {{name: "demo/Chart.yaml", data: chartYAML}, {name: "demo/values.yaml", data: "a: [\n"}},
		"too large file":     {{name: "demo/Chart.yaml", data: chartYAML}, {name: "demo/files/huge", data: strings.Repeat("y", int(loader.MaxDecompressedFileSize)+1)}},
		"empty":              {},
		"windows separators": {{name: `demo\Chart.yaml`, data: chartYAML}, {name: `demo\templates\a.yaml`, data: "a: 1\n"}},
	}
	for name, files := range cases {
		t.Run(name, func(t *testing.T) {
			p := writeTgz(t, files)
			want, wantErr := loader.LoadFile(p)
			got, gotErr := loadChart(p)
			if (wantErr == nil) != (gotErr == nil) {
				t.Fatalf("helm: %v; loadChart: %v", wantErr, gotErr)
			}
			if wantErr != nil {
				if gotErr.Error() != wantErr.Error() {
					t.Errorf("error differs:\nhelm:      %v\nloadChart: %v", wantErr, gotErr)
				}
				return
			}
			if !reflect.DeepEqual(got.Metadata, want.Metadata) {
				t.Errorf("metadata differs: %+v vs %+v", got.Metadata, want.Metadata)
			}
			if !reflect.DeepEqual(got.Values, want.Values) || len(got.Templates) != len(want.Templates) || len(got.Files) != len(want.Files) {
				t.Errorf("chart differs: values %v/%v templates %d/%d files %d/%d",
					got.Values, want.Values, len(got.Templates), len(want.Templates), len(got.Files), len(want.Files))
			}
		})
	}
}

func TestLoadChartNotGzip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "chart.tgz")
	if err := os.WriteFile(p, []byte("apiVersion: v2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadChart(p); err == nil || !strings.Contains(err.Error(), "does not appear to be a gzipped archive") {
		t.Fatalf("loadChart of a YAML file: %v", err)
	}
}

// TestLoadChartRealCharts loads the real packs' charts both ways.
func TestLoadChartRealCharts(t *testing.T) {
	matches, _ := filepath.Glob("../../testdata/packs/*/charts/*.tgz")
	if len(matches) < 2 {
		t.Fatalf("found %d chart archives in testdata, want the real packs' charts", len(matches))
	}
	for _, p := range matches {
		want, err := loader.LoadFile(p)
		if err != nil {
			t.Fatalf("helm: %v", err)
		}
		got, err := loadChart(p)
		if err != nil {
			t.Fatalf("loadChart(%s): %v", p, err)
		}
		if got.Metadata.Name != want.Metadata.Name || got.Metadata.Version != want.Metadata.Version ||
			len(got.Templates) != len(want.Templates) || len(got.Dependencies()) != len(want.Dependencies()) {
			t.Errorf("%s: loadChart gives %s %s (%d templates, %d deps), helm %s %s (%d, %d)", p,
				got.Metadata.Name, got.Metadata.Version, len(got.Templates), len(got.Dependencies()),
				want.Metadata.Name, want.Metadata.Version, len(want.Templates), len(want.Dependencies()))
		}
	}
}
