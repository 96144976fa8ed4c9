package ociregistry_test

import (
	"github.com/packyard/packyard/internal/testfs"

	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/credentials"

	"github.com/packyard/packyard/internal/testregistry"
	"github.com/packyard/packyard/pkg/mediatypes"
	"github.com/packyard/packyard/pkg/ociregistry"
	"github.com/packyard/packyard/pkg/packer"
)

func newClient(t *testing.T) *ociregistry.Client {
	t.Helper()
	c, err := ociregistry.New(ociregistry.Options{PlainHTTP: true, Credentials: credentials.NewMemoryStore()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPushPullRoundTrip(t *testing.T) {
	reg := testregistry.New(t)
	c := newClient(t)
	loc, err := ociregistry.ParseLocation(reg.Host + "/team")
	if err != nil {
		t.Fatal(err)
	}
	src := "../../testdata/packs/kubewatch-3.5.0"
	res, err := c.PushDir(t.Context(), src, loc, ociregistry.PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Artifacts) != 2 {
		t.Fatalf("pushed %d artifacts, want native and palette", len(res.Artifacts))
	}
	for _, a := range res.Artifacts {
		if a.Status != ociregistry.StatusPushed || a.Tag != "3.5.0" {
			t.Errorf("%s: status %s tag %s, want pushed 3.5.0", a.Encoding, a.Status, a.Tag)
		}
	}
	if res.Artifacts[0].Repository != "team/packs/kubewatch" || res.Artifacts[1].Repository != "team/spectro-packs/archive/kubewatch" {
		t.Errorf("repositories %s, %s", res.Artifacts[0].Repository, res.Artifacts[1].Repository)
	}

	// Pushing the same content again changes nothing.
	again, err := c.PushDir(t.Context(), src, loc, ociregistry.PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range again.Artifacts {
		if a.Status != ociregistry.StatusUnchanged {
			t.Errorf("re-push of %s: %s, want unchanged", a.Encoding, a.Status)
		}
	}

	// The untagged Palette manifest is in the base archive repository.
	base, err := c.Repository(loc, loc.PaletteBaseRepository())
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := base.Exists(t.Context(), res.Artifacts[1].Manifest); err != nil || !ok {
		t.Errorf("base archive repository lacks the manifest: %v, %v", ok, err)
	}

	// Other content under the same version is refused, then forced.
	changed := testfs.Copy(t, src)
	if err := os.WriteFile(filepath.Join(changed, "README.md"), []byte("# changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = c.PushDir(t.Context(), changed, loc, ociregistry.PushOptions{})
	var ve *ociregistry.VersionExistsError
	if !errors.As(err, &ve) || !errors.Is(err, ociregistry.ErrVersionExists) || !errors.Is(err, errdef.ErrAlreadyExists) {
		t.Fatalf("push of changed content: %v, want a VersionExistsError", err)
	}
	if ve.Existing != res.Artifacts[0].Manifest.Digest {
		t.Errorf("error names %s as existing, want %s", ve.Existing, res.Artifacts[0].Manifest.Digest)
	}
	forced, err := c.PushDir(t.Context(), changed, loc, ociregistry.PushOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range forced.Artifacts {
		if a.Status != ociregistry.StatusReplaced || a.Previous == "" {
			t.Errorf("forced push of %s: %s (previous %q), want replaced", a.Encoding, a.Status, a.Previous)
		}
	}

	// Both encodings pull back to the pack, byte for byte.
	for _, enc := range []string{mediatypes.EncodingNative, mediatypes.EncodingPalette} {
		dir := filepath.Join(t.TempDir(), "pulled")
		ref, _ := ociregistry.ParsePackRef("kubewatch:3.5.0")
		u, f, err := c.Pull(t.Context(), loc, ref, dir, ociregistry.PullOptions{Encoding: enc})
		if err != nil {
			t.Fatalf("pull %s: %v", enc, err)
		}
		if u.Encoding != enc || f.Encoding != enc {
			t.Errorf("pulled %s/%s, want %s", u.Encoding, f.Encoding, enc)
		}
		testfs.SameTree(t, changed, dir)
	}

	// A pack that is not there is ErrNotFound, naming both repositories.
	missing, _ := ociregistry.ParsePackRef("nope:1.0.0")
	if _, _, err := c.Pull(t.Context(), loc, missing, filepath.Join(t.TempDir(), "x"), ociregistry.PullOptions{}); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("pull of a missing pack: %v, want ErrNotFound", err)
	}
}

func TestPullHighestVersion(t *testing.T) {
	reg := testregistry.New(t)
	c := newClient(t)
	loc, _ := ociregistry.ParseLocation(reg.Host)
	src := "../../testdata/packs/hello-universe-1.3.1"
	for _, v := range []string{"1.2.0", "1.10.0", "1.9.3"} {
		dir := testfs.Copy(t, src)
		p := filepath.Join(dir, "pack.json")
		data, _ := os.ReadFile(p)
		data = bytes.Replace(data, []byte(`"version": "1.3.1"`), []byte(`"version": "`+v+`"`), 1)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := c.PushDir(t.Context(), dir, loc, ociregistry.PushOptions{Format: packer.FormatNative}); err != nil {
			t.Fatal(err)
		}
	}
	ref, _ := ociregistry.ParsePackRef("hello-universe")
	u, f, err := c.Pull(t.Context(), loc, ref, filepath.Join(t.TempDir(), "out"), ociregistry.PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if f.Tag != "1.10.0" || u.Version != "1.10.0" {
		t.Errorf("pulled %s (tag %s), want the highest version 1.10.0", u.Version, f.Tag)
	}
}

// A registry address with credentials in it is refused without repeating
// them.
func TestParseLocationHidesCredentials(t *testing.T) {
	_, err := ociregistry.ParseLocation("user:s3cret@registry.example.com/team")
	if err == nil {
		t.Fatal("accepted an address holding credentials")
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("the error repeats the password: %v", err)
	}
}
