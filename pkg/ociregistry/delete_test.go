package ociregistry_test

import (
	"errors"
	"testing"

	"oras.land/oras-go/v2/errdef"

	"github.com/packyard/packyard/internal/testregistry"
	"github.com/packyard/packyard/pkg/mediatypes"
	"github.com/packyard/packyard/pkg/ociregistry"
)

func TestDelete(t *testing.T) {
	reg := testregistry.New(t, testregistry.WithDelete())
	c := newClient(t)
	loc := mustLocation(t, reg.Host+"/team")
	src := "../../testdata/packs/hello-universe-1.3.1"
	res := mustPush(t, c, src, loc, "")
	_ = mustPush(t, c, withVersion(t, src, "1.3.1", "1.4.0"), loc, "")
	ctx := t.Context()

	// Only the Palette archive.
	ref, _ := ociregistry.ParsePackRef("hello-universe:1.3.1")
	deleted, err := c.Delete(ctx, loc, ref, ociregistry.DeleteOptions{Encoding: mediatypes.EncodingPalette})
	if err != nil {
		t.Fatal(err)
	}
	want := ociregistry.Deleted{Encoding: mediatypes.EncodingPalette, Repository: "team/spectro-packs/archive/hello-universe", Tag: "1.3.1"}
	if len(deleted) != 1 || deleted[0].Encoding != want.Encoding || deleted[0].Repository != want.Repository || deleted[0].Tag != want.Tag ||
		deleted[0].Manifest.Digest != artifactDigest(t, res, mediatypes.EncodingPalette) {
		t.Fatalf("deleted %+v, want %+v", deleted, want)
	}
	if _, err := c.Resolve(ctx, loc, ref, mediatypes.EncodingPalette); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("the Palette archive is still there: %v", err)
	}
	if f, err := c.Resolve(ctx, loc, ref, mediatypes.EncodingNative); err != nil || f.Manifest.Digest != artifactDigest(t, res, mediatypes.EncodingNative) {
		t.Errorf("the native artifact went too: %v", err)
	}

	// Then what is left of the version; the other version stays.
	deleted, err = c.Delete(ctx, loc, ref, ociregistry.DeleteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(deleted) != 1 || deleted[0].Encoding != mediatypes.EncodingNative || deleted[0].Reference(loc) != reg.Host+"/team/packs/hello-universe:1.3.1" {
		t.Errorf("deleted %+v", deleted)
	}
	if _, err := c.Resolve(ctx, loc, ref, ""); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("version 1.3.1 is still there: %v", err)
	}
	other, _ := ociregistry.ParsePackRef("hello-universe:1.4.0")
	if _, err := c.Resolve(ctx, loc, other, ""); err != nil {
		t.Errorf("version 1.4.0 went too: %v", err)
	}

	// Nothing left to delete; no version named; an unknown encoding.
	if _, err := c.Delete(ctx, loc, ref, ociregistry.DeleteOptions{}); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	bare, _ := ociregistry.ParsePackRef("hello-universe")
	if _, err := c.Delete(ctx, loc, bare, ociregistry.DeleteOptions{}); !errors.Is(err, errdef.ErrMissingReference) {
		t.Errorf("delete without a version: %v, want ErrMissingReference", err)
	}
	if _, err := c.Delete(ctx, loc, other, ociregistry.DeleteOptions{Encoding: "zip"}); err == nil {
		t.Error("delete with an unknown encoding worked")
	}

	// By digest.
	f, err := c.Resolve(ctx, loc, other, mediatypes.EncodingNative)
	if err != nil {
		t.Fatal(err)
	}
	byDigest, _ := ociregistry.ParsePackRef("hello-universe@" + f.Manifest.Digest.String())
	deleted, err = c.Delete(ctx, loc, byDigest, ociregistry.DeleteOptions{})
	if err != nil || len(deleted) != 1 || deleted[0].Manifest.Digest != f.Manifest.Digest || deleted[0].Tag != "" {
		t.Errorf("delete by digest: %+v, %v", deleted, err)
	}
}

func TestDeleteRefused(t *testing.T) {
	reg := testregistry.New(t) // deletes not enabled: distribution answers 405 UNSUPPORTED
	c := newClient(t)
	loc := mustLocation(t, reg.Host)
	res := mustPush(t, c, "../../testdata/packs/hello-universe-1.3.1", loc, "")
	ref, _ := ociregistry.ParsePackRef("hello-universe:1.3.1")
	deleted, err := c.Delete(t.Context(), loc, ref, ociregistry.DeleteOptions{})
	if !errors.Is(err, errdef.ErrUnsupported) {
		t.Fatalf("delete: %v, want ErrUnsupported", err)
	}
	if len(deleted) != 0 {
		t.Errorf("reported deleted: %+v", deleted)
	}
	f, err := c.Resolve(t.Context(), loc, ref, "")
	if err != nil || f.Manifest.Digest != artifactDigest(t, res, mediatypes.EncodingNative) {
		t.Errorf("the pack is gone after a refused delete: %v", err)
	}
}
