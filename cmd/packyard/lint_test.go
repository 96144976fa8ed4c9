package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/packyard/packyard/pkg/packer"
)

// updateGolden rewrites the golden files with the output the commands
// give now: go test ./cmd/packyard -run TestLintGolden -update
var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata")

// lintCheckGolden compares got with testdata/NAME, or rewrites the file with
// -update.
func lintCheckGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (rerun with -update if the change is intended)\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

// lintRun runs a packyard command line in the test process.
func lintRun(t *testing.T, args ...string) (code int, stdout, stderr []byte) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.Bytes(), errOut.Bytes()
}

const (
	lintClean    = "testdata/lint/clean"
	lintWarnings = "testdata/lint/warnings"
	lintErrors   = "testdata/lint/errors"
	lintMissing  = "testdata/lint/does-not-exist"
)

func TestLintGolden(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
		// golden and stderrGolden, when set, hold stdout and stderr; an
		// output without a golden file must be empty.
		golden, stderrGolden string
	}{
		{
			name:   "several packs",
			args:   []string{"pack", "lint", lintClean, lintWarnings, lintErrors},
			code:   1,
			golden: "lint_several.golden",
		},
		{
			name:   "clean pack",
			args:   []string{"pack", "lint", lintClean},
			code:   0,
			golden: "lint_clean.golden",
		},
		{
			name:   "warnings pass",
			args:   []string{"pack", "lint", lintClean, lintWarnings},
			code:   0,
			golden: "lint_warnings.golden",
		},
		{
			name:   "strict fails on warnings",
			args:   []string{"pack", "lint", "--strict", lintClean, lintWarnings},
			code:   1,
			golden: "lint_strict.golden",
		},
		{
			name:   "json",
			args:   []string{"pack", "lint", "-o", "json", lintClean, lintWarnings, lintErrors},
			code:   1,
			golden: "lint_json.golden",
		},
		{
			name:   "missing folder",
			args:   []string{"pack", "lint", lintClean, lintMissing},
			code:   1,
			golden: "lint_missing.golden",
		},
		{
			name:         "unknown output format",
			args:         []string{"pack", "lint", "-o", "yaml", lintClean},
			code:         1,
			stderrGolden: "lint_bad_format.stderr.golden",
		},
		{
			name:         "no folder",
			args:         []string{"pack", "lint"},
			code:         1,
			stderrGolden: "lint_no_args.stderr.golden",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := lintRun(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			if tc.golden != "" {
				lintCheckGolden(t, tc.golden, stdout)
			} else if len(stdout) > 0 {
				t.Errorf("unexpected stdout:\n%s", stdout)
			}
			if tc.stderrGolden != "" {
				lintCheckGolden(t, tc.stderrGolden, stderr)
			} else if len(stderr) > 0 {
				t.Errorf("unexpected stderr:\n%s", stderr)
			}
		})
	}
}

// TestLintJSONSummary reads the -o json output as a script would.
func TestLintJSONSummary(t *testing.T) {
	code, stdout, _ := lintRun(t, "pack", "lint", "-o", "json", "--strict", lintClean, lintWarnings, lintErrors, lintMissing)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	var sum struct {
		Packs    []packer.Report `json:"packs"`
		Passed   int             `json:"passed"`
		Failed   int             `json:"failed"`
		Errors   int             `json:"errors"`
		Warnings int             `json:"warnings"`
	}
	dec := json.NewDecoder(bytes.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sum); err != nil {
		t.Fatalf("decoding %s: %v", stdout, err)
	}
	if sum.Passed != 1 || sum.Failed != 3 {
		t.Errorf("passed %d failed %d, want 1 and 3", sum.Passed, sum.Failed)
	}
	var dirs []string
	errs, warns := 0, 0
	for _, r := range sum.Packs {
		dirs = append(dirs, r.Dir)
		errs += r.Errors()
		warns += r.Warnings()
	}
	if want := []string{lintClean, lintWarnings, lintErrors, lintMissing}; !slices.Equal(dirs, want) {
		t.Errorf("packs %v, want %v", dirs, want)
	}
	if sum.Errors != errs || sum.Warnings != warns || errs == 0 || warns == 0 {
		t.Errorf("summary counts %d errors %d warnings; the reports hold %d and %d", sum.Errors, sum.Warnings, errs, warns)
	}
	if c := sum.Packs[0].Charts; len(c) != 1 || c[0].Name != "demo" || c[0].Version != "0.1.0" {
		t.Errorf("clean pack charts = %+v", c)
	}
	last := sum.Packs[3].Findings
	if len(last) != 1 || last[0].Severity != packer.SeverityError || last[0].Code != packer.CodeMissingFile {
		t.Errorf("missing folder findings = %+v", last)
	}
}

// TestLintFixturesAreFiles keeps the fixtures portable: plain files and
// folders only, so that they survive any checkout.
func TestLintFixturesAreFiles(t *testing.T) {
	err := filepath.WalkDir(filepath.Join("testdata", "lint"), func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() && !d.IsDir() {
			t.Errorf("%s is a %v; fixtures hold files and folders only", path, d.Type())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
