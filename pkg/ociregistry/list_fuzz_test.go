package ociregistry

import (
	"slices"
	"strings"
	"testing"

	"github.com/packyard/packyard/pkg/mediatypes"
	"github.com/packyard/packyard/pkg/packer"
)

// FuzzVersionFromAnnotations checks the listing annotations both ways: a
// pack's metadata, written as its native manifest's annotations by the
// build, reads back as the same metadata, as List and the registry's
// catalog read it; and annotations a registry serves, whatever they hold,
// read without loss of what they say.
func FuzzVersionFromAnnotations(f *testing.F) {
	for _, ct := range packer.CloudTypes {
		if ct == "" || strings.Contains(ct, ",") {
			f.Fatalf("lint allows the cloud type %q, which the annotation cannot hold", ct)
		}
	}
	f.Add("kubewatch", "Kubewatch", "3.5.0", "addon", "monitoring", "all", "", "2030-01-01", "3.5.0")
	f.Add("hello-universe", "Hello Universe", "1.3.1+build.5", "addon", "", "aws,azure", "demo", "", "1.3.1_build.5")
	f.Add("os", "Ubuntu", "", "os", "", "", "", "", "22.04")
	f.Add("x", "", "1.0.0", "", "", ",aws,", "", "", "latest")
	f.Add("x", "a\x00b", "1", "k8s", "ingress", "aws,,gcp", "g,h", "soon", "")
	f.Fuzz(func(t *testing.T, name, displayName, version, layer, addonType, cloudTypes, group, eol, tag string) {
		meta := packer.Metadata{
			Name: name, DisplayName: displayName, Version: version, Layer: layer, AddonType: addonType,
			Group: group, EOL: eol,
		}
		if cloudTypes != "" {
			meta.CloudTypes = strings.Split(cloudTypes, ",")
		}
		ann := (&packer.Pack{Meta: meta}).ManifestAnnotations()
		v := VersionFromAnnotations(ann, tag)
		wantVersion := version
		if wantVersion == "" {
			wantVersion = tag
		}
		if v.Tag != tag || v.Version != wantVersion {
			t.Errorf("version %q tagged %q reads as version %q tagged %q", version, tag, v.Version, v.Tag)
		}
		for _, fd := range []struct{ field, got, want string }{
			{"displayName", v.DisplayName, displayName}, {"layer", v.Layer, layer}, {"addonType", v.AddonType, addonType},
			{"group", v.Group, group}, {"eol", v.EOL, eol},
		} {
			if fd.got != fd.want {
				t.Errorf("%s %q reads as %q", fd.field, fd.want, fd.got)
			}
		}
		// The annotation holds the cloud types comma separated: lint allows
		// only cloud types without a comma, which read back as they were.
		if !slices.Equal(v.CloudTypes, meta.CloudTypes) {
			lintable := true
			for _, ct := range meta.CloudTypes {
				lintable = lintable && slices.Contains(packer.CloudTypes, ct)
			}
			if lintable {
				t.Errorf("cloud types %q read as %q", meta.CloudTypes, v.CloudTypes)
			}
		}
		if v.Encodings != nil || v.Digests != nil {
			t.Errorf("annotations gave encodings or digests: %+v", v)
		}
		// Whatever the annotations, no value is lost or made up.
		v2 := VersionFromAnnotations(map[string]string{
			mediatypes.AnnotationPackCloudTypes: cloudTypes, mediatypes.AnnotationPackVersion: version,
		}, tag)
		if strings.Join(v2.CloudTypes, ",") != cloudTypes {
			t.Errorf("cloud types annotation %q reads as %q", cloudTypes, v2.CloudTypes)
		}
		if v2.Version != wantVersion {
			t.Errorf("version annotation %q reads as %q", version, v2.Version)
		}
	})
}
