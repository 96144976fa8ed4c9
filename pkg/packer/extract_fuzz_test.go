package packer

import (
	"archive/tar"
	"bytes"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/packyard/packyard/internal/testtar"
)

// exTarOfDir writes the folder tree at dir as a tar, links as links, every
// name below top.
func exTarOfDir(t testing.TB, dir, top string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		name := path.Join(top, filepath.ToSlash(rel))
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = name
		if info.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			_, err = tw.Write(data)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// exCheckTree fails unless parent holds root only, and everything below
// root is a file, folder or link that resolves, where it resolves, inside
// root.
func exCheckTree(t *testing.T, parent, root string) {
	t.Helper()
	if names := btDirNames(t, parent); !slices.Equal(names, []string{filepath.Base(root)}) {
		t.Fatalf("the parent folder holds %q", names)
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() && !info.IsDir() && info.Mode()&fs.ModeSymlink == 0 {
			t.Errorf("%s is a %v", p, info.Mode().Type())
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			return nil // a link to nothing
		}
		if rel, err := filepath.Rel(realRoot, real); err != nil || rel == ".." || strings.HasPrefix(rel, "../") || filepath.IsAbs(rel) {
			target, _ := os.Readlink(p)
			t.Errorf("%s (link to %q) resolves to %s, outside the root %s", p, target, real, realRoot)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func FuzzUntar(f *testing.F) {
	// Packs, as plain tars and as gzip'd tars, at the top and in a folder:
	// a real one, small so that the fuzzer minimises quickly, and the
	// synthetic one with links, exec bits and empty folders.
	real := filepath.Join(btPacksDir, "permission-manager-1.0.0")
	f.Add(exTarOfDir(f, real, ""))
	f.Add(testtar.Gzip(f, exTarOfDir(f, real, "permission-manager-1.0.0")))
	synth := filepath.Join(f.TempDir(), "synth")
	btWriteSynth(f, synth, "synth", "1.2.3")
	f.Add(exTarOfDir(f, synth, "pack"))
	f.Add(testtar.Gzip(f, exTarOfDir(f, synth, "")))
	// Hostile tars.
	for _, entries := range [][]testtar.Entry{
		{testtar.File("../evil", "x")},
		{testtar.File("a/../../evil", "x")},
		{testtar.File("/tmp/evil", "x")},
		{testtar.Symlink("passwd", "/etc/passwd")},
		{testtar.Symlink("x", "../../x")},
		{testtar.Symlink("y", "."), testtar.Symlink("x", "y/y/y/..")},
		{testtar.Symlink("d", ".."), testtar.File("d/evil", "x")},
		{testtar.Dir("pack/"), testtar.Symlink("pack/d", "../.."), testtar.File("pack/d/evil", "x")},
		{testtar.File("pack/f", "x"), testtar.Symlink("pack/l", "f/../../..")},
		{testtar.Symlink("a", "b"), testtar.Symlink("b", "a")},
		{testtar.File("f", "x"), testtar.HardLink("h", "../f"), testtar.HardLink("g", "f")},
		{testtar.Special("pipe", tar.TypeFifo), testtar.Special("null", tar.TypeChar)},
		{testtar.File("dup", "1"), testtar.File("dup", "2")},
		{testtar.File("pack.json", upPackJSON), testtar.Symlink("pack/x", "../pack.json")},
	} {
		f.Add(testtar.Tar(f, entries...))
		f.Add(testtar.Gzip(f, testtar.Tar(f, entries...)))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		for _, base := range []string{"", "pack"} {
			parent := t.TempDir()
			root := filepath.Join(parent, "root")
			if err := os.Mkdir(root, 0o700); err != nil {
				t.Fatal(err)
			}
			x := newExtractor(root, 1<<20, 1000)
			uerr := x.untar("fuzz", base, bytes.NewReader(data), "")
			// Unpack stops at an untar error; linking anyway checks that the
			// links are safe whatever state the extraction stopped in.
			lerr := x.finishLinks(base)
			exCheckTree(t, parent, root)
			if x.bytes > 1<<20 || len(x.entries) > 1000 {
				t.Errorf("wrote %d bytes and %d entries past the limits", x.bytes, len(x.entries))
			}
			if uerr == nil && lerr == nil {
				// Every recorded entry is on disk as recorded.
				for rel, e := range x.entries {
					info, err := os.Lstat(x.full(rel))
					if err != nil {
						t.Fatalf("entry %s: %v", rel, err)
					}
					kind := KindOther
					switch {
					case info.Mode().IsRegular():
						kind = KindRegular
					case info.IsDir():
						kind = KindDir
					case info.Mode()&fs.ModeSymlink != 0:
						kind = KindSymlink
					}
					if kind != e.Kind {
						t.Errorf("entry %s is a %s on disk, recorded as a %s", rel, kind, e.Kind)
					}
				}
			}
		}
	})
}

func FuzzSafeName(f *testing.F) {
	for _, s := range []string{
		"a", "a/b/c", "./a", "a/", "a//b", ".", "./", "", "..", "../x", "a/../b", "a/..", "/abs", "//x",
		`C:\x`, "C:x", `a\b`, "a\x00b", "..a", "a..", "a/..b/c", "a/./b", "./../x", "x/.", "...",
	} {
		f.Add(s)
	}
	root := filepath.Join(string(filepath.Separator), "root", "pack")
	f.Fuzz(func(t *testing.T, name string) {
		got, err := safeName(name)
		if err != nil {
			if got != "" {
				t.Errorf("safeName(%q) = %q with error %v", name, got, err)
			}
			return
		}
		if slices.Contains(strings.Split(name, "/"), "..") {
			t.Errorf("safeName(%q) accepted a name with a \"..\" part", name)
		}
		if got == "" {
			return
		}
		if path.IsAbs(got) || filepath.IsAbs(got) || filepath.VolumeName(got) != "" || strings.HasPrefix(got, "/") {
			t.Errorf("safeName(%q) = %q is absolute", name, got)
		}
		if slices.Contains(strings.Split(got, "/"), "..") || got == "." {
			t.Errorf("safeName(%q) = %q holds a \"..\" or \".\"", name, got)
		}
		if strings.ContainsAny(got, "\\\x00") {
			t.Errorf("safeName(%q) = %q holds a backslash or NUL", name, got)
		}
		if path.Clean(got) != got {
			t.Errorf("safeName(%q) = %q is not clean", name, got)
		}
		full := filepath.Join(root, filepath.FromSlash(got))
		if rel, err := filepath.Rel(root, full); err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			t.Errorf("safeName(%q) = %q escapes %s (%s)", name, got, root, full)
		}
		if again, err := safeName(got); err != nil || again != got {
			t.Errorf("safeName(%q) = %q, but safeName(%q) = %q, %v", name, got, got, again, err)
		}
	})
}
