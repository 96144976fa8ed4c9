package e2e

import (
	"github.com/packyard/packyard/internal/testfs"

	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// orasManifest reads the manifest a tag names in a layout, with oras.
func orasManifest(t *testing.T, layout, tag string) []byte {
	t.Helper()
	return []byte(oras(t, t.TempDir(), "manifest", "fetch", "--oci-layout", layout+":"+tag).stdout)
}

// normalized parses a manifest into generic JSON, removes the created
// annotation (and the annotations map, when that leaves it empty), and
// marshals it again, so that two manifests compare field for field.
func normalized(t *testing.T, manifest []byte) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(manifest, &m); err != nil {
		t.Fatalf("not a JSON manifest: %v\n%s", err, manifest)
	}
	if ann, ok := m["annotations"].(map[string]any); ok {
		delete(ann, ocispec.AnnotationCreated)
		if len(ann) == 0 {
			delete(m, "annotations")
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// parseRFC3339 turns an RFC 3339 time into a SOURCE_DATE_EPOCH value.
func parseRFC3339(s string) (string, error) {
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return "", err
	}
	return strconv.FormatInt(tm.Unix(), 10), nil
}

func parseManifest(t *testing.T, data []byte) ocispec.Manifest {
	t.Helper()
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("not a JSON manifest: %v\n%s", err, data)
	}
	return m
}

// TestPaletteArchiveMatchesOras pushes the archive packyard built with the
// real oras CLI, as Palette's documentation does, and expects oras's
// manifest to be packyard's Palette manifest.
func TestPaletteArchiveMatchesOras(t *testing.T) {
	t.Parallel()
	for _, dir := range allPacks(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			tmp := t.TempDir()
			layout := filepath.Join(tmp, "layout")
			b := build(t, dir, layout, nil, "--format", "palette")
			if b.Native != nil {
				t.Errorf("--format palette built a native artifact too")
			}
			name, version := packMeta(t, dir)
			archiveName := name + "-" + version + ".tar.gz"
			if len(b.Palette.Layers) != 1 {
				t.Fatalf("the Palette manifest has %d layers, want 1", len(b.Palette.Layers))
			}
			layer := b.Palette.Layers[0]
			if got := layer.Annotations[ocispec.AnnotationTitle]; got != archiveName {
				t.Errorf("archive title = %q, want %q", got, archiveName)
			}

			// Push that same archive with oras, from its folder so that the
			// title is the bare file name.
			pushDir := filepath.Join(tmp, "push")
			if err := os.Mkdir(pushDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(pushDir, archiveName), blob(t, layout, layer), 0o644); err != nil {
				t.Fatal(err)
			}
			orasLayout := filepath.Join(tmp, "oras-layout")
			oras(t, pushDir, "push", "--oci-layout", orasLayout+":"+version, "--image-spec", "v1.0", archiveName)

			ours := blob(t, layout, b.Palette.Manifest)
			theirs := orasManifest(t, orasLayout, version)
			if got, want := normalized(t, ours), normalized(t, theirs); !bytes.Equal(got, want) {
				t.Errorf("packyard's Palette manifest\n%s\ndiffers from oras's, created aside:\n%s", ours, theirs)
			}
			om, tm := parseManifest(t, ours), parseManifest(t, theirs)
			if !reflect.DeepEqual(om.Config, tm.Config) {
				t.Errorf("config = %+v, oras made %+v", om.Config, tm.Config)
			}
			if !reflect.DeepEqual(om.Layers, tm.Layers) {
				t.Errorf("layers = %+v, oras made %+v", om.Layers, tm.Layers)
			}
			if tm.Config.MediaType != "application/vnd.unknown.config.v1+json" ||
				tm.Config.Digest != "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a" ||
				tm.Config.Size != 2 {
				t.Errorf("oras's config is %+v, not the empty {} Palette's documentation shows", tm.Config)
			}
			if _, ok := om.Annotations[ocispec.AnnotationCreated]; ok {
				t.Errorf("packyard's manifest has a created annotation without SOURCE_DATE_EPOCH")
			}
			if _, ok := tm.Annotations[ocispec.AnnotationCreated]; !ok {
				t.Errorf("oras's manifest has no created annotation; this test no longer checks what it says")
			}

			// With SOURCE_DATE_EPOCH, packyard writes the created annotation
			// the way oras does: given oras's time, the bytes are oras's.
			created := tm.Annotations[ocispec.AnnotationCreated]
			ct, err := parseRFC3339(created)
			if err != nil {
				t.Fatalf("oras's created annotation %q: %v", created, err)
			}
			epochLayout := filepath.Join(tmp, "layout-epoch")
			be := build(t, dir, epochLayout, []string{"SOURCE_DATE_EPOCH=" + ct}, "--format", "palette")
			if got := blob(t, epochLayout, be.Palette.Manifest); !bytes.Equal(got, theirs) {
				t.Errorf("with SOURCE_DATE_EPOCH=%s packyard's Palette manifest is\n%s\nwant oras's\n%s", ct, got, theirs)
			}
		})
	}
}

// TestUnpackHandMadePaletteArchive makes a Palette archive the way
// Palette's documentation says, with tar and oras, and unpacks it.
func TestUnpackHandMadePaletteArchive(t *testing.T) {
	t.Parallel()
	for _, dir := range allPacks(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			tmp := t.TempDir()
			name, version := packMeta(t, dir)
			top := name + "-" + version
			testfs.CopyTree(t, abs(dir), filepath.Join(tmp, top))
			archive := top + ".tar.gz"
			tarRes := mustRun(t, tmp, nil, "tar", "-czvf", archive, top+"/")
			if !strings.Contains(tarRes.stdout, top+"/pack.json") {
				t.Fatalf("tar -v did not list %s/pack.json:\n%s", top, tarRes.stdout)
			}
			layout := filepath.Join(tmp, "layout")
			oras(t, tmp, "push", "--oci-layout", layout+":"+version, "--image-spec", "v1.0", archive)

			out := filepath.Join(tmp, "unpacked")
			res := mustPackyard(t, "pack", "unpack", layout+":"+version, out)
			wantPrefix := "unpacked " + name + " " + version + " (palette sha256:"
			wantSuffix := "from the archive's folder " + top + "/\n"
			if !strings.HasPrefix(res.stdout, wantPrefix) || !strings.HasSuffix(res.stdout, wantSuffix) {
				t.Errorf("stdout = %q, want %q...%q", res.stdout, wantPrefix, wantSuffix)
			}
			testfs.SameTree(t, abs(dir), out)
		})
	}
}
