package e2e

import (
	"github.com/packyard/packyard/internal/testfs"

	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// builtArtifact is one encoding in the output of `pack build --json`.
type builtArtifact struct {
	Encoding string               `json:"encoding"`
	Manifest ocispec.Descriptor   `json:"manifest"`
	Layers   []ocispec.Descriptor `json:"layers"`
}

// built is one pack in the output of `pack build --json`.
type built struct {
	Name    string         `json:"name"`
	Version string         `json:"version"`
	Tag     string         `json:"tag"`
	Native  *builtArtifact `json:"native"`
	Palette *builtArtifact `json:"palette"`
}

// build builds one pack folder into layout and returns what it made.
func build(t *testing.T, dir, layout string, env []string, args ...string) built {
	t.Helper()
	args = append([]string{"pack", "build", dir, "-o", layout, "--json"}, args...)
	res := mustRun(t, repoRoot, env, packyardBin, args...)
	var out []built
	if err := json.Unmarshal([]byte(res.stdout), &out); err != nil {
		t.Fatalf("pack build --json: stdout is not JSON: %v\n%s", err, res.stdout)
	}
	if len(out) != 1 {
		t.Fatalf("pack build --json of one pack printed %d results", len(out))
	}
	return out[0]
}

// packMeta reads name and version from a pack's pack.json.
func packMeta(t *testing.T, dir string) (name, version string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(abs(dir), "pack.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Name, Version string }
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m.Name, m.Version
}

// blob reads a blob of an OCI image layout.
func blob(t *testing.T, layout string, desc ocispec.Descriptor) []byte {
	t.Helper()
	data, err := os.ReadFile(blobPath(layout, desc))
	if err != nil {
		t.Fatal(err)
	}
	if got := desc.Digest.Algorithm().FromBytes(data); got != desc.Digest {
		t.Fatalf("blob %s holds content with digest %s", desc.Digest, got)
	}
	return data
}

func blobPath(layout string, desc ocispec.Descriptor) string {
	return filepath.Join(layout, "blobs", desc.Digest.Algorithm().String(), desc.Digest.Encoded())
}

// TestBuildThenOrasPull checks that a plain `oras pull` of the native
// artifact writes every file of the pack back, byte for byte.
func TestBuildThenOrasPull(t *testing.T) {
	t.Parallel()
	for _, dir := range allPacks(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			tmp := t.TempDir()
			layout := filepath.Join(tmp, "layout")
			b := build(t, dir, layout, nil)
			name, version := packMeta(t, dir)
			if b.Name != name || b.Version != version || b.Tag != version {
				t.Errorf("built %s %s tag %s, want %s %s tag %s", b.Name, b.Version, b.Tag, name, version, version)
			}
			if b.Native == nil || b.Palette == nil {
				t.Fatalf("the default format built native %v and palette %v, want both", b.Native != nil, b.Palette != nil)
			}
			pulled := filepath.Join(tmp, "pulled")
			res := oras(t, tmp, "pull", "--oci-layout", layout+":"+b.Tag, "-o", pulled)
			// oras names what it pulled by the digest's first 12 digits.
			if short := b.Native.Manifest.Digest.Encoded()[:12]; !strings.Contains(res.stdout, short) {
				t.Errorf("oras pull did not report the manifest %s:\n%s", short, res.stdout)
			}
			testfs.SameTree(t, abs(dir), pulled)
		})
	}
}

// TestNativeManifestWithOras reads the native manifest with oras and checks
// its shape.
func TestNativeManifestWithOras(t *testing.T) {
	t.Parallel()
	for _, dir := range allPacks(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			tmp := t.TempDir()
			layout := filepath.Join(tmp, "layout")
			b := build(t, dir, layout, nil, "--format", "native")
			if b.Palette != nil {
				t.Errorf("--format native built a Palette archive too")
			}
			res := oras(t, tmp, "manifest", "fetch", "--oci-layout", layout+":"+b.Tag)
			raw := blob(t, layout, b.Native.Manifest)
			if res.stdout != string(raw) {
				t.Errorf("oras manifest fetch printed\n%s\nwant the manifest blob\n%s", res.stdout, raw)
			}
			var m ocispec.Manifest
			if err := json.Unmarshal([]byte(res.stdout), &m); err != nil {
				t.Fatalf("oras printed no manifest: %v\n%s", err, res.stdout)
			}
			if m.ArtifactType != "application/vnd.packyard.pack.v1" {
				t.Errorf("artifactType = %q, want application/vnd.packyard.pack.v1", m.ArtifactType)
			}
			if m.MediaType != ocispec.MediaTypeImageManifest || m.SchemaVersion != 2 {
				t.Errorf("mediaType %q schemaVersion %d, want an OCI image manifest, schema 2", m.MediaType, m.SchemaVersion)
			}
			packJSON, err := os.ReadFile(filepath.Join(abs(dir), "pack.json"))
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(packJSON)
			if m.Config.MediaType != "application/vnd.packyard.pack.config.v1+json" ||
				m.Config.Digest.String() != "sha256:"+hex.EncodeToString(sum[:]) || m.Config.Size != int64(len(packJSON)) {
				t.Errorf("config = %+v, want pack.json as it is (sha256:%x, %d bytes)", m.Config, sum, len(packJSON))
			}
			name, version := packMeta(t, dir)
			if m.Annotations["io.packyard.pack.name"] != name || m.Annotations["io.packyard.pack.version"] != version {
				t.Errorf("annotations name %q version %q, want %q %q", m.Annotations["io.packyard.pack.name"],
					m.Annotations["io.packyard.pack.version"], name, version)
			}
			if _, ok := m.Annotations[ocispec.AnnotationCreated]; ok {
				t.Errorf("the manifest has a created annotation without SOURCE_DATE_EPOCH: builds are not reproducible")
			}
			titles := map[string]bool{}
			for _, l := range m.Layers {
				title := l.Annotations[ocispec.AnnotationTitle]
				if title == "" {
					t.Errorf("layer %s (%s) has no title", l.Digest, l.MediaType)
				}
				if titles[title] {
					t.Errorf("two layers are titled %q", title)
				}
				titles[title] = true
				if !strings.HasPrefix(l.MediaType, "application/vnd.packyard.pack.") {
					t.Errorf("layer %q has media type %q, not a packyard pack part", title, l.MediaType)
				}
			}
			for _, f := range []string{"pack.json", "values.yaml", "logo.png"} {
				if !titles[f] {
					t.Errorf("no layer is titled %q", f)
				}
			}
		})
	}
}

// TestReproducibleBuilds builds copies of each example from different
// paths, with different modification times, and expects the same digests.
func TestReproducibleBuilds(t *testing.T) {
	t.Parallel()
	for _, dir := range examplePacks(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			tmp := t.TempDir()
			a := filepath.Join(tmp, "a", filepath.Base(dir))
			b := filepath.Join(tmp, "somewhere", "else", "renamed-pack")
			testfs.CopyTree(t, abs(dir), a)
			testfs.CopyTree(t, abs(dir), b)
			old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
			err := filepath.Walk(b, func(p string, _ os.FileInfo, err error) error {
				if err != nil {
					return err
				}
				return os.Chtimes(p, old, old)
			})
			if err != nil {
				t.Fatal(err)
			}

			ba := build(t, a, filepath.Join(tmp, "layout-a"), nil)
			bb := build(t, b, filepath.Join(tmp, "layout-b"), nil)
			if ba.Native.Manifest.Digest != bb.Native.Manifest.Digest {
				t.Errorf("native manifests differ: %s from %s, %s from %s", ba.Native.Manifest.Digest, a, bb.Native.Manifest.Digest, b)
			}
			if ba.Palette.Manifest.Digest != bb.Palette.Manifest.Digest {
				t.Errorf("Palette manifests differ: %s from %s, %s from %s", ba.Palette.Manifest.Digest, a, bb.Palette.Manifest.Digest, b)
			}
			if ba.Native.Manifest.Digest == ba.Palette.Manifest.Digest {
				t.Errorf("the two encodings have the same digest %s", ba.Native.Manifest.Digest)
			}

			// SOURCE_DATE_EPOCH sets the created annotation, and only it.
			bc := build(t, b, filepath.Join(tmp, "layout-c"), []string{"SOURCE_DATE_EPOCH=1700000000"})
			var m ocispec.Manifest
			if err := json.Unmarshal(blob(t, filepath.Join(tmp, "layout-c"), bc.Native.Manifest), &m); err != nil {
				t.Fatal(err)
			}
			if got := m.Annotations[ocispec.AnnotationCreated]; got != "2023-11-14T22:13:20Z" {
				t.Errorf("created = %q, want 2023-11-14T22:13:20Z", got)
			}
			if bc.Native.Manifest.Digest == ba.Native.Manifest.Digest {
				t.Errorf("SOURCE_DATE_EPOCH did not change the native manifest")
			}
		})
	}
}
