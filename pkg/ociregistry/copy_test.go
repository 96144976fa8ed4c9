package ociregistry_test

import (
	"github.com/packyard/packyard/internal/testfs"

	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/packyard/packyard/internal/testregistry"
	"github.com/packyard/packyard/pkg/mediatypes"
	"github.com/packyard/packyard/pkg/ociregistry"
	"github.com/packyard/packyard/pkg/packer"
)

func TestCopyBetweenRegistries(t *testing.T) {
	regA, regB := testregistry.New(t), testregistry.New(t)
	c := newClient(t)
	src := mustLocation(t, regA.Host+"/team")
	dst := mustLocation(t, regB.Host+"/mirror")
	dir := "../../testdata/packs/kubewatch-3.5.0"
	pushed := mustPush(t, c, dir, src, "")
	ctx := t.Context()

	ref, _ := ociregistry.ParsePackRef("kubewatch")
	res, err := c.Copy(ctx, src, ref, dst, nil, ociregistry.CopyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Name != "kubewatch" || res.Version != "3.5.0" || len(res.Artifacts) != 2 {
		t.Fatalf("copy result %+v", res)
	}
	for i, a := range res.Artifacts {
		if a.Status != ociregistry.StatusPushed || a.Tag != "3.5.0" || a.Manifest.Digest != pushed.Artifacts[i].Manifest.Digest {
			t.Errorf("%s: %s %s %s, want pushed 3.5.0 %s", a.Encoding, a.Status, a.Tag, a.Manifest.Digest, pushed.Artifacts[i].Manifest.Digest)
		}
	}
	if res.Artifacts[1].Repository != "mirror/spectro-packs/archive/kubewatch" {
		t.Errorf("palette repository %s", res.Artifacts[1].Repository)
	}
	// The copy pulls back to the pack, in both encodings, and the Palette
	// base manifest is there too.
	for _, enc := range []string{mediatypes.EncodingNative, mediatypes.EncodingPalette} {
		out := filepath.Join(t.TempDir(), "out")
		if _, _, err := c.Pull(ctx, dst, ref, out, ociregistry.PullOptions{Encoding: enc}); err != nil {
			t.Fatalf("pull %s from the copy: %v", enc, err)
		}
		testfs.SameTree(t, dir, out)
	}
	base, _ := c.Repository(dst, dst.PaletteBaseRepository())
	if ok, err := base.Exists(ctx, res.Artifacts[1].Manifest); err != nil || !ok {
		t.Errorf("base archive repository lacks the manifest: %v %v", ok, err)
	}

	// Again: nothing to do.
	again, err := c.Copy(ctx, src, ref, dst, c, ociregistry.CopyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range again.Artifacts {
		if a.Status != ociregistry.StatusUnchanged {
			t.Errorf("second copy of %s: %s, want unchanged", a.Encoding, a.Status)
		}
	}

	// Other content at the destination: refused, then forced; one
	// encoding only.
	changed := testfs.Copy(t, dir)
	if err := os.WriteFile(filepath.Join(changed, "README.md"), []byte("# other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PushDir(ctx, changed, dst, ociregistry.PushOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Copy(ctx, src, ref, dst, c, ociregistry.CopyOptions{})
	var ve *ociregistry.VersionExistsError
	if !errors.As(err, &ve) || !errors.Is(err, ociregistry.ErrVersionExists) || ve.New != pushed.Artifacts[0].Manifest.Digest {
		t.Fatalf("copy over other content: %v, want a VersionExistsError", err)
	}
	forced, err := c.Copy(ctx, src, ref, dst, c, ociregistry.CopyOptions{Force: true, Encoding: mediatypes.EncodingNative})
	if err != nil {
		t.Fatal(err)
	}
	if len(forced.Artifacts) != 1 || forced.Artifacts[0].Encoding != mediatypes.EncodingNative || forced.Artifacts[0].Status != ociregistry.StatusReplaced {
		t.Errorf("forced copy %+v", forced.Artifacts)
	}
}

// Within one registry, blobs are mounted from the source repository:
// neither downloaded nor uploaded.
func TestCopyWithinRegistryMounts(t *testing.T) {
	reg := testregistry.New(t)
	host, log := proxy(t, reg, 0)
	c := newClient(t)
	src := mustLocation(t, host+"/team")
	dst := mustLocation(t, host+"/mirror")
	dir := "../../examples/hello-chart"
	_ = mustPush(t, c, dir, src, "")
	log.reset()

	ref, _ := ociregistry.ParsePackRef("hello-chart:0.1.0")
	res, err := c.Copy(t.Context(), src, ref, dst, nil, ociregistry.CopyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Artifacts) != 2 {
		t.Fatalf("copied %+v", res.Artifacts)
	}
	if got := log.matching(http.MethodGet, "/blobs/"); len(got) != 0 {
		t.Errorf("blobs downloaded: %v", got)
	}
	if got := log.matching(http.MethodPatch, "/blobs/uploads/"); len(got) != 0 {
		t.Errorf("blobs uploaded: %v", got)
	}
	if got := log.matching(http.MethodPost, "mount="); len(got) == 0 {
		t.Error("no blob was mounted")
	}
	out := filepath.Join(t.TempDir(), "out")
	if _, _, err := c.Pull(t.Context(), dst, ref, out, ociregistry.PullOptions{}); err != nil {
		t.Fatal(err)
	}
	testfs.SameTree(t, dir, out)

	// A Palette-only version found by digest gets its tag from the archive's
	// file name.
	legacy := pushPaletteByHand(t, src, c, "legacy-pack", "2.0.0")
	byDigest, _ := ociregistry.ParsePackRef("legacy-pack@" + legacy.Digest.String())
	res, err = c.Copy(t.Context(), src, byDigest, dst, nil, ociregistry.CopyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Version != "2.0.0" || len(res.Artifacts) != 1 || res.Artifacts[0].Tag != "2.0.0" || res.Artifacts[0].Encoding != mediatypes.EncodingPalette {
		t.Errorf("copy by digest %+v", res)
	}
	if _, err := c.Copy(t.Context(), src, ref, dst, nil, ociregistry.CopyOptions{Encoding: string(packer.FormatBoth)}); err == nil {
		t.Error("copy with encoding \"both\" worked; encodings are native or palette")
	}
}
