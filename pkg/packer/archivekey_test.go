package packer

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/packyard/packyard/pkg/ocilayout"
)

// archiveOf builds the synthetic pack in dir, after change, and returns
// its archive key and the Palette manifest's digest.
func archiveOf(t *testing.T, dir string, created time.Time, change func(dir string)) (key, archive digest.Digest) {
	t.Helper()
	btWriteSynth(t, dir, "synth", "1.2.3")
	if change != nil {
		change(dir)
	}
	p := btLoad(t, dir)
	l, err := ocilayout.Create(filepath.Join(t.TempDir(), "layout"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Build(t.Context(), p, l, BuildOptions{Created: created})
	if err != nil {
		t.Fatal(err)
	}
	alone, err := BuildArchive(t.Context(), p, l, created)
	if err != nil {
		t.Fatal(err)
	}
	if alone.Manifest.Digest != res.Palette.Manifest.Digest {
		t.Errorf("BuildArchive made %s, Build %s", alone.Manifest.Digest, res.Palette.Manifest.Digest)
	}
	return p.ArchiveKey(res.Native.Manifest.Digest, created), res.Palette.Manifest.Digest
}

// The archive key is the same where the archive is, and differs where the
// archive does, including for what the native artifact does not keep.
func TestArchiveKey(t *testing.T) {
	key, archive := archiveOf(t, filepath.Join(t.TempDir(), "a"), time.Time{}, nil)
	key2, archive2 := archiveOf(t, filepath.Join(t.TempDir(), "elsewhere", "b"), time.Time{}, nil)
	if key != key2 || archive != archive2 {
		t.Fatalf("the same pack in two folders: keys %s, %s; archives %s, %s", key, key2, archive, archive2)
	}
	write := func(rel, data string) func(string) {
		return func(dir string) {
			if err := os.WriteFile(filepath.Join(dir, rel), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, change := range map[string]func(string){
		"values.yaml content": write("values.yaml", "pack:\n  namespace: other\n"),
		"exec bit of values.yaml": func(dir string) {
			if err := os.Chmod(filepath.Join(dir, "values.yaml"), 0o755); err != nil {
				t.Fatal(err)
			}
		},
		"exec bit of the chart archive": func(dir string) {
			if err := os.Chmod(filepath.Join(dir, "charts", "demo-0.1.0.tgz"), 0o755); err != nil {
				t.Fatal(err)
			}
		},
		"a link's target": func(dir string) {
			link := filepath.Join(dir, "readme-link")
			if err := os.Remove(link); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("docs/guide.md", link); err != nil {
				t.Fatal(err)
			}
		},
		"an empty folder": func(dir string) {
			if err := os.Mkdir(filepath.Join(dir, "another-empty"), 0o755); err != nil {
				t.Fatal(err)
			}
		},
	} {
		k, a := archiveOf(t, filepath.Join(t.TempDir(), "c"), time.Time{}, change)
		if a == archive {
			t.Errorf("%s: the archive did not change; the case tests nothing", name)
		}
		if k == key {
			t.Errorf("%s: the archive changed and the key did not", name)
		}
	}
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if k, a := archiveOf(t, filepath.Join(t.TempDir(), "d"), created, nil); k == key || a == archive {
		t.Errorf("another created time: key %s, archive %s", k, a)
	}
}

// Build takes a lint report the caller made rather than linting again, and
// refuses one with errors.
func TestBuildLinted(t *testing.T) {
	p := btSynth(t)
	report, err := p.Lint(t.Context(), LintOptions{})
	if err != nil || report.Errors() != 0 {
		t.Fatalf("lint: %v, %+v", err, report)
	}
	l, err := ocilayout.Create(filepath.Join(t.TempDir(), "layout"))
	if err != nil {
		t.Fatal(err)
	}
	withError := *report
	withError.Findings = append(append([]Finding(nil), report.Findings...), Finding{Severity: SeverityError, Code: "test", Message: "planted"})
	var lintErr *LintError
	if _, err := Build(t.Context(), p, l, BuildOptions{Linted: &withError}); !errors.As(err, &lintErr) || lintErr.Report != &withError {
		t.Errorf("a report with errors: %v", err)
	}
	res, err := Build(t.Context(), p, l, BuildOptions{Linted: report})
	if err != nil || res.Report != report {
		t.Errorf("a clean report: %v, report %p, want %p", err, res.Report, report)
	}
}
