package ociregistry

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

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
		r, builds := pushCounting(t, c, src, loc, PushOptions{})
		if builds != 1 || statuses(r)[mediatypes.EncodingPalette] != StatusUnchanged {
			t.Errorf("entry %.20q: %d builds, %v", bad, builds, statuses(r))
		}
	}
	// The last build wrote the entry back.
	if _, builds := pushCounting(t, c, src, loc, PushOptions{}); builds != 0 {
		t.Errorf("%d builds after the entry was rewritten", builds)
	}
}
