package ociregistry

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// FuzzArchiveCache feeds the archive cache entries and keys it did not
// write: a key never leads out of the cache folder, an entry is used only
// when it names an image manifest by a valid digest and size, and what is
// used is remembered again as it was read.
func FuzzArchiveCache(f *testing.F) {
	manifest := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("manifest"), Size: 512}
	entry, _ := json.Marshal(manifest)
	key := digest.FromString("key").String()
	f.Add(key, entry)
	for _, s := range []string{
		``, `{}`, `null`, `[]`,
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:zz","size":1}`,
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + manifest.Digest.String() + `","size":0}`,
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + manifest.Digest.String() + `","size":-1}`,
		`{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"` + manifest.Digest.String() + `","size":1}`,
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + manifest.Digest.String() + `","size":1,` +
			`"annotations":{"a":"b"},"urls":["http://x"],"platform":{"os":"x","architecture":"y"}}`,
		string(entry[:len(entry)/2]),
		string(entry) + string(entry),
		strings.Repeat(" ", 4096) + string(entry),
	} {
		f.Add(key, []byte(s))
	}
	for _, k := range []string{"", "sha256:", "sha256:../../x", "../../../etc/passwd:x", "sha512:" + strings.Repeat("0", 128), "SHA256:" + strings.Repeat("0", 64)} {
		f.Add(k, entry)
	}
	f.Fuzz(func(t *testing.T, key string, entry []byte) {
		dir := t.TempDir()
		c := pushCache{dir: filepath.Join(dir, "cache")}
		k := digest.Digest(key)
		p := c.path(k)
		if p == "" {
			if k.Validate() == nil {
				t.Errorf("no path for the valid key %q", key)
			}
			return
		}
		if rel, err := filepath.Rel(filepath.Join(c.dir, "archives"), p); err != nil || !filepath.IsLocal(rel) || strings.Count(rel, string(filepath.Separator)) != 1 {
			t.Fatalf("key %q has the path %s, not a file of a folder of the cache", key, p)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, entry, 0o644); err != nil {
			t.Fatal(err)
		}
		desc, ok := c.get(k)
		if !ok {
			if desc.Digest != "" || desc.Size != 0 || desc.MediaType != "" {
				t.Errorf("an unused entry gives %+v", desc)
			}
			return
		}
		var want ocispec.Descriptor
		if len(entry) > 4096 || json.Unmarshal(entry, &want) != nil {
			t.Fatalf("entry %q used, but it is too large or not JSON", entry)
		}
		if desc.MediaType != ocispec.MediaTypeImageManifest || desc.Digest.Validate() != nil || desc.Size <= 0 ||
			desc.Digest != want.Digest || desc.Size != want.Size {
			t.Errorf("entry %q gives %+v", entry, desc)
		}
		if desc.Annotations != nil || desc.URLs != nil || desc.Platform != nil || desc.ArtifactType != "" || desc.Data != nil {
			t.Errorf("entry %q gives more than a manifest's descriptor: %+v", entry, desc)
		}
		c.put(k, desc)
		if again, ok := c.get(k); !ok || again.Digest != desc.Digest || again.Size != desc.Size || again.MediaType != desc.MediaType {
			t.Errorf("remembered %+v, read back %+v, %v", desc, again, ok)
		}
		// Nothing was written but the entry.
		err := filepath.WalkDir(dir, func(q string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && q != p {
				t.Errorf("the cache wrote %s", q)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzPackStateCache feeds the cache pack states it did not write: a state
// is used only when every manifest it names is an image manifest by a
// valid digest and size and its count of warnings is not negative, and
// what is used is remembered again as it was read.
func FuzzPackStateCache(f *testing.F) {
	m := `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + digest.FromString("m").String() + `","size":512}`
	for _, s := range []string{
		`{"native":` + m + `,"palette":` + m + `,"warnings":2}`,
		`{"native":` + m + `}`, `{"palette":` + m + `}`, `{"warnings":3}`, `{"native":null}`, `{"native":` + m + `,"warnings":-1}`,
		`{"native":{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:00","size":1}}`,
		`{"palette":` + m + `,"warnings":1e3}`, `{"native":` + m + `,"palette":{}}`, ``, `{`, `null`, `[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, entry []byte) {
		c := pushCache{dir: t.TempDir()}
		key := digest.FromBytes(entry)
		p := c.entryPath("packs", key)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, entry, 0o644); err != nil {
			t.Fatal(err)
		}
		s, ok := c.getState(key)
		if !ok {
			if s.Native != nil || s.Palette != nil || s.Warnings != 0 {
				t.Errorf("an unused entry gives %+v", s)
			}
			return
		}
		if len(entry) > 4096 || !json.Valid(entry) {
			t.Fatalf("entry %q used, but it is too large or not JSON", entry)
		}
		if s.Native == nil && s.Palette == nil || s.Warnings < 0 {
			t.Errorf("entry %q gives %+v", entry, s)
		}
		for _, d := range []*ocispec.Descriptor{s.Native, s.Palette} {
			if d != nil && (!validManifest(*d) || d.Annotations != nil || d.URLs != nil || d.Platform != nil || d.Data != nil || d.ArtifactType != "") {
				t.Errorf("entry %q gives %+v", entry, d)
			}
		}
		c.putState(key, s)
		if again, ok := c.getState(key); !ok || !reflect.DeepEqual(again, s) {
			t.Errorf("remembered %+v, read back %+v, %v", s, again, ok)
		}
	})
}
