package ociregistry

import (
	"encoding/json"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/packyard/packyard/internal/fileread"
)

// archiveCache remembers, for each pack content a Palette archive was
// built from (a packer.ArchiveKey), the manifest of that archive. A push of
// content pushed before then learns that the registry holds its archive
// without building the archive again: the registry's tag holds the
// remembered manifest. The cache can only save work: an entry that is
// missing, unreadable or names another manifest makes the push build the
// archive, as it would without a cache.
type archiveCache struct {
	// dir is the cache's folder; empty disables the cache.
	dir string
}

// defaultCacheDir is packyard's folder in the user's cache folder, or ""
// where there is none.
func defaultCacheDir() string {
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "packyard")
}

func (c archiveCache) path(key digest.Digest) string {
	if c.dir == "" || key.Validate() != nil {
		return ""
	}
	return filepath.Join(c.dir, "archives", key.Algorithm().String(), key.Encoded())
}

// get returns the archive manifest remembered for key.
func (c archiveCache) get(key digest.Digest) (ocispec.Descriptor, bool) {
	p := c.path(key)
	if p == "" {
		return ocispec.Descriptor{}, false
	}
	data, err := fileread.Limited(p, 4096)
	if err != nil {
		return ocispec.Descriptor{}, false
	}
	var d ocispec.Descriptor
	if json.Unmarshal(data, &d) != nil || d.Digest.Validate() != nil || d.Size <= 0 || d.MediaType != ocispec.MediaTypeImageManifest {
		return ocispec.Descriptor{}, false
	}
	return ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}, true
}

// put remembers the archive manifest built for key. A cache that cannot be
// written is no error: the next push builds the archive again.
func (c archiveCache) put(key digest.Digest, desc ocispec.Descriptor) {
	p := c.path(key)
	if p == "" {
		return
	}
	data, err := json.Marshal(ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size})
	if err != nil {
		return
	}
	// Written in place: a torn entry does not parse, and is ignored.
	if os.WriteFile(p, data, 0o644) == nil {
		return
	}
	if os.MkdirAll(filepath.Dir(p), 0o755) == nil {
		_ = os.WriteFile(p, data, 0o644)
	}
}
