package packer_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/packyard/packyard/pkg/packer"
)

// lintBasePackJSON is pack.json of the valid pack every lint case starts
// from. Positions in the cases are found in the text by lintAt, so keep
// every needle unique.
const lintBasePackJSON = `{
  "name": "demo",
  "displayName": "Demo",
  "version": "1.0.0",
  "layer": "addon",
  "addonType": "monitoring",
  "cloudTypes": ["all"],
  "charts": ["charts/mychart-0.1.0.tgz"],
  "kubeManifests": ["manifests/demo.yaml"]
}
`

const lintBaseValues = `pack:
  namespace: demo
  content:
    images:
      - image: docker.io/library/nginx:1.27
charts:
  mychart:
    replicas: 1
manifests:
  demo:
    enabled: true
`

const lintBaseManifest = `apiVersion: v1
kind: ConfigMap
metadata:
  name: demo
data:
  key: value
`

// lintPNG is a small real PNG image.
func lintPNG(t testing.TB) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 8, 8))
	for x := range 8 {
		for y := range 8 {
			img.Set(x, y, color.NRGBA{R: uint8(x * 30), G: uint8(y * 30), B: 200, A: 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// lintChartArchive builds a real Helm chart archive, as `helm package`
// writes it: a gzip'd tar holding NAME/Chart.yaml and NAME/values.yaml.
func lintChartArchive(t testing.TB, name, version string) []byte {
	t.Helper()
	files := []struct{ name, body string }{
		{name + "/Chart.yaml", fmt.Sprintf("apiVersion: v2\nname: %s\nversion: %s\nappVersion: \"2.0\"\ndescription: a test chart\n", name, version)},
		{name + "/values.yaml", "replicas: 1\n"},
		{name + "/templates/configmap.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"},
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range files {
		hdr := &tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg,
			ModTime: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(f.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// lintWrite writes a file of the pack, creating its folders.
func lintWrite(t testing.TB, dir, rel string, data []byte) {
	t.Helper()
	full := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func lintRemove(t testing.TB, dir, rel string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, filepath.FromSlash(rel))); err != nil {
		t.Fatal(err)
	}
}

func lintSymlink(t testing.TB, dir, rel, target string) {
	t.Helper()
	full := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, full); err != nil {
		t.Fatal(err)
	}
}

// lintWriteBasePack writes the valid base pack into a new folder "pack"
// inside a temporary folder, so that cases can put files beside it.
func lintWriteBasePack(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pack")
	lintWrite(t, dir, "pack.json", []byte(lintBasePackJSON))
	lintWrite(t, dir, "values.yaml", []byte(lintBaseValues))
	lintWrite(t, dir, "README.md", []byte("# Demo\n\nA pack for tests.\n"))
	lintWrite(t, dir, "logo.png", lintPNG(t))
	lintWrite(t, dir, "charts/mychart-0.1.0.tgz", lintChartArchive(t, "mychart", "0.1.0"))
	lintWrite(t, dir, "manifests/demo.yaml", []byte(lintBaseManifest))
	return dir
}

// lintEdit returns the base pack.json with old replaced by new; old must
// occur exactly once.
func lintEdit(old, new string) string {
	if n := strings.Count(lintBasePackJSON, old); n != 1 {
		panic(fmt.Sprintf("%q occurs %d times in the base pack.json", old, n))
	}
	return strings.Replace(lintBasePackJSON, old, new, 1)
}

// lintAt is the 1-based line and byte column where needle starts in text;
// needle must occur exactly once.
func lintAt(text, needle string) (line, col int) {
	if n := strings.Count(text, needle); n != 1 {
		panic(fmt.Sprintf("%q occurs %d times in %q", needle, n, text))
	}
	i := strings.Index(text, needle)
	before := text[:i]
	return strings.Count(before, "\n") + 1, i - (strings.LastIndex(before, "\n") + 1) + 1
}

// lintWant is a finding as a test expects it: every field but the prose.
type lintWant struct {
	Severity packer.Severity
	Code     string
	File     string
	Line     int
	Column   int
	Field    string
}

func (w lintWant) String() string {
	return fmt.Sprintf("%s %s %s:%d:%d field=%q", w.Severity, w.Code, w.File, w.Line, w.Column, w.Field)
}

func lintGot(fs []packer.Finding) []lintWant {
	out := []lintWant{}
	for _, f := range fs {
		out = append(out, lintWant{f.Severity, f.Code, f.File, f.Line, f.Column, f.Field})
	}
	return out
}

// pj is a pack.json finding at where needle starts in text.
func lintPJ(sev packer.Severity, code, field, text, needle string) lintWant {
	line, col := lintAt(text, needle)
	return lintWant{Severity: sev, Code: code, File: "pack.json", Line: line, Column: col, Field: field}
}

// inFile is a finding about a file as a whole, or at a line and column.
func lintIn(sev packer.Severity, code, file string, line, col int, field string) lintWant {
	return lintWant{Severity: sev, Code: code, File: file, Line: line, Column: col, Field: field}
}

const (
	lintErr  = packer.SeverityError
	lintWarn = packer.SeverityWarning
)

func lintPackJSON(text string) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) { lintWrite(t, dir, "pack.json", []byte(text)) }
}

func TestLintBasePackIsClean(t *testing.T) {
	dir := lintWriteBasePack(t)
	r, err := packer.Lint(context.Background(), dir, packer.LintOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Findings) != 0 {
		t.Fatalf("base pack has findings: %v", r.Findings)
	}
	if r.Name != "demo" || r.Version != "1.0.0" || r.Dir != dir {
		t.Errorf("report = dir %q name %q version %q", r.Dir, r.Name, r.Version)
	}
	want := []packer.ChartInfo{{Path: "charts/mychart-0.1.0.tgz", Name: "mychart", Version: "0.1.0", AppVersion: "2.0"}}
	if !slices.Equal(r.Charts, want) {
		t.Errorf("charts = %+v, want %+v", r.Charts, want)
	}
}

func TestLintCases(t *testing.T) {
	var (
		noComma     = lintEdit(`"name": "demo",`, `"name": "demo"`)
		cloudString = lintEdit(`"cloudTypes": ["all"]`, `"cloudTypes": "all"`)
		cloudNum    = lintEdit(`"cloudTypes": ["all"]`, `"cloudTypes": ["all", 5]`)
		depNum      = lintEdit(`"cloudTypes": ["all"],`, "\"cloudTypes\": [\"all\"],\n  \"constraints\": {\"dependencies\": [{\"packName\": 5, \"layer\": \"k8s\", \"type\": \"optional\"}]},")
		annotNum    = lintEdit(`"cloudTypes": ["all"],`, "\"cloudTypes\": [\"all\"],\n  \"annotations\": {\n    \"team\": \"core\",\n    \"tier\": 2\n  },")
		noDisplay   = lintEdit("  \"displayName\": \"Demo\",\n", "")
		emptyVer    = lintEdit(`"version": "1.0.0"`, `"version": ""`)
		badLayer    = lintEdit(`"layer": "addon"`, `"layer": "addons"`)
		osAddon     = lintEdit(`"layer": "addon"`, `"layer": "os"`)
		badAddon    = lintEdit(`"addonType": "monitoring"`, `"addonType": "Monitoring"`)
		noAddonType = lintEdit("  \"addonType\": \"monitoring\",\n", "")
		badCloud    = lintEdit(`"cloudTypes": ["all"],`, "\"cloudTypes\": [\n    \"aws\",\n    \"vshpere\"\n  ],")
		noClouds    = lintEdit("  \"cloudTypes\": [\"all\"],\n", "")
		emptyClouds = lintEdit(`"cloudTypes": ["all"]`, `"cloudTypes": []`)
		legacyCloud = lintEdit(`"cloudTypes": ["all"]`, `"cloudType": "aws"`)
		badName     = lintEdit(`"name": "demo"`, `"name": "My Pack"`)
		upperName   = lintEdit(`"name": "demo"`, `"name": "DemoPack"`)
		vVersion    = lintEdit(`"version": "1.0.0"`, `"version": "v1.0.0"`)
		shortVer    = lintEdit(`"version": "1.0.0"`, `"version": "1.5"`)
		spaceVer    = lintEdit(`"version": "1.0.0"`, `"version": "1.0 beta"`)
		buildVer    = lintEdit(`"version": "1.0.0"`, `"version": "1.0.0+build"`)
		blankEOL    = lintEdit(`"version": "1.0.0",`, "\"version\": \"1.0.0\",\n  \"eol\": \" \",")
		calVer      = lintEdit(`"version": "1.0.0"`, `"version": "20.09.0"`)
		commitMsg   = lintEdit(`"version": "1.0.0",`, "\"version\": \"1.0.0\",\n  \"commit_msg\": \"\",")
		badEOL      = lintEdit(`"version": "1.0.0",`, "\"version\": \"1.0.0\",\n  \"eol\": \"31/01/2024\",")
		pastEOL     = lintEdit(`"version": "1.0.0",`, "\"version\": \"1.0.0\",\n  \"eol\": \"2024-01-31\",")
		dotdot      = lintEdit(`["manifests/demo.yaml"]`, `["manifests/demo.yaml", "../outside.yaml"]`)
		absPath     = lintEdit(`["manifests/demo.yaml"]`, `["manifests/demo.yaml", "/etc/hosts"]`)
		linkOut     = lintEdit(`["manifests/demo.yaml"]`, `["manifests/demo.yaml", "manifests/evil.yaml"]`)
		linkChain   = lintEdit(`["manifests/demo.yaml"]`, `["manifests/demo.yaml", "x/secret.yaml"]`)
		linkIn      = lintEdit(`["manifests/demo.yaml"]`, `["manifests/demo.yaml", "manifests/alias.yaml"]`)
		dupEntry    = lintEdit(`["manifests/demo.yaml"]`, `["manifests/demo.yaml", "./manifests/demo.yaml"]`)
		dirManifest = lintEdit(`["manifests/demo.yaml"]`, `["manifests"]`)
		typo        = lintEdit(`"version": "1.0.0",`, "\"version\": \"1.0.0\",\n  \"verison\": \"1.0.0\",")
		wrongCase   = lintEdit(`"displayName": "Demo"`, `"DisplayName": "Demo"`)
		dupKey      = lintEdit(`"name": "demo",`, "\"name\": \"demo\",\n  \"name\": \"demo2\",")
		badDep      = lintEdit(`"cloudTypes": ["all"],`, "\"cloudTypes\": [\"all\"],\n  \"constraints\": {\n    \"dependencies\": [\n      {\"packName\": \"kubernetes\", \"layer\": \"k8s\", \"type\": \"mandatory\"},\n      {\"layer\": \"k8\", \"type\": \"optional\"}\n    ]\n  },")
		role        = lintEdit(`"cloudTypes": ["all"],`, "\"cloudTypes\": [\"all\"],\n  \"ansibleRoles\": [\"ansible-roles/myrole\"],")
		chartName   = lintEdit(`"charts/mychart-0.1.0.tgz"`, `"charts/mychart.zip"`)
	)
	ctx := context.Background()
	cases := []struct {
		name   string
		mutate func(t *testing.T, dir string)
		now    time.Time
		want   []lintWant
		check  func(t *testing.T, r *packer.Report)
	}{
		{
			name:   "pack.json missing",
			mutate: func(t *testing.T, dir string) { lintRemove(t, dir, "pack.json") },
			want:   []lintWant{lintIn(lintErr, packer.CodeMissingFile, "pack.json", 0, 0, "")},
		},
		{
			name:   "pack.json is a folder",
			mutate: func(t *testing.T, dir string) { lintRemove(t, dir, "pack.json"); lintWrite(t, dir, "pack.json/x", nil) },
			want:   []lintWant{lintIn(lintErr, packer.CodeMissingFile, "pack.json", 0, 0, "")},
		},
		{
			name:   "values.yaml missing",
			mutate: func(t *testing.T, dir string) { lintRemove(t, dir, "values.yaml") },
			want:   []lintWant{lintIn(lintErr, packer.CodeMissingFile, "values.yaml", 0, 0, "")},
		},
		{
			name: "logo and README missing",
			mutate: func(t *testing.T, dir string) {
				lintRemove(t, dir, "logo.png")
				lintRemove(t, dir, "README.md")
			},
			want: []lintWant{
				lintIn(lintWarn, packer.CodeMissingFile, "README.md", 0, 0, ""),
				lintIn(lintWarn, packer.CodeMissingFile, "logo.png", 0, 0, ""),
			},
		},
		{
			name: "values.yaml is a folder",
			mutate: func(t *testing.T, dir string) {
				lintRemove(t, dir, "values.yaml")
				lintWrite(t, dir, "values.yaml/a.yaml", nil)
			},
			want: []lintWant{lintIn(lintErr, packer.CodeWrongKind, "values.yaml", 0, 0, "")},
		},
		{
			// The comma missing after "demo" is noticed at the next key.
			name:   "invalid JSON syntax",
			mutate: lintPackJSON(noComma),
			want:   []lintWant{lintPJ(lintErr, packer.CodeInvalidJSON, "", noComma, `"displayName"`)},
		},
		{
			// The end of the input is reported at its last byte.
			name:   "truncated JSON",
			mutate: lintPackJSON(lintBasePackJSON[:40]),
			want:   []lintWant{lintIn(lintErr, packer.CodeInvalidJSON, "pack.json", 3, 20, "")},
		},
		{
			name:   "pack.json is an array",
			mutate: lintPackJSON("[\n  1\n]\n"),
			want:   []lintWant{lintIn(lintErr, packer.CodeInvalidJSON, "pack.json", 1, 1, "")},
		},
		{
			name:   "cloudTypes is a string",
			mutate: lintPackJSON(cloudString),
			want:   []lintWant{lintPJ(lintErr, packer.CodeInvalidType, "cloudTypes", cloudString, `"all"`)},
		},
		{
			// The element is named, and not reported again as an unknown
			// cloud type "".
			name:   "cloudTypes element is a number",
			mutate: lintPackJSON(cloudNum),
			want:   []lintWant{lintPJ(lintErr, packer.CodeInvalidType, "cloudTypes[1]", cloudNum, "5]")},
		},
		{
			// Not reported again as a dependency without packName.
			name:   "dependency packName is a number",
			mutate: lintPackJSON(depNum),
			want:   []lintWant{lintPJ(lintErr, packer.CodeInvalidType, "constraints.dependencies[0].packName", depNum, "5,")},
		},
		{
			name:   "annotation value is a number",
			mutate: lintPackJSON(annotNum),
			want:   []lintWant{lintPJ(lintErr, packer.CodeInvalidType, "annotations.tier", annotNum, "2\n")},
		},
		{
			name:   "required field missing",
			mutate: lintPackJSON(noDisplay),
			want:   []lintWant{lintIn(lintErr, packer.CodeMissingField, "pack.json", 1, 1, "displayName")},
		},
		{
			name:   "version empty",
			mutate: lintPackJSON(emptyVer),
			want:   []lintWant{lintPJ(lintErr, packer.CodeMissingField, "version", emptyVer, `""`)},
		},
		{
			name:   "unknown layer",
			mutate: lintPackJSON(badLayer),
			want: []lintWant{
				lintPJ(lintErr, packer.CodeInvalidEnum, "layer", badLayer, `"addons"`),
			},
			check: lintFixHas("layer", `did you mean "addon"?`),
		},
		{
			name:   "addonType on an os pack",
			mutate: lintPackJSON(osAddon),
			want:   []lintWant{lintPJ(lintWarn, packer.CodeAddonType, "addonType", osAddon, `"monitoring"`)},
		},
		{
			name:   "unknown addonType",
			mutate: lintPackJSON(badAddon),
			want:   []lintWant{lintPJ(lintWarn, packer.CodeInvalidEnum, "addonType", badAddon, `"Monitoring"`)},
			check:  lintFixHas("addonType", `did you mean "monitoring"?`),
		},
		{
			name:   "addon layer without addonType",
			mutate: lintPackJSON(noAddonType),
			want:   []lintWant{lintPJ(lintWarn, packer.CodeAddonType, "layer", noAddonType, `"addon"`)},
		},
		{
			name:   "unknown cloudType in an array",
			mutate: lintPackJSON(badCloud),
			want:   []lintWant{lintPJ(lintErr, packer.CodeInvalidEnum, "cloudTypes[1]", badCloud, `"vshpere"`)},
			check:  lintFixHas("cloudTypes[1]", `did you mean "vsphere"?`),
		},
		{
			name:   "cloudTypes missing",
			mutate: lintPackJSON(noClouds),
			want:   []lintWant{lintIn(lintWarn, packer.CodeMissingField, "pack.json", 1, 1, "cloudTypes")},
		},
		{
			name:   "cloudTypes empty",
			mutate: lintPackJSON(emptyClouds),
			want:   []lintWant{lintPJ(lintWarn, packer.CodeEmptyList, "cloudTypes", emptyClouds, `[]`)},
		},
		{
			name:   "legacy cloudType",
			mutate: lintPackJSON(legacyCloud),
			want:   []lintWant{lintPJ(lintWarn, packer.CodeDeprecatedField, "cloudType", legacyCloud, `"aws"`)},
		},
		{
			name:   "name with uppercase and a space",
			mutate: lintPackJSON(badName),
			want:   []lintWant{lintPJ(lintErr, packer.CodeInvalidName, "name", badName, `"My Pack"`)},
			check:  lintFixHas("name", `"my-pack"`),
		},
		{
			name:   "name with uppercase",
			mutate: lintPackJSON(upperName),
			want:   []lintWant{lintPJ(lintErr, packer.CodeInvalidName, "name", upperName, `"DemoPack"`)},
		},
		{
			name:   "version with a v prefix",
			mutate: lintPackJSON(vVersion),
			want:   []lintWant{lintPJ(lintWarn, packer.CodeVersionPrefix, "version", vVersion, `"v1.0.0"`)},
		},
		{
			name:   "version not semver",
			mutate: lintPackJSON(shortVer),
			want:   []lintWant{lintPJ(lintWarn, packer.CodeVersionSemver, "version", shortVer, `"1.5"`)},
			check:  lintFixHas("version", `"1.5.0"`),
		},
		{
			name:   "version a tag cannot hold",
			mutate: lintPackJSON(spaceVer),
			want:   []lintWant{lintPJ(lintErr, packer.CodeInvalidVersion, "version", spaceVer, `"1.0 beta"`)},
		},
		{
			name:   "version with build metadata",
			mutate: lintPackJSON(buildVer),
			want:   []lintWant{},
			check: func(t *testing.T, r *packer.Report) {
				if r.Version != "1.0.0+build" {
					t.Errorf("report version = %q", r.Version)
				}
				p, err := packer.Load(context.Background(), r.Dir)
				if err != nil {
					t.Fatal(err)
				}
				if got := p.Tag(); got != "1.0.0_build" {
					t.Errorf("tag = %q, want 1.0.0_build", got)
				}
			},
		},
		{
			name:   "eol not a date",
			mutate: lintPackJSON(badEOL),
			want:   []lintWant{lintPJ(lintErr, packer.CodeInvalidDate, "eol", badEOL, `"31/01/2024"`)},
		},
		{
			name:   "eol passed",
			mutate: lintPackJSON(pastEOL),
			now:    time.Date(2024, 2, 1, 9, 0, 0, 0, time.UTC),
			want:   []lintWant{lintPJ(lintWarn, packer.CodeEOLPassed, "eol", pastEOL, `"2024-01-31"`)},
		},
		{
			name:   "eol is today",
			mutate: lintPackJSON(pastEOL),
			now:    time.Date(2024, 1, 31, 23, 0, 0, 0, time.UTC),
			want:   []lintWant{},
		},
		{
			name:   "chart listed but missing",
			mutate: func(t *testing.T, dir string) { lintRemove(t, dir, "charts/mychart-0.1.0.tgz") },
			want:   []lintWant{lintPJ(lintErr, packer.CodeMissingPath, "charts[0]", lintBasePackJSON, `"charts/mychart-0.1.0.tgz"`)},
			check: func(t *testing.T, r *packer.Report) {
				if strings.Contains(r.Findings[0].Fix, "helm package") {
					t.Errorf("fix %q talks of helm package with no chart folder in the pack", r.Findings[0].Fix)
				}
			},
		},
		{
			// The unpacked chart sits where its archive should be; the
			// folder counts as the missing archive's source, not a stray.
			name: "chart folder without its archive",
			mutate: func(t *testing.T, dir string) {
				lintRemove(t, dir, "charts/mychart-0.1.0.tgz")
				lintWrite(t, dir, "charts/mychart/Chart.yaml", []byte("apiVersion: v2\nname: mychart\nversion: 0.1.0\n"))
				lintWrite(t, dir, "charts/mychart/values.yaml", []byte("replicas: 1\n"))
			},
			want: []lintWant{
				lintPJ(lintErr, packer.CodeMissingPath, "charts[0]", lintBasePackJSON, `"charts/mychart-0.1.0.tgz"`),
			},
			check: func(t *testing.T, r *packer.Report) {
				fix := r.Findings[0].Fix
				if !strings.Contains(fix, "`helm package "+filepath.Join(r.Dir, "charts", "mychart")+" --destination "+filepath.Join(r.Dir, "charts")+"`") {
					t.Errorf("fix %q does not give the helm package command", fix)
				}
			},
		},
		{
			name: "unpacked chart beside its archive is fine",
			mutate: func(t *testing.T, dir string) {
				lintWrite(t, dir, "charts/mychart/Chart.yaml", []byte("apiVersion: v2\nname: mychart\nversion: 0.1.0\n"))
				lintWrite(t, dir, "charts/mychart/templates/cm.yaml", []byte("kind: ConfigMap\n"))
			},
			want: []lintWant{},
		},
		{
			name:   "corrupt chart archive",
			mutate: func(t *testing.T, dir string) { lintWrite(t, dir, "charts/mychart-0.1.0.tgz", []byte("not a chart\n")) },
			want:   []lintWant{lintIn(lintErr, packer.CodeInvalidChart, "charts/mychart-0.1.0.tgz", 0, 0, "")},
			check: func(t *testing.T, r *packer.Report) {
				if len(r.Charts) != 0 {
					t.Errorf("charts = %+v, want none", r.Charts)
				}
			},
		},
		{
			name: "truncated chart archive",
			mutate: func(t *testing.T, dir string) {
				a := lintChartArchive(t, "mychart", "0.1.0")
				lintWrite(t, dir, "charts/mychart-0.1.0.tgz", a[:len(a)/2])
			},
			want: []lintWant{lintIn(lintErr, packer.CodeInvalidChart, "charts/mychart-0.1.0.tgz", 0, 0, "")},
		},
		{
			name: "chart archive not named .tgz",
			mutate: func(t *testing.T, dir string) {
				lintRemove(t, dir, "charts/mychart-0.1.0.tgz")
				lintWrite(t, dir, "charts/mychart.zip", lintChartArchive(t, "mychart", "0.1.0"))
				lintWrite(t, dir, "pack.json", []byte(chartName))
			},
			want: []lintWant{lintIn(lintWarn, packer.CodeInvalidChart, "charts/mychart.zip", 0, 0, "")},
		},
		{
			name:   "path with ..",
			mutate: lintPackJSON(dotdot),
			want:   []lintWant{lintPJ(lintErr, packer.CodeInvalidPath, "kubeManifests[1]", dotdot, `"../outside.yaml"`)},
		},
		{
			name:   "absolute path",
			mutate: lintPackJSON(absPath),
			want:   []lintWant{lintPJ(lintErr, packer.CodeInvalidPath, "kubeManifests[1]", absPath, `"/etc/hosts"`)},
		},
		{
			name:   "path listed twice",
			mutate: lintPackJSON(dupEntry),
			want:   []lintWant{lintPJ(lintWarn, packer.CodeDuplicateEntry, "kubeManifests[1]", dupEntry, `"./manifests/demo.yaml"`)},
		},
		{
			name:   "manifest path is a folder",
			mutate: lintPackJSON(dirManifest),
			want:   []lintWant{lintPJ(lintErr, packer.CodeWrongKind, "kubeManifests[0]", dirManifest, `"manifests"`)},
		},
		{
			name: "symlink leading out of the pack",
			mutate: func(t *testing.T, dir string) {
				lintWrite(t, filepath.Dir(dir), "secret.yaml", []byte(lintBaseManifest))
				lintSymlink(t, dir, "manifests/evil.yaml", "../../secret.yaml")
				lintWrite(t, dir, "pack.json", []byte(linkOut))
			},
			want: []lintWant{
				lintIn(lintErr, packer.CodeLinkOutside, "manifests/evil.yaml", 0, 0, ""),
				lintPJ(lintErr, packer.CodeLinkOutside, "kubeManifests[1]", linkOut, `"manifests/evil.yaml"`),
			},
		},
		{
			name: "absolute symlink",
			mutate: func(t *testing.T, dir string) {
				lintSymlink(t, dir, "manifests/evil.yaml", filepath.Join(dir, "manifests", "demo.yaml"))
				lintWrite(t, dir, "pack.json", []byte(linkOut))
			},
			want: []lintWant{
				lintIn(lintErr, packer.CodeLinkOutside, "manifests/evil.yaml", 0, 0, ""),
				lintPJ(lintErr, packer.CodeLinkOutside, "kubeManifests[1]", linkOut, `"manifests/evil.yaml"`),
			},
		},
		{
			// y -> "." and x -> "y/y/y/..": read lexically x stays inside
			// (y/y), but the kernel resolves it to the pack's parent.
			name: "symlink chain leading out",
			mutate: func(t *testing.T, dir string) {
				lintWrite(t, filepath.Dir(dir), "secret.yaml", []byte(lintBaseManifest))
				lintSymlink(t, dir, "y", ".")
				lintSymlink(t, dir, "x", "y/y/y/..")
				lintWrite(t, dir, "pack.json", []byte(linkChain))
				if _, err := os.Stat(filepath.Join(dir, "x", "secret.yaml")); err != nil {
					t.Fatalf("the chain does not lead out on this system: %v", err)
				}
			},
			want: []lintWant{
				lintPJ(lintErr, packer.CodeLinkOutside, "kubeManifests[1]", linkChain, `"x/secret.yaml"`),
				lintIn(lintErr, packer.CodeLinkOutside, "x", 0, 0, ""),

				lintIn(lintWarn, packer.CodeUnreferenced, "y", 0, 0, ""),
			},
		},
		{
			name: "symlink inside the pack is fine",
			mutate: func(t *testing.T, dir string) {
				lintSymlink(t, dir, "manifests/alias.yaml", "demo.yaml")
				lintWrite(t, dir, "pack.json", []byte(linkIn))
			},
			want: []lintWant{},
		},
		{
			name:   "dangling symlink",
			mutate: func(t *testing.T, dir string) { lintSymlink(t, dir, "manifests/gone.yaml", "nothing.yaml") },
			want: []lintWant{
				lintIn(lintWarn, packer.CodeDanglingLink, "manifests/gone.yaml", 0, 0, ""),
				lintIn(lintWarn, packer.CodeUnreferenced, "manifests/gone.yaml", 0, 0, ""),
			},
		},
		{
			name: "values.yaml indented with a tab",
			mutate: func(t *testing.T, dir string) {
				lintWrite(t, dir, "values.yaml", []byte("pack:\n  namespace: demo\nextra:\n\tkey: value\n"))
			},
			want: []lintWant{lintIn(lintErr, packer.CodeTabIndent, "values.yaml", 4, 1, "")},
		},
		{
			name:   "values.yaml not a mapping",
			mutate: func(t *testing.T, dir string) { lintWrite(t, dir, "values.yaml", []byte("# values\n- a\n- b\n")) },
			want:   []lintWant{lintIn(lintErr, packer.CodeInvalidYAML, "values.yaml", 2, 1, "")},
		},
		{
			name:   "values.yaml with two documents",
			mutate: func(t *testing.T, dir string) { lintWrite(t, dir, "values.yaml", []byte("a: 1\n---\nb: 2\n")) },
			want:   []lintWant{lintIn(lintWarn, packer.CodeInvalidYAML, "values.yaml", 0, 0, "")},
		},
		{
			name: "values.yaml with an invalid image",
			mutate: func(t *testing.T, dir string) {
				lintWrite(t, dir, "values.yaml", []byte("pack:\n  content:\n    images:\n      - image: docker.io/library/nginx:1.27\n      - image: Docker.io/NGINX::latest\n"))
			},
			want: []lintWant{lintIn(lintWarn, packer.CodeInvalidImage, "values.yaml", 5, 16, "pack.content.images")},
		},
		{
			// Positions count lines at LF and columns in bytes, whatever
			// YAML itself counts: a CR alone is a YAML line break, and
			// "é" is one character of two bytes.
			name: "values.yaml image position with CR line breaks and accents",
			mutate: func(t *testing.T, dir string) {
				lintWrite(t, dir, "values.yaml", []byte("# é\rpack:\n  content:\r    images:\n      - image: Docker.io/NGINX::latest # é\n"))
			},
			want: []lintWant{lintIn(lintWarn, packer.CodeInvalidImage, "values.yaml", 3, 16, "pack.content.images")},
		},
		{
			name: "values.yaml YAML error after CR line breaks",
			mutate: func(t *testing.T, dir string) {
				lintWrite(t, dir, "values.yaml", []byte("a: 1\rb: 2\rc: d: e\n"))
			},
			want: []lintWant{lintIn(lintErr, packer.CodeInvalidYAML, "values.yaml", 1, 0, "")},
		},
		{
			name:   "empty values.yaml is fine",
			mutate: func(t *testing.T, dir string) { lintWrite(t, dir, "values.yaml", nil) },
			want:   []lintWant{},
		},
		{
			name: "presets.yaml invalid",
			mutate: func(t *testing.T, dir string) {
				lintWrite(t, dir, "presets.yaml", []byte("presets:\n  - name: small\n    values: replicas: 1\n"))
			},
			want: []lintWant{lintIn(lintErr, packer.CodeInvalidYAML, "presets.yaml", 3, 0, "")},
		},
		{
			name: "plain manifest invalid YAML",
			mutate: func(t *testing.T, dir string) {
				lintWrite(t, dir, "manifests/demo.yaml", []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: name: demo\n"))
			},
			want: []lintWant{lintIn(lintErr, packer.CodeInvalidManifest, "manifests/demo.yaml", 3, 0, "")},
		},
		{
			name: "templated manifest is fine",
			mutate: func(t *testing.T, dir string) {
				lintWrite(t, dir, "manifests/demo.yaml", []byte(`{{- if .Values.manifests.demo.enabled }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Values.name | default "demo" }}
  labels:
    {{- include "demo.labels" . | nindent 4 }}
    app: {{ .Chart.Name }}-{{ .Release.Name }}
data:
  key: {{ .Values.key | quote }}
{{- end }}
`))
			},
			want: []lintWant{},
		},
		{
			// Palette renders the manifest as a Go template; an if that is
			// never closed is an error at its line, not a YAML problem.
			name: "templated manifest with an unclosed if",
			mutate: func(t *testing.T, dir string) {
				lintWrite(t, dir, "manifests/demo.yaml", []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\n{{- if .Values.extra }}\ndata:\n  key: {{ .Values.key | quote }}\n{- end}\n"))
			},
			want: []lintWant{lintIn(lintErr, packer.CodeInvalidTemplate, "manifests/demo.yaml", 9, 0, "")},
		},
		{
			name:   "blank eol is no date to check",
			mutate: lintPackJSON(blankEOL),
			want:   []lintWant{},
		},
		{
			// A published calendar version keeps its tag: the fix must not
			// tell the author to rename it.
			name:   "calendar version",
			mutate: lintPackJSON(calVer),
			want:   []lintWant{lintPJ(lintWarn, packer.CodeVersionSemver, "version", calVer, `"20.09.0"`)},
			check:  lintFixHas("version", `keep "20.09.0" if it is already published`),
		},
		{
			name:   "pack-central's commit_msg field",
			mutate: lintPackJSON(commitMsg),
			want:   []lintWant{},
		},
		{
			// The folder is named after the listed archive's chart; it is
			// the archive's source even when it lacks a Chart.yaml.
			name: "chart source folder without Chart.yaml",
			mutate: func(t *testing.T, dir string) {
				lintWrite(t, dir, "charts/mychart/values.yaml", []byte("replicas: 1\n"))
			},
			want: []lintWant{},
		},
		{
			name: "templated manifest invalid YAML is a warning",
			mutate: func(t *testing.T, dir string) {
				lintWrite(t, dir, "manifests/demo.yaml", []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.name }}\n  labels: app: demo\n"))
			},
			want: []lintWant{lintIn(lintWarn, packer.CodeInvalidManifest, "manifests/demo.yaml", 5, 0, "")},
		},
		{
			name: "manifest object without kind",
			mutate: func(t *testing.T, dir string) {
				lintWrite(t, dir, "manifests/demo.yaml", []byte(lintBaseManifest+"---\n# the second object\napiVersion: v1\nmetadata:\n  name: other\n"))
			},
			want: []lintWant{lintIn(lintErr, packer.CodeInvalidManifest, "manifests/demo.yaml", 9, 1, "kind")},
		},
		{
			name: "logo.png is a JPEG",
			mutate: func(t *testing.T, dir string) {
				var buf bytes.Buffer
				if err := jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 4, 4)), nil); err != nil {
					t.Fatal(err)
				}
				lintWrite(t, dir, "logo.png", buf.Bytes())
			},
			want: []lintWant{lintIn(lintErr, packer.CodeInvalidLogo, "logo.png", 0, 0, "")},
		},
		{
			name: "logo.png is a damaged PNG",
			mutate: func(t *testing.T, dir string) {
				lintWrite(t, dir, "logo.png", lintPNG(t)[:20])
			},
			want: []lintWant{lintIn(lintErr, packer.CodeInvalidLogo, "logo.png", 0, 0, "")},
		},
		{
			name:   "unreferenced file",
			mutate: func(t *testing.T, dir string) { lintWrite(t, dir, "notes.txt", []byte("todo\n")) },
			want:   []lintWant{lintIn(lintWarn, packer.CodeUnreferenced, "notes.txt", 0, 0, "")},
		},
		{
			name: "unreferenced folder",
			mutate: func(t *testing.T, dir string) {
				lintWrite(t, dir, "extras/a.txt", []byte("a\n"))
				lintWrite(t, dir, "extras/deep/b.txt", []byte("b\n"))
				lintWrite(t, dir, "extras/deep/c.txt", []byte("c\n"))
			},
			want: []lintWant{lintIn(lintWarn, packer.CodeUnreferenced, "extras", 0, 0, "")},
		},
		{
			name:   "unlisted manifest in a listed folder",
			mutate: func(t *testing.T, dir string) { lintWrite(t, dir, "manifests/extra.yaml", []byte(lintBaseManifest)) },
			want:   []lintWant{lintIn(lintWarn, packer.CodeUnreferenced, "manifests/extra.yaml", 0, 0, "")},
		},
		{
			name:   "unknown field",
			mutate: lintPackJSON(typo),
			want:   []lintWant{lintPJ(lintWarn, packer.CodeUnknownField, "verison", typo, `"1.0.0",`+"\n  \"layer\"")},
			check:  lintFixHas("verison", `did you mean "version"?`),
		},
		{
			name:   "field in the wrong case",
			mutate: lintPackJSON(wrongCase),
			want:   []lintWant{lintPJ(lintWarn, packer.CodeUnknownField, "DisplayName", wrongCase, `"Demo"`)},
		},
		{
			name:   "duplicate key",
			mutate: lintPackJSON(dupKey),
			want:   []lintWant{lintPJ(lintWarn, packer.CodeDuplicateKey, "name", dupKey, `"demo2"`)},
			check: func(t *testing.T, r *packer.Report) {
				if r.Name != "demo2" {
					t.Errorf("name = %q, want the last one, demo2", r.Name)
				}
			},
		},
		{
			name:   "dependencies with an invalid type and missing fields",
			mutate: lintPackJSON(badDep),
			want: []lintWant{
				lintPJ(lintErr, packer.CodeInvalidEnum, "constraints.dependencies[0].type", badDep, `"mandatory"`),
				lintPJ(lintErr, packer.CodeInvalidDependency, "constraints.dependencies[1].packName", badDep, `{"layer"`),
				lintPJ(lintErr, packer.CodeInvalidEnum, "constraints.dependencies[1].layer", badDep, `"k8"`),
			},
			check: lintFixHas("constraints.dependencies[1].layer", `did you mean "k8s"?`),
		},
		{
			name: "FIFO in the pack",
			mutate: func(t *testing.T, dir string) {
				if err := syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			want: []lintWant{
				lintIn(lintErr, packer.CodeSpecialFile, "pipe", 0, 0, ""),
			},
		},
		{
			name: "ansible role without tasks/main.yml",
			mutate: func(t *testing.T, dir string) {
				lintWrite(t, dir, "ansible-roles/myrole/defaults/main.yml", []byte("x: 1\n"))
				lintWrite(t, dir, "pack.json", []byte(role))
			},
			want: []lintWant{lintIn(lintWarn, packer.CodeRoleWithoutTasks, "ansible-roles/myrole", 0, 0, "")},
		},
		{
			name: "ansible role with tasks/main.yml is fine",
			mutate: func(t *testing.T, dir string) {
				lintWrite(t, dir, "ansible-roles/myrole/tasks/main.yml", []byte("- name: ping\n  ping:\n"))
				lintWrite(t, dir, "pack.json", []byte(role))
			},
			want: []lintWant{},
		},
		{
			name:   "ansible role listed but missing",
			mutate: lintPackJSON(role),
			want:   []lintWant{lintPJ(lintErr, packer.CodeMissingPath, "ansibleRoles[0]", role, `"ansible-roles/myrole"`)},
		},
	}
	names := map[string]bool{}
	for _, tc := range cases {
		if names[tc.name] {
			t.Fatalf("two cases named %q", tc.name)
		}
		names[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			dir := lintWriteBasePack(t)
			tc.mutate(t, dir)
			r, err := packer.Lint(ctx, dir, packer.LintOptions{Now: tc.now})
			if err != nil {
				t.Fatalf("Lint: %v", err)
			}
			got := lintGot(r.Findings)
			if !slices.Equal(got, tc.want) {
				t.Errorf("findings:\n got  %v\n want %v", got, tc.want)
				for _, f := range r.Findings {
					t.Logf("  %s (fix: %s)", f, f.Fix)
				}
				return
			}
			for _, f := range r.Findings {
				if f.Message == "" || f.Fix == "" {
					t.Errorf("finding %v lacks a message or a fix", f)
				}
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
	if len(cases) < 26 {
		t.Errorf("only %d cases", len(cases))
	}
}

// fixHas checks that the finding about field suggests want.
func lintFixHas(field, want string) func(t *testing.T, r *packer.Report) {
	return func(t *testing.T, r *packer.Report) {
		t.Helper()
		for _, f := range r.Findings {
			if f.Field == field {
				if !strings.Contains(f.Fix, want) {
					t.Errorf("fix for %s = %q, want it to hold %s", field, f.Fix, want)
				}
				return
			}
		}
		t.Errorf("no finding for field %s", field)
	}
}

func TestLintRealPacks(t *testing.T) {
	// The community packs lint without errors; one has a warning.
	packs := map[string][]lintWant{
		"hello-universe-1.3.1":     {},
		"hpe-csi-driver-3.2.0":     {},
		"kubewatch-3.5.0":          {},
		"permission-manager-1.0.0": {lintIn(lintWarn, packer.CodeMissingFile, "README.md", 0, 0, "")},
	}
	for name, want := range packs {
		t.Run(name, func(t *testing.T) {
			r, err := packer.Lint(context.Background(), filepath.Join("..", "..", "testdata", "packs", name), packer.LintOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := lintGot(r.Findings); !slices.Equal(got, want) {
				t.Errorf("findings = %v, want %v", got, want)
			}
			if r.Errors() != 0 || r.Warnings() != len(want) {
				t.Errorf("%d errors, %d warnings", r.Errors(), r.Warnings())
			}
		})
	}
}

func TestLoadInvalidJSON(t *testing.T) {
	dir := lintWriteBasePack(t)
	text := lintEdit(`"layer": "addon",`, `"layer": "addon",,`)
	lintWrite(t, dir, "pack.json", []byte(text))
	p, err := packer.Load(context.Background(), dir)
	if p != nil {
		t.Errorf("Load returned a pack with an error")
	}
	if !errors.Is(err, packer.ErrInvalidPack) {
		t.Fatalf("err = %v, want ErrInvalidPack", err)
	}
	var le *packer.LoadError
	if !errors.As(err, &le) {
		t.Fatalf("err = %T, want *LoadError", err)
	}
	if le.Dir != dir {
		t.Errorf("Dir = %q, want %q", le.Dir, dir)
	}
	line, col := lintAt(text, ",,")
	want := []lintWant{lintIn(lintErr, packer.CodeInvalidJSON, "pack.json", line, col+1, "")}
	if got := lintGot(le.Findings); !slices.Equal(got, want) {
		t.Errorf("findings = %v, want %v", got, want)
	}
}

func TestLoadWrongType(t *testing.T) {
	dir := lintWriteBasePack(t)
	text := lintEdit(`"cloudTypes": ["all"]`, `"cloudTypes": "all"`)
	lintWrite(t, dir, "pack.json", []byte(text))
	_, err := packer.Load(context.Background(), dir)
	var le *packer.LoadError
	if !errors.As(err, &le) {
		t.Fatalf("err = %v, want *LoadError", err)
	}
	want := []lintWant{lintPJ(lintErr, packer.CodeInvalidType, "cloudTypes", text, `"all"`)}
	if got := lintGot(le.Findings); !slices.Equal(got, want) {
		t.Errorf("findings = %v, want %v", got, want)
	}
}

func TestLoadWarningsOnly(t *testing.T) {
	// Warnings found while loading do not stop Load.
	dir := lintWriteBasePack(t)
	lintWrite(t, dir, "pack.json", []byte(lintEdit(`"name": "demo",`, "\"name\": \"demo\",\n  \"nmae\": \"x\",")))
	p, err := packer.Load(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if p.Meta.Name != "demo" || p.Tag() != "1.0.0" {
		t.Errorf("name %q tag %q", p.Meta.Name, p.Tag())
	}
	if got, want := p.FieldPosition("version"), (packer.Position{Line: 5, Column: 14}); got != want {
		t.Errorf("FieldPosition(version) = %+v, want %+v", got, want)
	}
	if f, ok := p.File("charts/mychart-0.1.0.tgz"); !ok || f.Kind != packer.KindRegular || f.Size == 0 {
		t.Errorf("File(chart) = %+v, %v", f, ok)
	}
}

func TestLintMissingFolder(t *testing.T) {
	for _, dir := range []string{
		filepath.Join(t.TempDir(), "nope"),
		filepath.Join(lintWriteBasePack(t), "pack.json"),
	} {
		r, err := packer.Lint(context.Background(), dir, packer.LintOptions{})
		if !errors.Is(err, packer.ErrInvalidPack) {
			t.Errorf("Lint(%s) err = %v, want ErrInvalidPack", dir, err)
		}
		if r != nil {
			t.Errorf("Lint(%s) returned a report with an error", dir)
		}
	}
}

func TestLintCanceled(t *testing.T) {
	dir := lintWriteBasePack(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := packer.Lint(ctx, dir, packer.LintOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

// A pack folder given as a symbolic link, as pack-central's "latest"
// links are, is linted through the link.
func TestLintPackFolderLink(t *testing.T) {
	dir := lintWriteBasePack(t)
	link := filepath.Join(t.TempDir(), "latest")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	r, err := packer.Lint(t.Context(), link, packer.LintOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Findings) != 0 || r.Name != "demo" || len(r.Charts) != 1 {
		t.Errorf("lint through a link: name %q, charts %v, findings %v", r.Name, r.Charts, r.Findings)
	}
}
