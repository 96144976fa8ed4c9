package ociregistry

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote/credentials"

	"github.com/packyard/packyard/internal/testfs"
	"github.com/packyard/packyard/internal/testregistry"
	"github.com/packyard/packyard/pkg/mediatypes"
	"github.com/packyard/packyard/pkg/packer"
)

func cachingClient(t *testing.T, cacheDir string) *Client {
	t.Helper()
	c, err := New(Options{PlainHTTP: true, Credentials: credentials.NewMemoryStore(), CacheDir: cacheDir, NoCache: cacheDir == ""})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// statuses maps each encoding of a push's result to its status.
func statuses(r *PushResult) map[string]Status {
	out := map[string]Status{}
	for _, a := range r.Artifacts {
		out[a.Encoding] = a.Status
	}
	return out
}

func pushCounting(t *testing.T, c *Client, dir string, loc Location, opts PushOptions) (*PushResult, int64) {
	t.Helper()
	before := archiveBuilds.Load()
	r, err := c.PushDir(t.Context(), dir, loc, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r, archiveBuilds.Load() - before
}

// forgetStates empties the cache's pack states, so that a push of an
// unchanged folder goes the long way.
func forgetStates(t *testing.T, cacheDir string) {
	t.Helper()
	if err := os.RemoveAll(filepath.Join(cacheDir, "packs")); err != nil {
		t.Fatal(err)
	}
}

func TestArchiveCacheSparesTheRebuild(t *testing.T) {
	reg := testregistry.New(t, testregistry.WithDelete())
	loc, _ := ParseLocation(reg.Host + "/team")
	src := filepath.Join(t.TempDir(), "kubewatch")
	testfs.CopyTree(t, "../../testdata/packs/kubewatch-3.5.0", src)
	cached := cachingClient(t, t.TempDir())

	r, builds := pushCounting(t, cached, src, loc, PushOptions{})
	if builds != 0 || statuses(r)[mediatypes.EncodingPalette] != StatusPushed {
		t.Fatalf("first push: %d extra archive builds, %v", builds, statuses(r))
	}
	first := r.Artifacts[1].Manifest

	// Unchanged: the cache knows the archive; nothing is built.
	r, builds = pushCounting(t, cached, src, loc, PushOptions{})
	if builds != 0 || statuses(r)[mediatypes.EncodingPalette] != StatusUnchanged || statuses(r)[mediatypes.EncodingNative] != StatusUnchanged {
		t.Errorf("unchanged push: %d archive builds, %v", builds, statuses(r))
	}
	if got := r.Artifacts[1].Manifest; got.Digest != first.Digest || got.Size != first.Size {
		t.Errorf("unchanged push reports %v, want %v", got, first)
	}

	// Without the cache, the archive is built to learn it is unchanged.
	r, builds = pushCounting(t, cachingClient(t, ""), src, loc, PushOptions{Format: packer.FormatPalette})
	if builds != 1 || statuses(r)[mediatypes.EncodingPalette] != StatusUnchanged {
		t.Errorf("uncached push: %d archive builds, %v", builds, statuses(r))
	}

	// The base manifest, deleted, comes back from the pack's repository
	// without a build.
	base, err := cached.Repository(loc, loc.PaletteBaseRepository())
	if err != nil {
		t.Fatal(err)
	}
	if err := base.Delete(t.Context(), first); err != nil {
		t.Fatal(err)
	}
	if _, builds = pushCounting(t, cached, src, loc, PushOptions{Format: packer.FormatPalette}); builds != 0 {
		t.Errorf("%d archive builds", builds)
	}
	if ok, err := base.Exists(t.Context(), first); err != nil || !ok {
		t.Errorf("the base manifest was not pushed again: %v, %v", ok, err)
	}

	// Changed content, even only a mode the native artifact does not keep,
	// is built and compared: a different archive of the version is refused.
	if err := os.Chmod(filepath.Join(src, "values.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	before := archiveBuilds.Load()
	_, err = cached.PushDir(t.Context(), src, loc, PushOptions{Format: packer.FormatPalette})
	var exists *VersionExistsError
	if !errors.As(err, &exists) || archiveBuilds.Load()-before != 1 {
		t.Errorf("push of a changed mode: %v after %d builds", err, archiveBuilds.Load()-before)
	}
}

func TestArchiveCacheIgnoresBadEntries(t *testing.T) {
	reg := testregistry.New(t)
	loc, _ := ParseLocation(reg.Host + "/team")
	src := "../../testdata/packs/hello-universe-1.3.1"
	dir := t.TempDir()
	c := cachingClient(t, dir)
	if _, err := c.PushDir(t.Context(), src, loc, PushOptions{}); err != nil {
		t.Fatal(err)
	}
	entries, _ := filepath.Glob(filepath.Join(dir, "archives", "sha256", "*"))
	if len(entries) != 1 {
		t.Fatalf("%d cache entries, want 1", len(entries))
	}
	for _, bad := range []string{"", "{", `{"mediaType":"` + ocispec.MediaTypeImageManifest + `","digest":"sha256:00","size":5}`, string(make([]byte, 5000))} {
		if err := os.WriteFile(entries[0], []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		forgetStates(t, dir) // else the folder's state spares the build altogether
		r, builds := pushCounting(t, c, src, loc, PushOptions{})
		if builds != 1 || statuses(r)[mediatypes.EncodingPalette] != StatusUnchanged {
			t.Errorf("entry %.20q: %d builds, %v", bad, builds, statuses(r))
		}
	}
	// The last build wrote the entry back.
	forgetStates(t, dir)
	if _, builds := pushCounting(t, c, src, loc, PushOptions{}); builds != 0 {
		t.Errorf("%d builds after the entry was rewritten", builds)
	}
}

// A push of a folder whose files are as they were when a push of it
// succeeded needs neither lint nor build while the registry's tags hold
// what that push found; anything else goes the long way. Not parallel:
// it counts the pushes of the whole package.
func TestPackStateSparesLintAndBuild(t *testing.T) {
	reg := testregistry.New(t, testregistry.WithDelete())
	loc, _ := ParseLocation(reg.Host + "/team")
	src := filepath.Join(t.TempDir(), "kubewatch")
	testfs.CopyTree(t, "../../testdata/packs/kubewatch-3.5.0", src)
	cacheDir := t.TempDir()
	c := cachingClient(t, cacheDir)
	// Files are trusted by their times only once these are two seconds
	// old (packer.Pack.StateKey).
	time.Sleep(2100 * time.Millisecond)

	push := func(opts PushOptions) (*PushResult, int64, int64, error) {
		t.Helper()
		known, builds := knownPushes.Load(), archiveBuilds.Load()
		r, err := c.PushDir(t.Context(), src, loc, opts)
		return r, knownPushes.Load() - known, archiveBuilds.Load() - builds, err
	}
	first, known, _, err := push(PushOptions{})
	if err != nil || known != 0 {
		t.Fatalf("first push: %v, %d known", err, known)
	}
	if entries, _ := filepath.Glob(filepath.Join(cacheDir, "packs", "sha256", "*")); len(entries) != 1 {
		t.Fatalf("%d pack states remembered, want 1", len(entries))
	}

	r, known, builds, err := push(PushOptions{})
	if err != nil || known != 1 || builds != 0 {
		t.Fatalf("unchanged push: %v, %d known, %d archive builds", err, known, builds)
	}
	if got := statuses(r); got[mediatypes.EncodingNative] != StatusUnchanged || got[mediatypes.EncodingPalette] != StatusUnchanged {
		t.Errorf("unchanged push: %v", got)
	}
	for i, a := range r.Artifacts {
		if a.Manifest.Digest != first.Artifacts[i].Manifest.Digest || a.Encoding != first.Artifacts[i].Encoding {
			t.Errorf("unchanged push reports %s %s, the first push %s %s", a.Encoding, a.Manifest.Digest, first.Artifacts[i].Encoding, first.Artifacts[i].Manifest.Digest)
		}
	}
	if r.Name != first.Name || r.Version != first.Version || r.Warnings != first.Warnings || r.Source != first.Source {
		t.Errorf("unchanged push: %+v, the first push: %+v", r, first)
	}

	// Elsewhere in the registry, the pack is pushed.
	other, _ := ParseLocation(reg.Host + "/other")
	if r, err := c.PushDir(t.Context(), src, other, PushOptions{Format: packer.FormatPalette}); err != nil || statuses(r)[mediatypes.EncodingPalette] != StatusPushed {
		t.Errorf("push to another base: %v", err)
	}

	// A tag that no longer holds the manifest: the push restores it.
	native, err := c.Repository(loc, loc.NativeRepository("kubewatch"))
	if err != nil {
		t.Fatal(err)
	}
	if err := native.Delete(t.Context(), first.Artifacts[0].Manifest); err != nil {
		t.Fatal(err)
	}
	r, known, _, err = push(PushOptions{})
	if err != nil || known != 0 || statuses(r)[mediatypes.EncodingNative] != StatusPushed || statuses(r)[mediatypes.EncodingPalette] != StatusUnchanged {
		t.Errorf("push after the native tag was deleted: %v, %d known, %v", err, known, statuses(r))
	}

	// An entry that does not parse is not used, and is written again.
	entries, _ := filepath.Glob(filepath.Join(cacheDir, "packs", "sha256", "*"))
	for _, bad := range []string{"", "{", `{"native":{"mediaType":"x","digest":"sha256:00","size":5}}`, `{"warnings":-1}`} {
		if err := os.WriteFile(entries[0], []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if r, known, _, err = push(PushOptions{}); err != nil || known != 0 || statuses(r)[mediatypes.EncodingNative] != StatusUnchanged {
			t.Errorf("entry %q: %v, %d known, %v", bad, err, known, statuses(r))
		}
	}
	if _, known, _, err = push(PushOptions{}); err != nil || known != 1 {
		t.Errorf("after the entry was written again: %v, %d known", err, known)
	}

	// Changed content, even of the same size and times, is built and
	// compared: the version is taken.
	values := filepath.Join(src, "values.yaml")
	info, err := os.Stat(values)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(values)
	data[len(data)-1] = '#'
	if err := os.WriteFile(values, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(values, info.ModTime(), info.ModTime()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2100 * time.Millisecond)
	var exists *VersionExistsError
	if _, known, _, err = push(PushOptions{}); !errors.As(err, &exists) || known != 0 {
		t.Errorf("push of changed content: %v, %d known", err, known)
	}
}

// The cache forgets entries no push used for 30 days, looking for them at
// most once a day; an entry in use is kept.
func TestCacheTrim(t *testing.T) {
	dir := t.TempDir()
	c := pushCache{dir: dir}
	now := time.Now()
	manifest := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("m"), Size: 10}
	entry := func(kind, name string, age time.Duration) string {
		t.Helper()
		p := c.entryPath(kind, digest.FromString(name))
		c.write(p, manifestOnly(manifest))
		if err := os.Chtimes(p, now.Add(-age), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
		return p
	}
	day := 24 * time.Hour
	oldArchive, oldState := entry("archives", "old", 31*day), entry("packs", "old", 40*day)
	recent := entry("archives", "recent", 29*day)
	used := entry("archives", "used", 45*day)
	if _, ok := c.get(digest.FromString("used")); !ok {
		t.Fatal("the used entry does not read")
	}
	stranger := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(stranger, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_ = os.Chtimes(stranger, now.Add(-90*day), now.Add(-90*day))

	trimCache(dir, now)
	for p, want := range map[string]bool{oldArchive: false, oldState: false, recent: true, used: true, stranger: true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s: kept %v, want %v", p, err == nil, want)
		}
	}

	// Within a day, no second look.
	late := entry("packs", "late", 60*day)
	trimCache(dir, now.Add(23*time.Hour))
	if _, err := os.Stat(late); err != nil {
		t.Errorf("trimmed again within a day: %v", err)
	}
	trimCache(dir, now.Add(25*time.Hour))
	if _, err := os.Stat(late); err == nil {
		t.Error("not trimmed after a day")
	}

	// A client trims once, when it first writes.
	late = entry("packs", "later", 60*day)
	c = pushCache{dir: dir, trimmed: &sync.Once{}}
	if err := os.WriteFile(filepath.Join(dir, "trim.txt"), []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.put(digest.FromString("new"), manifest)
	if _, err := os.Stat(late); err == nil {
		t.Error("the client's first write did not trim")
	}
}
