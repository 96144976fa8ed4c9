package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLintExamples(t *testing.T) {
	t.Parallel()
	packs := examplePacks(t)
	res := mustPackyard(t, append([]string{"pack", "lint", "--strict"}, packs...)...)

	lines := strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n")
	want := "3 packs linted: 3 passed, 0 failed (0 errors, 0 warnings)"
	if len(packs) != 3 {
		t.Fatalf("examples/ holds %d packs, want 3: %v", len(packs), packs)
	}
	if got := lines[len(lines)-1]; got != want {
		t.Errorf("last line = %q, want %q\nstdout:\n%s", got, want, res.stdout)
	}
	for _, p := range packs {
		verdict := p + ": 0 errors, 0 warnings: ok"
		if !slices.Contains(lines, verdict) {
			t.Errorf("stdout has no line %q:\n%s", verdict, res.stdout)
		}
	}
	if res.stderr != "" {
		t.Errorf("stderr = %q, want nothing", res.stderr)
	}
}

func TestLintExamplesJSON(t *testing.T) {
	t.Parallel()
	packs := examplePacks(t)
	res := mustPackyard(t, append([]string{"pack", "lint", "-o", "json"}, packs...)...)
	var sum struct {
		Packs []struct {
			Dir      string            `json:"dir"`
			Name     string            `json:"name"`
			Version  string            `json:"version"`
			Findings []json.RawMessage `json:"findings"`
			Charts   []struct {
				Path, Name, Version string
			} `json:"charts"`
		} `json:"packs"`
		Passed, Failed, Errors, Warnings int
	}
	if err := json.Unmarshal([]byte(res.stdout), &sum); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, res.stdout)
	}
	if sum.Passed != len(packs) || sum.Failed != 0 || sum.Errors != 0 || sum.Warnings != 0 {
		t.Errorf("passed %d, failed %d, errors %d, warnings %d; want %d, 0, 0, 0",
			sum.Passed, sum.Failed, sum.Errors, sum.Warnings, len(packs))
	}
	names := map[string]string{}
	for _, p := range sum.Packs {
		names[p.Dir] = p.Name + " " + p.Version
		if len(p.Findings) != 0 {
			t.Errorf("%s: %d findings, want none", p.Dir, len(p.Findings))
		}
		if p.Name == "hello-chart" {
			if len(p.Charts) != 1 || p.Charts[0].Path != "charts/hello-chart-0.1.0.tgz" ||
				p.Charts[0].Name != "hello-chart" || p.Charts[0].Version != "0.1.0" {
				t.Errorf("hello-chart charts = %+v, want the one chart hello-chart 0.1.0", p.Charts)
			}
		}
	}
	want := map[string]string{
		filepath.Join("examples", "custom-ubuntu-os"): "custom-ubuntu-os 1.0.0",
		filepath.Join("examples", "hello-chart"):      "hello-chart 0.1.0",
		filepath.Join("examples", "hello-manifests"):  "hello-manifests 1.0.0",
	}
	for dir, nv := range want {
		if names[dir] != nv {
			t.Errorf("pack %s = %q, want %q", dir, names[dir], nv)
		}
	}
}

// brokenPackJSON has an unknown layer on line 5, whose value starts in
// column 12.
const brokenPackJSON = `{
  "name": "broken",
  "displayName": "Broken",
  "version": "1.0.0",
  "layer": "addons",
  "cloudTypes": ["all"]
}
`

func TestLintBrokenPack(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, content := range map[string]string{
		"pack.json":   brokenPackJSON,
		"values.yaml": "",
		"README.md":   "# Broken\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res := packyard(t, "pack", "lint", dir)
	if res.code != 1 {
		t.Fatalf("exit status %d, want 1\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	prefix := filepath.Join(dir, "pack.json") + ":5:12: error: layer: "
	var found string
	for _, line := range strings.Split(res.stdout, "\n") {
		if strings.HasPrefix(line, prefix) {
			found = line
		}
	}
	if found == "" {
		t.Fatalf("no line starts with %q:\n%s", prefix, res.stdout)
	}
	if !strings.Contains(found, `unknown layer "addons"`) {
		t.Errorf("finding %q does not name the unknown layer", found)
	}
	// The fix suggests the layer the typo meant.
	if !strings.Contains(res.stdout, `did you mean "addon"?`) {
		t.Errorf("no fix suggests \"addon\":\n%s", res.stdout)
	}
	want := "1 pack linted: 0 passed, 1 failed"
	if !strings.Contains(res.stdout, want) {
		t.Errorf("no summary %q:\n%s", want, res.stdout)
	}
	// The missing logo is only a warning.
	if !strings.Contains(res.stdout, filepath.Join(dir, "logo.png")+": warning: logo.png is missing") {
		t.Errorf("no warning for the missing logo:\n%s", res.stdout)
	}
}
