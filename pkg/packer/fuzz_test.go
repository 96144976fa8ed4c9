package packer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// fzPacks is where the real packs that seed the fuzzers live.
const fzPacks = "../../testdata/packs"

// fzSeedFiles returns the contents of the real packs' files matching each
// glob pattern (relative to a pack folder).
func fzSeedFiles(f *testing.F, patterns ...string) [][]byte {
	f.Helper()
	var out [][]byte
	for _, pat := range patterns {
		names, err := filepath.Glob(filepath.Join(fzPacks, "*", pat))
		if err != nil {
			f.Fatal(err)
		}
		for _, name := range names {
			data, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			out = append(out, data)
		}
	}
	if len(out) == 0 {
		f.Fatalf("no seed files match %v", patterns)
	}
	return out
}

// fzLines splits data into lines as positions count them.
func fzLines(data []byte) [][]byte { return bytes.Split(data, []byte{'\n'}) }

// fzCheckPos checks that a position reported in data lies in it: line in
// 1..lines+1 and, on an existing line, column in 1..len(line)+1.
func fzCheckPos(t *testing.T, what string, data []byte, pos Position) {
	t.Helper()
	lines := fzLines(data)
	switch {
	case pos.Line < 0 || pos.Column < 0:
		t.Errorf("%s: negative position %+v", what, pos)
	case pos.Line == 0 && pos.Column != 0:
		t.Errorf("%s: column %d without a line", what, pos.Column)
	case pos.Line > len(lines)+1:
		t.Errorf("%s: line %d past the %d lines of the input", what, pos.Line, len(lines))
	case pos.Line > 0 && pos.Line <= len(lines) && pos.Column > len(lines[pos.Line-1])+1:
		t.Errorf("%s: column %d past the end of line %d (%d bytes)", what, pos.Column, pos.Line, len(lines[pos.Line-1]))
	}
}

func FuzzPackJSON(f *testing.F) {
	for _, data := range fzSeedFiles(f, PackJSONFile) {
		f.Add(data)
	}
	for _, s := range []string{
		``,
		`{`,
		`[]`,
		`null`,
		`{"name": "x", "name": "y", "cloudTypes": "all"}`,
		`{"DisplayName": "x", "cloudType": "aws", "verison": "1"}`,
		`{"cloudTypes": ["all", 5], "constraints": {"dependencies": [{"packName": 5}, "x", {"type": "y"}]}}`,
		`{"annotations": {"a\"b": 1}, "charts": ["../x", "/abs", "a\\b", "", "."]}`,
		"{\n\t\"version\": \"1.0 beta\",\r\n\"eol\": \"soon\", \"layer\": {\"a\": [1, {\"b\": \"\\\"\"}]}\n}",
		`{"kubeManifests": ["pack.json", "values.yaml"], "ansibleRoles": ["README.md", "x"]}`,
	} {
		f.Add([]byte(s))
	}
	// The rest of the pack is written once; Lint only reads it, and a
	// worker runs one input at a time, so each run rewrites pack.json only.
	dir := f.TempDir()
	for name, content := range map[string][]byte{
		ValuesFile: []byte("pack:\n  namespace: demo\n"),
		ReadmeFile: []byte("# Demo\n"),
		LogoFile:   fzPNG(f),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			f.Fatal(err)
		}
	}
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, PackJSONFile), data, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := Lint(context.Background(), dir, LintOptions{Now: now})
		if err != nil {
			t.Fatalf("Lint failed: %v", err)
		}
		for _, fd := range r.Findings {
			if fd.Severity != SeverityError && fd.Severity != SeverityWarning || fd.Code == "" || fd.Message == "" {
				t.Errorf("incomplete finding %+v", fd)
			}
			if fd.File == PackJSONFile {
				fzCheckPos(t, fd.String(), data, fd.Position)
			}
		}
		// Load fails exactly when Lint finds an error while loading.
		_, lerr := Load(context.Background(), dir)
		if lerr != nil {
			if le := (*LoadError)(nil); !errors.As(lerr, &le) {
				t.Errorf("Load error is %T, not *LoadError: %v", lerr, lerr)
			}
			if r.Errors() == 0 {
				t.Errorf("Load failed (%v) but Lint found no error", lerr)
			}
		}
	})
}

func fzPNG(f *testing.F) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 2, 2))); err != nil {
		f.Fatal(err)
	}
	return buf.Bytes()
}

func FuzzIndexJSON(f *testing.F) {
	for _, data := range fzSeedFiles(f, PackJSONFile) {
		f.Add(data)
	}
	for _, s := range []string{
		`0`, `"x"`, `[]`, `{}`, `[[[]],{}]`, `{"a":{"a":{"a":1}},"a":2}`,
		"{\"a.b\": 1, \"a\": {\"b\": [true, false, null, -1.5e3]}}",
		"\t{ \"k\" :\r\n [ 1 , \"\\u00e9\\\"\" ] }\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		ix, err := indexJSON(data)
		if err != nil {
			t.Fatalf("indexJSON rejected valid JSON: %v", err)
		}
		if _, ok := ix.values[""]; !ok {
			t.Errorf("no position for the top-level value")
		}
		for p, off := range ix.values {
			if off < 0 || off >= int64(len(data)) {
				t.Errorf("%q: offset %d outside the %d bytes of input", p, off, len(data))
				continue
			}
			// A value starts with one of these bytes, and nowhere else.
			if !strings.ContainsRune(`{["-0123456789tfn`, rune(data[off])) {
				t.Errorf("%q: offset %d is at %q, not at the start of a value", p, off, data[off])
			}
			fzCheckPos(t, p, data, ix.pos(p))
			if pos := ix.pos(p); pos.Line < 1 || pos.Column < 1 {
				t.Errorf("%q: position %+v", p, pos)
			}
		}
		for _, d := range ix.dups {
			if _, ok := ix.values[d]; !ok {
				t.Errorf("duplicate %q has no position", d)
			}
		}
	})
}

func FuzzParseYAML(f *testing.F) {
	for _, data := range fzSeedFiles(f, ValuesFile, PresetsFile, SchemaFile, "manifests/*.yaml") {
		f.Add(data, false)
		f.Add(data, true)
	}
	// Chart templates are the richest templated YAML; the small ones keep
	// each run (and the minimizing of what it finds) quick.
	for _, data := range fzSeedFiles(f, "charts/*/templates/*.yaml", "charts/*/templates/*.tpl") {
		if len(data) <= 4<<10 {
			f.Add(data, true)
		}
	}
	for _, s := range []string{
		"a:\n\tb: 1\n",
		"a: b: c\n",
		"- a\n- {{ .x }}\n{{- if .y }}\nb: [1, 2\n{{ end }}",
		"key: {{ .Values.a\n  | quote }}\n",
		"---\n---\n...\n",
		"&a [*a]\n",
		"\xef\xbb\xbfa: 1\n",
		"a\rb\rc: d: e",
		"é: 1\xc2\x85b: [ü, \"x\ry\"]\xe2\x80\xa8c: d\rx: y: z",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, templated bool) {
		docs, fd := parseYAML(data, templated)
		if fd != nil {
			if fd.Code != CodeInvalidYAML && fd.Code != CodeTabIndent {
				t.Errorf("finding code %q", fd.Code)
			}
			fzCheckPos(t, "finding", data, fd.Position)
			if fd.Code == CodeTabIndent {
				lines := fzLines(data)
				if fd.Line < 1 || fd.Line > len(lines) || fd.Column < 1 || fd.Column > len(lines[fd.Line-1]) ||
					lines[fd.Line-1][fd.Column-1] != '\t' {
					t.Errorf("tab-indent finding at %+v, where the input has no tab", fd.Position)
				}
			}
		}
		lines := fzLines(data)
		var walk func(n *yaml.Node, depth int)
		walk = func(n *yaml.Node, depth int) {
			// A plain scalar's position is its first byte, or that of
			// the anchor (&) or tag (!) before it: neither can start a
			// plain scalar. (Set-aside template actions change the
			// bytes, not the positions.)
			if n.Kind == yaml.ScalarNode && n.Style == 0 && n.Value != "" && !templated && depth < 1000 {
				fzCheckPos(t, "scalar "+strconv.Quote(n.Value), data, nodePos(n))
				if n.Line >= 1 && n.Line <= len(lines) && n.Column >= 1 && n.Column <= len(lines[n.Line-1]) &&
					!slices.Contains([]byte{n.Value[0], '&', '!'}, lines[n.Line-1][n.Column-1]) {
					t.Errorf("plain scalar %q at %+v, where the input holds %q", n.Value, nodePos(n), lines[n.Line-1][n.Column-1:])
				}
			}
			for _, c := range n.Content {
				walk(c, depth+1)
			}
		}
		for _, doc := range docs {
			if doc == nil {
				t.Fatal("nil document")
			}
			if doc.Kind == yaml.MappingNode || doc.Kind == yaml.SequenceNode {
				fzCheckPos(t, "document", data, nodePos(doc))
			}
			walk(doc, 0)
		}
	})
}
