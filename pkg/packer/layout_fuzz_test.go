package packer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// FuzzSplitLayoutRef checks the reader of PATH[:TAG|@DIGEST]: it only
// splits the argument, at its last ':' or '@', never changes it; a
// reference after an '@' is a valid digest; one after a ':' holds no '/';
// and a path that names a layout is never split.
func FuzzSplitLayoutRef(f *testing.F) {
	dir := f.TempDir()
	layout := filepath.Join(dir, "lay:out")
	if err := os.MkdirAll(layout, 0o755); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(layout, ocispec.ImageLayoutFile), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		f.Fatal(err)
	}
	d := digest.FromString("manifest").String()
	for _, s := range []string{
		"out/layout", "out/layout:1.0.0", "out/layout@" + d, "out/layout:1.0.0@" + d, "out/layout@sha256:zz",
		`C:\out\layout`, `C:\out\layout:1.0.0`, "out:dir/layout", "out/layout:", ":tag", "@" + d, "", "a:b:c",
		layout, layout + ":1.0.0", layout + "@" + d, filepath.Join(dir, "lay"), filepath.Join(dir, "lay") + ":out",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		root, ref := SplitLayoutRef(s)
		switch {
		case ref == "":
			if root != s && root+":" != s {
				t.Errorf("SplitLayoutRef(%q) = %q without a reference", s, root)
			}
		case root+"@"+ref == s:
			if _, err := digest.Parse(ref); err != nil {
				t.Errorf("SplitLayoutRef(%q) = %q @ %q, not a digest: %v", s, root, ref, err)
			}
		case root+":"+ref == s:
			if strings.Contains(ref, "/") {
				t.Errorf("SplitLayoutRef(%q) = %q : %q", s, root, ref)
			}
		default:
			t.Errorf("SplitLayoutRef(%q) = %q, %q: not a split of it", s, root, ref)
		}
		if ref != "" && root == "" {
			t.Errorf("SplitLayoutRef(%q) = an empty path and %q", s, ref)
		}
		if _, err := os.Stat(filepath.Join(s, ocispec.ImageLayoutFile)); err == nil && ref != "" && !strings.Contains(s, "@") {
			t.Errorf("SplitLayoutRef(%q) splits a path that names a layout: %q, %q", s, root, ref)
		}
	})
}
