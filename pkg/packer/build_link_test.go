package packer_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/packyard/packyard/pkg/mediatypes"
	"github.com/packyard/packyard/pkg/ocilayout"
	"github.com/packyard/packyard/pkg/packer"
)

// A listed manifest reached through a linked folder ("manifests" -> "k8s")
// lints clean, builds, and unpacks from both encodings with the link kept.
func TestBuildThroughLinkedFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "linked")
	write := func(rel, body string) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("pack.json", `{"name":"linked","displayName":"Linked","version":"1.0.0","layer":"addon","addonType":"system app","cloudTypes":["all"],"kubeManifests":["manifests/a.yaml"]}`)
	write("values.yaml", "manifests:\n  a: {}\n")
	write("README.md", "# linked\n")
	write("k8s/a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n")
	if err := os.Symlink("k8s", filepath.Join(dir, "manifests")); err != nil {
		t.Fatal(err)
	}
	r, err := packer.Lint(t.Context(), dir, packer.LintOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range r.Findings {
		if f.Code != packer.CodeMissingFile || f.File != "logo.png" {
			t.Errorf("unexpected finding: %s", f)
		}
	}
	p, err := packer.Load(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	layout := filepath.Join(t.TempDir(), "layout")
	res, err := packer.BuildToLayout(t.Context(), p, layout, packer.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := ocilayout.Open(layout)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range res.Artifacts() {
		out := filepath.Join(t.TempDir(), a.Encoding)
		if _, err := packer.Unpack(t.Context(), l, a.Manifest, out, packer.UnpackOptions{}); err != nil {
			t.Fatalf("unpack %s: %v", a.Encoding, err)
		}
		if target, err := os.Readlink(filepath.Join(out, "manifests")); err != nil || target != "k8s" {
			t.Errorf("%s: manifests is %q, %v; want the link to k8s", a.Encoding, target, err)
		}
		data, err := os.ReadFile(filepath.Join(out, "manifests", "a.yaml"))
		if err != nil || string(data) != "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n" {
			t.Errorf("%s: manifests/a.yaml = %q, %v", a.Encoding, data, err)
		}
		if a.Encoding == mediatypes.EncodingNative {
			for _, layer := range a.Layers {
				if layer.Annotations[mediatypes.AnnotationTitle] == "manifests/a.yaml" {
					t.Errorf("a layer is titled through the link: %v", layer.Annotations)
				}
			}
		}
	}
}
