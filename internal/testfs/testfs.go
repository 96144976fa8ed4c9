// Package testfs copies and compares folder trees in tests: the packs a
// test changes, and what a pull or unpack writes back.
package testfs

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// CopyTree copies the folders and regular files below src to dst, with
// modes 0755 and 0644 whatever the source's (testdata may be read-only).
// Anything else in src fails the test.
func CopyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(target, data, 0o644)
		}
		return fmt.Errorf("%s is a %s, not a file or folder", p, d.Type())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Copy copies src into a new temporary folder of the same name, so a test
// can change it, and returns the copy.
func Copy(t testing.TB, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	CopyTree(t, src, dst)
	return dst
}

// SameTree fails the test unless got holds exactly the folders and files of
// want, byte for byte. An empty want fails too: comparing nothing proves
// nothing.
func SameTree(t testing.TB, want, got string) {
	t.Helper()
	w, g := Tree(t, want), Tree(t, got)
	var problems []string
	for p, content := range w {
		gc, ok := g[p]
		switch {
		case !ok:
			problems = append(problems, "missing "+p)
		case gc != content:
			problems = append(problems, fmt.Sprintf("differs %s (%d bytes, want %d)", p, len(gc), len(content)))
		}
	}
	for p := range g {
		if _, ok := w[p]; !ok {
			problems = append(problems, "extra "+p)
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		t.Errorf("%s differs from %s:\n  %s", got, want, strings.Join(problems, "\n  "))
	}
	if len(w) == 0 {
		t.Errorf("%s is empty", want)
	}
}

// Tree maps every folder and regular file below root, by slash path, to its
// content ("<dir>" for folders). Anything else fails the test.
func Tree(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			out[rel] = "<dir>"
		case d.Type().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = string(data)
		default:
			return fmt.Errorf("%s is a %s, not a file or folder", p, d.Type())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
