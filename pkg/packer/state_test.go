//go:build linux || darwin

package packer

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// settleFor sets how long before a load files must have changed for
// StateKey, for the test.
func settleFor(t *testing.T, d time.Duration) {
	t.Helper()
	old := stateSettle
	stateSettle = d
	t.Cleanup(func() { stateSettle = old })
}

func stateKeyOf(t *testing.T, dir string) string {
	t.Helper()
	key, ok := btLoad(t, dir).StateKey()
	if !ok {
		t.Fatalf("no state key for %s", dir)
	}
	return key.String()
}

// A pack folder's state key stays while no one touches its files, and
// changes with any change to them, even one that keeps sizes and times.
func TestStateKey(t *testing.T) {
	settleFor(t, 100*time.Millisecond)
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, dir string)
	}{
		{"content of the same size, times put back", func(t *testing.T, dir string) {
			path := filepath.Join(dir, "values.yaml")
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			data, _ := os.ReadFile(path)
			data[0] ^= 1
			mustDo(t, os.WriteFile(path, data, 0o644))
			mustDo(t, os.Chtimes(path, info.ModTime(), info.ModTime()))
		}},
		{"mode", func(t *testing.T, dir string) { mustDo(t, os.Chmod(filepath.Join(dir, "values.yaml"), 0o600)) }},
		{"file added", func(t *testing.T, dir string) { mustDo(t, os.WriteFile(filepath.Join(dir, "NOTES.txt"), nil, 0o644)) }},
		{"file removed", func(t *testing.T, dir string) { mustDo(t, os.Remove(filepath.Join(dir, "README.md"))) }},
		{"file renamed", func(t *testing.T, dir string) {
			mustDo(t, os.Rename(filepath.Join(dir, "README.md"), filepath.Join(dir, "README.txt")))
		}},
		{"file replaced by a copy", func(t *testing.T, dir string) {
			path := filepath.Join(dir, "values.yaml")
			data, _ := os.ReadFile(path)
			mustDo(t, os.WriteFile(path+".new", data, 0o644))
			mustDo(t, os.Rename(path+".new", path))
		}},
		{"link retargeted", func(t *testing.T, dir string) {
			link := filepath.Join(dir, "link")
			mustDo(t, os.Remove(link))
			mustDo(t, os.Symlink("README.md", link))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "synth")
			btWriteSynth(t, dir, "synth", "1.2.3")
			mustDo(t, os.Symlink("values.yaml", filepath.Join(dir, "link")))
			time.Sleep(150 * time.Millisecond) // past the settling time
			before := stateKeyOf(t, dir)
			if again := stateKeyOf(t, dir); again != before {
				t.Fatalf("two loads of an untouched folder: %s, then %s", before, again)
			}
			tc.change(t, dir)
			time.Sleep(150 * time.Millisecond)
			if after := stateKeyOf(t, dir); after == before {
				t.Errorf("the state key did not change: %s", after)
			}
		})
	}
}

// Files that changed just before the load give no key: a file written
// again within its file system's timestamp granularity could keep its
// times.
func TestStateKeyUnsettled(t *testing.T) {
	settleFor(t, time.Hour)
	dir := filepath.Join(t.TempDir(), "synth")
	btWriteSynth(t, dir, "synth", "1.2.3")
	if key, ok := btLoad(t, dir).StateKey(); ok {
		t.Errorf("state key %s for files written just now", key)
	}
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// A pack loaded through a link gives no key once the link leads elsewhere:
// what was read may be the other folder's.
func TestStateKeyLinkMoved(t *testing.T) {
	settleFor(t, 100*time.Millisecond)
	base := t.TempDir()
	for _, v := range []string{"1", "2"} {
		btWriteSynth(t, filepath.Join(base, v), "synth", "1.2."+v)
	}
	latest := filepath.Join(base, "latest")
	mustDo(t, os.Symlink("1", latest))
	time.Sleep(150 * time.Millisecond)
	p := btLoad(t, latest)
	if _, ok := p.StateKey(); !ok {
		t.Fatal("no state key through the link")
	}
	mustDo(t, os.Remove(latest))
	mustDo(t, os.Symlink("2", latest))
	if key, ok := p.StateKey(); ok {
		t.Errorf("state key %s after the link moved", key)
	}
}

// A folder whose file system cannot be asked is not trusted; the local
// file system of the tests' temporary folders is.
func TestTrustedTimes(t *testing.T) {
	if trustedTimes(filepath.Join(t.TempDir(), "missing")) {
		t.Error("a missing folder's times are trusted")
	}
	if !trustedTimes(t.TempDir()) {
		t.Error("the temporary folder's times are not trusted")
	}
}
