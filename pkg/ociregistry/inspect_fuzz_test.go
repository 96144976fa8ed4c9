package ociregistry

import (
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/packyard/packyard/pkg/mediatypes"
	"github.com/packyard/packyard/pkg/packer"
)

// FuzzTagFromManifest checks how inspect works out a version's tag from a
// manifest found by digest: from the native manifest's version annotation,
// or from the Palette archive's file name. The file name the build gives
// an archive reads back as the tag of its version; any other title gives a
// tag only when it is NAME-VERSION.tar.gz or .tgz, and that tag is the
// VERSION's.
func FuzzTagFromManifest(f *testing.F) {
	f.Add("kubewatch", "3.5.0", "kubewatch-3.5.0.tar.gz")
	f.Add("hello-universe", "1.3.1+build.5", "hello-universe-1.3.1+build.5.tgz")
	f.Add("a", "b-1", "a-b-1.tar.gz")
	f.Add("a", "1.tar", "a-.tar.gz")
	f.Add("a-b", "1", "a-b.tar.gz")
	f.Add("", "", "-.tgz")
	f.Fuzz(func(t *testing.T, name, version, title string) {
		archive := func(title string) *ocispec.Manifest {
			return &ocispec.Manifest{Layers: []ocispec.Descriptor{{Annotations: map[string]string{mediatypes.AnnotationTitle: title}}}}
		}
		// What the build names the archive reads back as the version's tag.
		built := (&packer.Pack{Meta: packer.Metadata{Name: name, Version: version}}).ArchiveName()
		if got, want := tagFromManifest(name, mediatypes.EncodingPalette, archive(built)), packer.VersionTag(version); version != "" && got != want {
			t.Errorf("archive %q of %q reads as the tag %q, want %q", built, name, got, want)
		}
		native := &ocispec.Manifest{Annotations: map[string]string{mediatypes.AnnotationPackVersion: version}}
		if got := tagFromManifest(name, mediatypes.EncodingNative, native); got != packer.VersionTag(version) {
			t.Errorf("version annotation %q reads as the tag %q", version, got)
		}

		tag := tagFromManifest(name, mediatypes.EncodingPalette, archive(title))
		if tag == "" {
			return
		}
		if strings.Contains(tag, "+") {
			t.Errorf("title %q gives the tag %q, with a '+'", title, tag)
		}
		v, ok := strings.CutPrefix(title, name+"-")
		if !ok {
			t.Fatalf("title %q of %q gives the tag %q", title, name, tag)
		}
		if packer.VersionTag(strings.TrimSuffix(v, ".tar.gz")) != tag && packer.VersionTag(strings.TrimSuffix(v, ".tgz")) != tag {
			t.Errorf("title %q of %q gives the tag %q, not its version's", title, name, tag)
		}
		// A manifest of several layers is no archive.
		m := archive(title)
		m.Layers = append(m.Layers, m.Layers[0])
		if got := tagFromManifest(name, mediatypes.EncodingPalette, m); got != "" {
			t.Errorf("two layers titled %q give the tag %q", title, got)
		}
	})
}
