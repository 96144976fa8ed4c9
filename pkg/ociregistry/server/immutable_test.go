package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/packyard/packyard/pkg/mediatypes"
)

// repo is a repository of the running registry r, through oras-go.
func (r *running) repo(t *testing.T, name string) *remote.Repository {
	t.Helper()
	repo, err := remote.NewRepository(strings.TrimPrefix(r.URL, "http://") + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	return repo
}

// pushBlob pushes data to repo and returns its descriptor.
func pushBlob(t *testing.T, repo *remote.Repository, mediaType string, data []byte) ocispec.Descriptor {
	t.Helper()
	d := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
	if err := repo.Push(context.Background(), d, bytes.NewReader(data)); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
		t.Fatal(err)
	}
	return d
}

// manifestOf is an image manifest of config and layers, pushed to nothing.
func manifestOf(t *testing.T, artifactType string, config ocispec.Descriptor, subject *ocispec.Descriptor, layers ...ocispec.Descriptor) (ocispec.Descriptor, []byte) {
	t.Helper()
	m := ocispec.Manifest{
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType,
		Config:       config,
		Layers:       layers,
		Subject:      subject,
	}
	m.SchemaVersion = 2
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return ocispec.Descriptor{MediaType: m.MediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}, b
}

// nativePack pushes the blobs of a native pack version whose one layer
// holds values, and returns its manifest, not yet pushed.
func nativePack(t *testing.T, repo *remote.Repository, values string) (ocispec.Descriptor, []byte) {
	t.Helper()
	config := pushBlob(t, repo, mediatypes.PackConfig, []byte(`{"name":"demo","version":"1.0.0","layer":"addon"}`))
	layer := pushBlob(t, repo, mediatypes.PackValues, []byte(values))
	return manifestOf(t, mediatypes.ArtifactTypePack, config, nil, layer)
}

// image pushes the blobs of a plain image whose one layer is data.
func image(t *testing.T, repo *remote.Repository, data string) (ocispec.Descriptor, []byte) {
	t.Helper()
	config := pushBlob(t, repo, ocispec.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux"}`))
	layer := pushBlob(t, repo, ocispec.MediaTypeImageLayer, []byte(data))
	return manifestOf(t, "", config, nil, layer)
}

func pushTagged(repo *remote.Repository, desc ocispec.Descriptor, body []byte, tag string) error {
	return repo.Manifests().PushReference(context.Background(), desc, bytes.NewReader(body), tag)
}

// isDenied says whether err is the registry's 403 DENIED saying that pack
// versions are immutable.
func isDenied(err error) bool {
	var resp *errcode.ErrorResponse
	if !errors.As(err, &resp) || resp.StatusCode != http.StatusForbidden || len(resp.Errors) == 0 {
		return false
	}
	return resp.Errors[0].Code == errcode.ErrorCodeDenied && strings.Contains(resp.Errors[0].Message, "immutable")
}

func TestPackVersionsAreImmutable(t *testing.T) {
	r := start(t, ConfigOptions{}, slog.LevelError)
	repo := r.repo(t, "packs/demo")
	ctx := context.Background()

	v1, b1 := nativePack(t, repo, "replicas: 1\n")
	if err := pushTagged(repo, v1, b1, "1.0.0"); err != nil {
		t.Fatal(err)
	}
	if err := pushTagged(repo, v1, b1, "1.0.0"); err != nil {
		t.Fatalf("pushing the same content again: %v", err)
	}
	v2, b2 := nativePack(t, repo, "replicas: 2\n")
	err := pushTagged(repo, v2, b2, "1.0.0")
	if !isDenied(err) {
		t.Fatalf("overwriting a pack version: got %v, want 403 DENIED saying versions are immutable", err)
	}
	if got, err := repo.Resolve(ctx, "1.0.0"); err != nil || got.Digest != v1.Digest {
		t.Fatalf("after the refused overwrite the tag is %v (%v), want %s", got.Digest, err, v1.Digest)
	}
	// A new version is a new tag.
	if err := pushTagged(repo, v2, b2, "1.0.1"); err != nil {
		t.Fatal(err)
	}

	// Deleting, by tag or by digest, is refused with the reason.
	if err := repo.Manifests().Delete(ctx, ocispec.Descriptor{Digest: v1.Digest, MediaType: v1.MediaType, Size: v1.Size}); !isDenied(err) {
		t.Fatalf("deleting a pack version by digest: got %v, want 403 DENIED", err)
	}
	status, body := get(t, nil, http.MethodDelete, r.URL+"/v2/packs/demo/manifests/1.0.1")
	if status != http.StatusForbidden || !strings.Contains(body, "DENIED") || !strings.Contains(body, "packs/demo:1.0.1 is a pack version") {
		t.Fatalf("deleting a pack version by tag: %d %s", status, body)
	}
	if _, err := repo.Resolve(ctx, "1.0.1"); err != nil {
		t.Fatalf("the refused delete removed the tag: %v", err)
	}
}

func TestImagesStayMutable(t *testing.T) {
	r := start(t, ConfigOptions{}, slog.LevelError)
	repo := r.repo(t, "apps/web")
	ctx := context.Background()
	a, ab := image(t, repo, "a")
	b, bb := image(t, repo, "b")
	if err := pushTagged(repo, a, ab, "latest"); err != nil {
		t.Fatal(err)
	}
	if err := pushTagged(repo, b, bb, "latest"); err != nil {
		t.Fatalf("moving an image's tag: %v", err)
	}
	if err := repo.Manifests().Delete(ctx, b); err != nil {
		t.Fatalf("deleting an image: %v", err)
	}
}

func TestPaletteArchivesAreImmutable(t *testing.T) {
	r := start(t, ConfigOptions{}, slog.LevelError)
	repo := r.repo(t, "base/spectro-packs/archive/demo")
	config := pushBlob(t, repo, mediatypes.PaletteConfig, []byte(mediatypes.PaletteConfigData))
	a, ab := manifestOf(t, "", config, nil, pushBlob(t, repo, mediatypes.PaletteArchive, []byte("archive a")))
	b, bb := manifestOf(t, "", config, nil, pushBlob(t, repo, mediatypes.PaletteArchive, []byte("archive b")))
	if err := pushTagged(repo, a, ab, "1.0.0"); err != nil {
		t.Fatal(err)
	}
	if err := pushTagged(repo, b, bb, "1.0.0"); !isDenied(err) {
		t.Fatalf("overwriting a Palette archive: got %v, want 403 DENIED", err)
	}

	// An archive pushed by a newer oras, with the empty config and an
	// artifactType, is an archive to the client, and as immutable.
	empty := pushBlob(t, repo, ocispec.MediaTypeEmptyJSON, ocispec.DescriptorEmptyJSON.Data)
	a, ab = manifestOf(t, "application/vnd.unknown.artifact.v1", empty, nil, pushBlob(t, repo, mediatypes.PaletteArchive, []byte("archive c")))
	b, bb = manifestOf(t, "application/vnd.unknown.artifact.v1", empty, nil, pushBlob(t, repo, mediatypes.PaletteArchive, []byte("archive d")))
	if err := pushTagged(repo, a, ab, "2.0.0"); err != nil {
		t.Fatal(err)
	}
	if err := pushTagged(repo, b, bb, "2.0.0"); !isDenied(err) {
		t.Fatalf("overwriting a Palette archive pushed with the empty config: got %v, want 403 DENIED", err)
	}
	// A container image there is not a pack: its tag moves.
	img, ib := image(t, repo, "one")
	img2, ib2 := image(t, repo, "two")
	if err := pushTagged(repo, img, ib, "latest"); err != nil {
		t.Fatal(err)
	}
	if err := pushTagged(repo, img2, ib2, "latest"); err != nil {
		t.Fatalf("moving an image's tag in an archive repository: %v", err)
	}

	// The same shape outside spectro-packs/archive/ is not a pack.
	other := r.repo(t, "base/files")
	config = pushBlob(t, other, mediatypes.PaletteConfig, []byte(mediatypes.PaletteConfigData))
	a, ab = manifestOf(t, "", config, nil, pushBlob(t, other, mediatypes.PaletteArchive, []byte("archive a")))
	b, bb = manifestOf(t, "", config, nil, pushBlob(t, other, mediatypes.PaletteArchive, []byte("archive b")))
	if err := pushTagged(other, a, ab, "1.0.0"); err != nil {
		t.Fatal(err)
	}
	if err := pushTagged(other, b, bb, "1.0.0"); err != nil {
		t.Fatalf("moving a tag outside spectro-packs/archive: %v", err)
	}
}

func TestConcurrentPushesOfOneVersion(t *testing.T) {
	r := start(t, ConfigOptions{}, slog.LevelError)
	repo := r.repo(t, "packs/race")
	const n = 8
	type candidate struct {
		desc ocispec.Descriptor
		body []byte
	}
	cands := make([]candidate, n)
	for i := range cands {
		cands[i].desc, cands[i].body = nativePack(t, repo, fmt.Sprintf("replicas: %d\n", i))
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range cands {
		wg.Go(func() {
			<-start
			errs[i] = pushTagged(repo, cands[i].desc, cands[i].body, "2.0.0")
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Fatalf("pushes %d and %d of different content both won", winner, i)
			}
			winner = i
		case !isDenied(err):
			t.Fatalf("push %d: got %v, want success or 403 DENIED", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no push won")
	}
	got, err := repo.Resolve(context.Background(), "2.0.0")
	if err != nil || got.Digest != cands[winner].desc.Digest {
		t.Fatalf("the tag is %v (%v), want the winner's %s", got.Digest, err, cands[winner].desc.Digest)
	}
}

func TestAllowOverwrite(t *testing.T) {
	r := start(t, ConfigOptions{AllowOverwrite: true}, slog.LevelError)
	repo := r.repo(t, "packs/demo")
	ctx := context.Background()
	v1, b1 := nativePack(t, repo, "replicas: 1\n")
	v2, b2 := nativePack(t, repo, "replicas: 2\n")
	if err := pushTagged(repo, v1, b1, "1.0.0"); err != nil {
		t.Fatal(err)
	}
	if err := pushTagged(repo, v2, b2, "1.0.0"); err != nil {
		t.Fatalf("overwriting with overwrites allowed: %v", err)
	}
	if err := repo.Manifests().Delete(ctx, v2); err != nil {
		t.Fatalf("deleting with overwrites allowed: %v", err)
	}
}

func TestMiddlewareOptionsFromFile(t *testing.T) {
	for _, tc := range []struct {
		name, options, wantErr string
		want                   Options
	}{
		{name: "none", want: Options{}},
		{name: "both", options: "allowoverwrite: true\n        catalogrefresh: 5s", want: Options{AllowOverwrite: true, CatalogRefresh: 5e9}},
		{name: "string bool", options: `allowoverwrite: "false"`, want: Options{}},
		{name: "bad bool", options: "allowoverwrite: maybe", wantErr: `allowoverwrite: "maybe" is not true or false`},
		{name: "bad duration", options: "catalogrefresh: soon", wantErr: "catalogrefresh: soon is not a duration"},
		{name: "unknown", options: "colour: blue", wantErr: `unknown option "colour"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := t.TempDir() + "/config.yml"
			cfgText := fmt.Sprintf("version: 0.1\nstorage:\n  inmemory: {}\nhttp:\n  addr: 127.0.0.1:0\n  secret: s\nmiddleware:\n  registry:\n    - name: packyard\n      options:\n        %s\n", tc.options)
			if tc.options == "" {
				cfgText = "version: 0.1\nstorage:\n  inmemory: {}\nhttp:\n  secret: s\n"
			}
			if err := os.WriteFile(file, []byte(cfgText), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := LoadConfig(ConfigOptions{File: file})
			if err != nil {
				t.Fatal(err)
			}
			s, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.opts != tc.want {
				t.Fatalf("options %+v, want %+v", s.opts, tc.want)
			}
		})
	}
}

func TestSubjectHeader(t *testing.T) {
	r := start(t, ConfigOptions{}, slog.LevelError)
	repo := r.repo(t, "packs/demo")
	v1, b1 := nativePack(t, repo, "replicas: 1\n")
	if err := pushTagged(repo, v1, b1, "1.0.0"); err != nil {
		t.Fatal(err)
	}
	sigConfig := pushBlob(t, repo, "application/vnd.oci.empty.v1+json", []byte("{}"))
	sig, sb := manifestOf(t, "application/vnd.example.signature", sigConfig, &v1, pushBlob(t, repo, "application/octet-stream", []byte("sig")))
	req, _ := http.NewRequest(http.MethodPut, r.URL+"/v2/packs/demo/manifests/"+sig.Digest.String(), bytes.NewReader(sb))
	req.Header.Set("Content-Type", sig.MediaType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("OCI-Subject") != v1.Digest.String() {
		t.Fatalf("PUT of a manifest with a subject: %d, OCI-Subject %q, want 201 and %s", resp.StatusCode, resp.Header.Get("OCI-Subject"), v1.Digest)
	}
	// A manifest without a subject gets no header.
	img, ib := image(t, repo, "x")
	req, _ = http.NewRequest(http.MethodPut, r.URL+"/v2/packs/demo/manifests/"+img.Digest.String(), bytes.NewReader(ib))
	req.Header.Set("Content-Type", img.MediaType)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("OCI-Subject") != "" {
		t.Fatalf("PUT of a manifest without a subject: %d, OCI-Subject %q", resp.StatusCode, resp.Header.Get("OCI-Subject"))
	}
}
