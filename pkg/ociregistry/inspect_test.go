package ociregistry_test

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"testing"

	"oras.land/oras-go/v2/errdef"

	"github.com/packyard/packyard/internal/testregistry"
	"github.com/packyard/packyard/pkg/mediatypes"
	"github.com/packyard/packyard/pkg/ociregistry"
	"github.com/packyard/packyard/pkg/packer"
)

func TestInspect(t *testing.T) {
	reg := testregistry.New(t)
	host, log := proxy(t, reg, 0)
	c := newClient(t)
	loc := mustLocation(t, host+"/team")
	src := "../../testdata/packs/kubewatch-3.5.0"
	old := mustPush(t, c, withVersion(t, src, "3.5.0", "3.4.0"), loc, "")
	kw := mustPush(t, c, src, loc, "")
	log.reset()

	ref, _ := ociregistry.ParsePackRef("kubewatch")
	ins, err := c.Inspect(t.Context(), loc, ref)
	if err != nil {
		t.Fatal(err)
	}
	if ins.Name != "kubewatch" || ins.Version != "3.5.0" || ins.Tag != "3.5.0" || len(ins.Artifacts) != 2 {
		t.Fatalf("inspection %s %s (tag %s), %d artifacts; want kubewatch 3.5.0, the highest, in 2 encodings", ins.Name, ins.Version, ins.Tag, len(ins.Artifacts))
	}
	native := ins.Artifact(mediatypes.EncodingNative)
	palette := ins.Artifact(mediatypes.EncodingPalette)
	if native == nil || palette == nil || ins.Artifacts[0].Encoding != mediatypes.EncodingNative {
		t.Fatalf("artifacts %+v, want native then palette", ins.Artifacts)
	}
	if native.Manifest.Digest != artifactDigest(t, kw, mediatypes.EncodingNative) || palette.Manifest.Digest != artifactDigest(t, kw, mediatypes.EncodingPalette) {
		t.Errorf("digests %s, %s differ from the push's", native.Manifest.Digest, palette.Manifest.Digest)
	}
	if native.Reference != host+"/team/packs/kubewatch:3.5.0" || palette.Reference != host+"/team/spectro-packs/archive/kubewatch:3.5.0" {
		t.Errorf("references %s, %s", native.Reference, palette.Reference)
	}
	if native.ArtifactType != mediatypes.ArtifactTypePack || native.Config.MediaType != mediatypes.PackConfig {
		t.Errorf("native artifactType %q config %q", native.ArtifactType, native.Config.MediaType)
	}
	if native.Annotations[mediatypes.AnnotationPackDisplayName] != "KubeWatch" || native.Annotations[mediatypes.AnnotationPackLayer] != "addon" {
		t.Errorf("native annotations %v", native.Annotations)
	}
	var chart *ociregistry.LayerInfo
	titles := map[string]string{}
	for i, l := range native.Layers {
		titles[l.Title] = l.MediaType
		if l.MediaType == mediatypes.PackChart {
			chart = &native.Layers[i]
		}
		if l.Size <= 0 || l.Digest == "" {
			t.Errorf("layer %s has size %d digest %q", l.Title, l.Size, l.Digest)
		}
	}
	if titles["pack.json"] != mediatypes.PackMetadata || titles["values.yaml"] != mediatypes.PackValues || titles["README.md"] != mediatypes.PackReadme {
		t.Errorf("native layers by title: %v", titles)
	}
	if chart == nil || chart.Title != "charts/kubewatch-3.5.0.tgz" || chart.ChartName != "kubewatch" || chart.ChartVersion != "3.5.0" {
		t.Errorf("chart layer %+v", chart)
	}
	if len(palette.Layers) != 1 || palette.Layers[0].Title != "kubewatch-3.5.0.tar.gz" || palette.Layers[0].MediaType != mediatypes.PaletteArchive ||
		palette.Config.Digest != mediatypes.PaletteConfigDigest || palette.ArtifactType != "" {
		t.Errorf("palette artifact %+v", palette)
	}
	want, err := os.ReadFile(src + "/pack.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ins.PackJSON, want) {
		t.Errorf("pack.json:\n%s\nwant:\n%s", ins.PackJSON, want)
	}
	// The config (pack.json) is the only blob read; no layer is.
	blobs := log.matching(http.MethodGet, "/blobs/")
	if len(blobs) != 1 || !bytes.Contains([]byte(blobs[0]), []byte(native.Config.Digest.String())) {
		t.Errorf("blob requests %v, want only the config %s", blobs, native.Config.Digest)
	}

	// A version by number, and a manifest by digest: its encoding only,
	// with the version read from the manifest.
	ref, _ = ociregistry.ParsePackRef("kubewatch:3.4.0")
	ins, err = c.Inspect(t.Context(), loc, ref)
	if err != nil || ins.Version != "3.4.0" || len(ins.Artifacts) != 2 || ins.Artifacts[0].Manifest.Digest != artifactDigest(t, old, mediatypes.EncodingNative) {
		t.Errorf("inspect kubewatch:3.4.0: %+v, %v", ins, err)
	}
	ref, _ = ociregistry.ParsePackRef("kubewatch@" + artifactDigest(t, old, mediatypes.EncodingPalette).String())
	ins, err = c.Inspect(t.Context(), loc, ref)
	if err != nil {
		t.Fatal(err)
	}
	if len(ins.Artifacts) != 1 || ins.Artifacts[0].Encoding != mediatypes.EncodingPalette || ins.Tag != "3.4.0" || ins.Version != "3.4.0" ||
		ins.PackJSON != nil || ins.Artifacts[0].Reference != host+"/team/spectro-packs/archive/kubewatch@"+artifactDigest(t, old, mediatypes.EncodingPalette).String() {
		t.Errorf("inspect by digest: %+v", ins)
	}

	ref, _ = ociregistry.ParsePackRef("kubewatch:9.9.9")
	if _, err := c.Inspect(t.Context(), loc, ref); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("inspect of a missing version: %v, want ErrNotFound", err)
	}
	ref, _ = ociregistry.ParsePackRef("nothing")
	if _, err := c.Inspect(t.Context(), loc, ref); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("inspect of a missing pack: %v, want ErrNotFound", err)
	}
}

func TestInspectPaletteOnly(t *testing.T) {
	reg := testregistry.New(t)
	c := newClient(t)
	loc := mustLocation(t, reg.Host)
	hc := mustPush(t, c, "../../examples/hello-chart", loc, packer.FormatPalette)
	legacy := pushPaletteByHand(t, loc, c, "legacy-pack", "2.0.0")

	ref, _ := ociregistry.ParsePackRef("hello-chart")
	ins, err := c.Inspect(t.Context(), loc, ref)
	if err != nil {
		t.Fatal(err)
	}
	if ins.Version != "0.1.0" || ins.PackJSON != nil || len(ins.Artifacts) != 1 || ins.Artifacts[0].Manifest.Digest != artifactDigest(t, hc, mediatypes.EncodingPalette) {
		t.Errorf("inspection %+v", ins)
	}
	ref, _ = ociregistry.ParsePackRef("legacy-pack@" + legacy.Digest.String())
	ins, err = c.Inspect(t.Context(), loc, ref)
	if err != nil {
		t.Fatal(err)
	}
	if ins.Tag != "2.0.0" || len(ins.Artifacts) != 1 || ins.Artifacts[0].Config.MediaType != mediatypes.PaletteConfig ||
		ins.Artifacts[0].Layers[0].Title != "legacy-pack-2.0.0.tar.gz" {
		t.Errorf("inspection of a hand-pushed archive %+v", ins)
	}
}
