package ociregistry

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/packyard/packyard/internal/fileread"
)

// pushCache remembers what pushes learnt, to spare later pushes work. It
// holds two kinds of entries:
//   - for each pack content a Palette archive was built from (a
//     packer.ArchiveKey), the manifest of that archive. A push of content
//     pushed before then learns that the registry holds its archive without
//     building the archive again: the registry's tag holds the remembered
//     manifest.
//   - for each state of a pack folder a push succeeded from (a
//     packer.StateKey and the push's created time), the manifests of the
//     pack's encodings and its count of lint warnings (a packState). A push
//     of a folder whose files are as they were then needs neither lint nor
//     build when the registry's tags hold those manifests.
//
// The cache can only save work: an entry that is missing, unreadable or
// names another manifest than the registry holds makes the push go the
// long way, as it would without a cache. Entries outlive packyard
// versions: what an older packyard pushed stays unchanged for a newer one
// while the content does, even where the newer one would build other
// bytes from it.
//
// As Go's build cache does, the cache keeps what is used: an entry read
// has its modification time brought up to date (at most once an hour), and
// entries not used for 30 days are removed, at most once a day, when a
// client first writes to the cache.
type pushCache struct {
	// dir is the cache's folder; empty disables the cache.
	dir string
	// trimmed, when set, runs the client's one trim.
	trimmed *sync.Once
}

// How long the cache keeps an entry no push used, how often it looks for
// such entries, and how stale the time of an entry in use may get.
const (
	cacheTrimAge   = 30 * 24 * time.Hour
	cacheTrimEvery = 24 * time.Hour
	cacheTouchAge  = time.Hour
)

// defaultCacheDir is packyard's folder in the user's cache folder, or ""
// where there is none.
func defaultCacheDir() string {
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "packyard")
}

func (c pushCache) path(key digest.Digest) string { return c.entryPath("archives", key) }

// entryPath is where the entry of a kind is kept for key, or "" when the
// cache is off or the key is no digest.
func (c pushCache) entryPath(kind string, key digest.Digest) string {
	if c.dir == "" || key.Validate() != nil {
		return ""
	}
	return filepath.Join(c.dir, kind, key.Algorithm().String(), key.Encoded())
}

// get returns the archive manifest remembered for key.
func (c pushCache) get(key digest.Digest) (ocispec.Descriptor, bool) {
	var d ocispec.Descriptor
	if !c.read(c.path(key), &d) || !validManifest(d) {
		return ocispec.Descriptor{}, false
	}
	return manifestOnly(d), true
}

// validManifest says whether a remembered descriptor names an image
// manifest by a valid digest and size.
func validManifest(d ocispec.Descriptor) bool {
	return d.Digest.Validate() == nil && d.Size > 0 && d.MediaType == ocispec.MediaTypeImageManifest
}

// manifestOnly is a manifest's descriptor without what a cache entry may
// add to it.
func manifestOnly(d ocispec.Descriptor) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}
}

// read decodes the entry at p into v.
func (c pushCache) read(p string, v any) bool {
	if p == "" {
		return false
	}
	data, err := fileread.Limited(p, 4096)
	if err != nil || json.Unmarshal(data, v) != nil {
		return false
	}
	if st, err := os.Stat(p); err == nil && time.Since(st.ModTime()) > cacheTouchAge {
		now := time.Now()
		_ = os.Chtimes(p, now, now)
	}
	return true
}

// put remembers the archive manifest built for key. A cache that cannot be
// written is no error: the next push builds the archive again.
func (c pushCache) put(key digest.Digest, desc ocispec.Descriptor) {
	c.write(c.path(key), manifestOnly(desc))
}

// packState is what a push found the artifacts of a pack folder to be,
// remembered under the folder's state (see pushCache).
type packState struct {
	Native   *ocispec.Descriptor `json:"native,omitempty"`
	Palette  *ocispec.Descriptor `json:"palette,omitempty"`
	Warnings int                 `json:"warnings,omitempty"`
}

// getState returns the pack state remembered for key.
func (c pushCache) getState(key digest.Digest) (packState, bool) {
	var s packState
	if !c.read(c.entryPath("packs", key), &s) || s.Native == nil && s.Palette == nil || s.Warnings < 0 {
		return packState{}, false
	}
	native, ok := rememberedManifest(s.Native)
	palette, ok2 := rememberedManifest(s.Palette)
	if !ok || !ok2 {
		return packState{}, false
	}
	return packState{Native: native, Palette: palette, Warnings: s.Warnings}, true
}

// rememberedManifest checks a manifest's descriptor read from the cache,
// and keeps of it only a manifest's descriptor; an absent one is fine.
func rememberedManifest(d *ocispec.Descriptor) (*ocispec.Descriptor, bool) {
	if d == nil {
		return nil, true
	}
	if !validManifest(*d) {
		return nil, false
	}
	m := manifestOnly(*d)
	return &m, true
}

// putState remembers the pack state of a push that succeeded from the
// folder state key.
func (c pushCache) putState(key digest.Digest, s packState) {
	c.write(c.entryPath("packs", key), s)
}

// write saves v as the entry at p.
func (c pushCache) write(p string, v any) {
	if p == "" {
		return
	}
	data, err := json.Marshal(v)
	if err != nil {
		return
	}
	// Written in place: a torn entry does not parse, and is ignored.
	if os.WriteFile(p, data, 0o644) != nil && os.MkdirAll(filepath.Dir(p), 0o755) == nil {
		_ = os.WriteFile(p, data, 0o644)
	}
	if c.trimmed != nil {
		c.trimmed.Do(func() { trimCache(c.dir, time.Now()) })
	}
}

// trimCache removes the entries of the cache in dir that were not used for
// cacheTrimAge, unless it did so less than cacheTrimEvery before now: the
// time of the last trim is in dir/trim.txt. Only regular files of the
// entry folders are removed.
func trimCache(dir string, now time.Time) {
	stamp := filepath.Join(dir, "trim.txt")
	if data, err := fileread.Limited(stamp, 64); err == nil {
		if sec, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64); err == nil {
			if last := time.Unix(sec, 0); !last.After(now) && now.Sub(last) < cacheTrimEvery {
				return
			}
		}
	}
	if os.WriteFile(stamp, []byte(strconv.FormatInt(now.Unix(), 10)+"\n"), 0o644) != nil {
		return
	}
	for _, kind := range []string{"archives", "packs"} {
		algorithms, _ := os.ReadDir(filepath.Join(dir, kind))
		for _, a := range algorithms {
			folder := filepath.Join(dir, kind, a.Name())
			entries, _ := os.ReadDir(folder)
			for _, e := range entries {
				if info, err := e.Info(); err == nil && info.Mode().IsRegular() && now.Sub(info.ModTime()) > cacheTrimAge {
					_ = os.Remove(filepath.Join(folder, e.Name()))
				}
			}
		}
	}
}
