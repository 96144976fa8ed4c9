package server

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"

	"github.com/packyard/packyard/pkg/mediatypes"
)

func TestGarbageCollect(t *testing.T) {
	data := t.TempDir()
	r := start(t, ConfigOptions{DataDir: data}, slog.LevelError)
	ctx := context.Background()

	packs := r.repo(t, "team/packs/demo")
	pack, pb := nativePack(t, packs, "replicas: 1\n")
	if err := pushTagged(packs, pack, pb, "1.0.0"); err != nil {
		t.Fatal(err)
	}
	// A signature of the pack, pushed by digest: untagged, with a subject.
	sig, sb := manifestOf(t, "application/vnd.example.signature",
		pushBlob(t, packs, "application/vnd.oci.empty.v1+json", []byte("{}")), &pack,
		pushBlob(t, packs, "application/octet-stream", []byte("signature")))
	if err := packs.Manifests().Push(ctx, sig, bytes.NewReader(sb)); err != nil {
		t.Fatal(err)
	}
	// An image manifest nothing tags, and a blob nothing references.
	orphan, ob := image(t, packs, "orphan layer")
	if err := packs.Manifests().Push(ctx, orphan, bytes.NewReader(ob)); err != nil {
		t.Fatal(err)
	}
	loose := pushBlob(t, packs, ocispec.MediaTypeImageLayer, []byte("loose blob"))
	// The Palette base manifest, untagged as Palette's docs push it.
	base := r.repo(t, "team/spectro-packs/archive")
	baseDesc, bb := manifestOf(t, "",
		pushBlob(t, base, mediatypes.PaletteConfig, []byte(mediatypes.PaletteConfigData)), nil,
		pushBlob(t, base, mediatypes.PaletteArchive, []byte("base archive")))
	if err := base.Manifests().Push(ctx, baseDesc, bytes.NewReader(bb)); err != nil {
		t.Fatal(err)
	}
	r.stop(t)

	cfg, err := LoadConfig(ConfigOptions{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	type check struct {
		name   string
		exists func(*running) (bool, error)
	}
	manifest := func(repo string, d ocispec.Descriptor) func(*running) (bool, error) {
		return func(r *running) (bool, error) { return r.repo(t, repo).Manifests().Exists(ctx, d) }
	}
	blob := func(repo string, d ocispec.Descriptor) func(*running) (bool, error) {
		return func(r *running) (bool, error) { return r.repo(t, repo).Blobs().Exists(ctx, d) }
	}
	kept := []check{
		{"the pack", manifest("team/packs/demo", pack)},
		{"the pack's layer", blob("team/packs/demo", ocispec.Descriptor{Digest: digest.FromString("replicas: 1\n"), Size: 12})},
		{"the signature", manifest("team/packs/demo", sig)},
		{"the Palette base", manifest("team/spectro-packs/archive", baseDesc)},
	}
	verify := func(step string, want map[string]bool) {
		t.Helper()
		r := start(t, ConfigOptions{DataDir: data}, slog.LevelError)
		defer r.stop(t)
		all := append([]check{
			{"the orphan manifest", manifest("team/packs/demo", orphan)},
			{"the loose blob", blob("team/packs/demo", loose)},
		}, kept...)
		for _, c := range all {
			got, err := c.exists(r)
			if err != nil && !errors.Is(err, errdef.ErrNotFound) {
				t.Fatalf("%s: %s: %v", step, c.name, err)
			}
			w, listed := want[c.name]
			if !listed {
				w = true
			}
			if got != w {
				t.Errorf("%s: %s exists: %v, want %v", step, c.name, got, w)
			}
		}
	}

	if err := GarbageCollect(ctx, cfg, GCOptions{Quiet: true}); err != nil {
		t.Fatal(err)
	}
	verify("dry run", nil)
	if err := GarbageCollect(ctx, cfg, GCOptions{Delete: true, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	verify("delete", map[string]bool{"the loose blob": false})
	if err := GarbageCollect(ctx, cfg, GCOptions{Delete: true, DeleteUntagged: true, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	verify("delete untagged", map[string]bool{"the loose blob": false, "the orphan manifest": false})
}
