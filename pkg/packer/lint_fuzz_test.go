package packer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"
	"time"
)

// fzSmallFiles returns the contents of the files of the real packs and
// of the examples matching each glob pattern (relative to a pack folder)
// that are at most 2 KiB.
func fzSmallFiles(f *testing.F, patterns ...string) [][]byte {
	f.Helper()
	var out [][]byte
	for _, pat := range patterns {
		for _, top := range []string{fzPacks, "../../examples"} {
			names, err := filepath.Glob(filepath.Join(top, "*", pat))
			if err != nil {
				f.Fatal(err)
			}
			for _, name := range names {
				data, err := os.ReadFile(name)
				if err != nil {
					f.Fatal(err)
				}
				if len(data) <= 2<<10 {
					out = append(out, data)
				}
			}
		}
	}
	return out
}

// fzYAMLFiles are the YAML files of a pack lint reads, by FuzzLintYAML's
// selector.
var fzYAMLFiles = []string{ValuesFile, PresetsFile, SchemaFile, "manifests/app.yaml"}

// FuzzLintYAML feeds lint each YAML file of a pack in turn: values.yaml,
// presets.yaml, schema.yaml and a Kubernetes manifest, templated or not.
// Lint never fails on content; every finding about the file names its code,
// says what is wrong and points inside the file; a templated manifest's
// YAML problems are warnings only; and the images Images lists from
// values.yaml are the ones lint checks, failing exactly when lint finds
// values.yaml unreadable.
func FuzzLintYAML(f *testing.F) {
	// The real packs' small files: large ones make each run, and the
	// minimizing of what it finds, slow.
	for i, patterns := range [][]string{{ValuesFile}, {PresetsFile}, {SchemaFile}, {"manifests/*.yaml"}} {
		for _, data := range fzSmallFiles(f, patterns...) {
			f.Add(data, uint8(i))
		}
	}
	for _, s := range []string{
		"pack:\n  content:\n    images:\n      - image: docker.io/library/nginx:1.27\n      - image: \"UPPER/case\"\n      - image: {{ .Values.x }}\n      - image: [a]\n      - name: x\n",
		"pack:\n  content:\n    images: x\n",
		"- a\n- b\n",
		"~\n",
		"a: 1\n---\nb: 2\n",
		"a:\n\tb: 1\n",
		"apiVersion: v1\nkind: ConfigMap\n---\nkind: Secret\n---\n- list\n",
		"{{- if .Values.on }}\napiVersion: v1\nkind: {{ .Values.kind }}\n{{- end }}\n",
		"{{ if }}\n", "{{ end }}\n", "{{ define \"x\" }}{{ end }}{{ template \"x\" }}\n", "{{ include \"x\" . | nindent 4 }}\n",
		"a: {{ .b\n", "\xef\xbb\xbfa: 1\n", "a: &x [*x]\n", "",
		"pack:\r  content:\r    images:\r      - image: \"é\"\xc2\x85b: c: d\n",
	} {
		for i := range fzYAMLFiles {
			f.Add([]byte(s), uint8(i))
		}
	}
	dir := f.TempDir()
	pack := `{"name": "demo", "displayName": "Demo", "version": "1.0.0", "layer": "addon", "addonType": "monitoring",
  "cloudTypes": ["all"], "kubeManifests": ["manifests/app.yaml"]}`
	for name, content := range map[string][]byte{
		PackJSONFile:         []byte(pack),
		ReadmeFile:           []byte("# Demo\n"),
		LogoFile:             fzPNG(f),
		"manifests/app.yaml": []byte("apiVersion: v1\nkind: ConfigMap\n"),
		ValuesFile:           []byte("pack:\n  namespace: demo\n"),
		PresetsFile:          []byte("presets: []\n"),
		SchemaFile:           []byte("a: b\n"),
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			f.Fatal(err)
		}
	}
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		name := fzYAMLFiles[int(which)%len(fzYAMLFiles)]
		full := filepath.Join(dir, filepath.FromSlash(name))
		orig, err := os.ReadFile(full)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, data, 0o644); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := os.WriteFile(full, orig, 0o644); err != nil {
				t.Fatal(err)
			}
		}()
		r, err := Lint(context.Background(), dir, LintOptions{Now: now})
		if err != nil {
			t.Fatalf("Lint failed: %v", err)
		}
		templated := strings.Contains(string(data), "{{")
		var invalidImages []string
		unreadable := false
		for _, fd := range r.Findings {
			if fd.File != name {
				if fd.Severity == SeverityError {
					t.Errorf("%s made lint report %s", name, fd)
				}
				continue
			}
			if fd.Code == "" || fd.Message == "" || fd.Severity != SeverityError && fd.Severity != SeverityWarning {
				t.Errorf("incomplete finding %+v", fd)
			}
			fzCheckPos(t, fd.String(), data, fd.Position)
			if name == fzYAMLFiles[3] && templated && fd.Severity == SeverityError && fd.Code != CodeInvalidTemplate {
				t.Errorf("a templated manifest's YAML problem is an error: %s", fd)
			}
			switch fd.Code {
			case CodeInvalidImage:
				invalidImages = append(invalidImages, fd.Message)
			case CodeInvalidYAML, CodeTabIndent:
				unreadable = unreadable || fd.Severity == SeverityError && fd.Message != "values.yaml must be a mapping of keys to values"
			}
		}
		if name != ValuesFile {
			return
		}
		p, err := Load(context.Background(), dir)
		if err != nil {
			t.Fatal(err)
		}
		images, err := p.Images()
		if (err != nil) != unreadable {
			t.Errorf("Images: %v, but lint found values.yaml unreadable: %v", err, unreadable)
		}
		// Every image lint finds invalid is one Images lists.
		for _, msg := range invalidImages {
			if !slices.ContainsFunc(images, func(img string) bool { return strings.HasPrefix(msg, fmt.Sprintf("image %q ", img)) }) {
				t.Errorf("lint reports %q, about an image Images does not list (%q)", msg, images)
			}
		}
	})
}

// fzIdent matches what a template could call as a function.
var fzIdent = regexp.MustCompile(`[\p{L}_][\p{L}\p{Nd}_]*`)

// FuzzParseTemplate checks the parse of templated manifests, which lint
// runs with every function a template calls defined as a no-op (the
// functions of helm and sprig are not known to it): it reports exactly the
// templates that do not parse whatever functions exist, as one error at a
// line of the file, never an unknown function.
func FuzzParseTemplate(f *testing.F) {
	for _, data := range fzSmallFiles(f, "manifests/*.yaml") {
		f.Add(data)
	}
	for _, s := range []string{
		"{{ if .a }}x{{ end }}", "{{ if .a }}x", "{{ end }}", "{{ .a | quote | nindent 4 }}", "{{ include \"x\" . }}",
		"{{ define \"x\" }}{{ end }}{{ template \"x\" . }}", "{{ range $i, $v := .l }}{{ $i }}{{ end }}", "{{ $x := 1 }}{{ $y }}",
		"{{ block \"b\" . }}{{ end }}", "{{/* comment */}}", "{{- toYaml .Values | indent 2 -}}", "{{ nil }}", "{{ break }}",
		"{{ with .a }}{{ else with .b }}{{ end }}", "line 1\nline 2\n{{ if }}\n", "{{ éé .x }}", "{{ f1 (f2 (f3 .x)) }}",
		"{{ \"unterminated }}", "{{ .a.b.c }}", "{{ 1.5e3 }}", "{{ 'c' }}", "{{ `raw\nstring` }}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "manifests/app.yaml"
		fd := parseTemplate(name, data)
		funcs := template.FuncMap{}
		for _, id := range fzIdent.FindAllString(string(data), -1) {
			// (A function named break or continue would turn the
			// keyword into a call.)
			if id != "break" && id != "continue" {
				funcs[id] = func(...any) any { return nil }
			}
		}
		_, err := template.New(name).Funcs(funcs).Parse(string(data))
		if fd == nil {
			if err != nil && len(funcs) < 256 {
				t.Errorf("not reported, but the template does not parse with every function defined: %v", err)
			}
			return
		}
		if err == nil {
			t.Errorf("reported %q, but the template parses with every function defined", fd.Message)
		}
		if fd.Code != CodeInvalidTemplate || fd.Severity != SeverityError || fd.File != name || fd.Message == "" || fd.Fix == "" {
			t.Errorf("incomplete finding %+v", fd)
		}
		if m := undefinedFunc.FindStringSubmatch(fd.Message); m != nil && fzIdent.FindString(m[1]) == m[1] {
			t.Errorf("reported an unknown function: %s", fd.Message)
		}
		fzCheckPos(t, fd.String(), data, fd.Position)
	})
}
