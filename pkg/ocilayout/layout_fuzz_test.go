package ocilayout_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/packyard/packyard/pkg/ocilayout"
)

// FuzzOpenLayout feeds Open the oci-layout and index.json files of a
// layout it did not write (an archive to import, a folder a user names).
// What it accepts has only entries with valid digests and sizes; tags and
// digests resolve to the first entry that has them; and tagging keeps every
// other entry as it was read.
func FuzzOpenLayout(f *testing.F) {
	d := digest.FromString("manifest")
	entry := func(tag string, ann ...string) string {
		a := map[string]string{}
		if tag != "" {
			a[ocispec.AnnotationRefName] = tag
		}
		for i := 0; i+1 < len(ann); i += 2 {
			a[ann[i]] = ann[i+1]
		}
		data, _ := json.Marshal(ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: 42, Annotations: a})
		return string(data)
	}
	const layoutFile = `{"imageLayoutVersion":"1.0.0"}`
	for _, idx := range []string{
		`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` +
			entry("1.0.0", "io.packyard.pack.encoding", "native", "io.packyard.pack.name", "demo") + `,` +
			entry("1.0.0-palette", "io.packyard.pack.encoding", "palette") + `]}`,
		`{"manifests":[` + entry("a") + `,` + entry("a") + `,` + entry("") + `]}`,
		`{"manifests":[{"digest":"sha256:zz","size":1}]}`,
		`{"manifests":[{"digest":"` + d.String() + `","size":-1}]}`,
		`{"manifests":[{"digest":"` + d.String() + `","size":1,"annotations":{"org.opencontainers.image.ref.name":"` + d.String() + `"}}]}`,
		`{"manifests":[{"digest":"md5:d41d8cd98f00b204e9800998ecf8427e","size":0}]}`,
		`{"manifests":null}`,
		`{"manifests":{}}`,
		`{}`,
		`[]`,
		`null`,
		``,
		`{"manifests":[` + strings.Repeat(`{"digest":"`+d.String()+`","size":1},`, 50) + `{"digest":"` + d.String() + `","size":1}]}`,
	} {
		f.Add([]byte(layoutFile), []byte(idx))
	}
	f.Add([]byte(`{"imageLayoutVersion":"2.0.0"}`), []byte(`{}`))
	f.Add([]byte(`{}`), []byte(`{}`))
	f.Add([]byte(strings.Repeat(" ", 5000)+layoutFile), []byte(`{}`))

	f.Fuzz(func(t *testing.T, layoutJSON, indexJSON []byte) {
		ctx := context.Background()
		root := t.TempDir()
		for name, data := range map[string][]byte{ocispec.ImageLayoutFile: layoutJSON, "index.json": indexJSON} {
			if err := os.WriteFile(filepath.Join(root, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		l, err := ocilayout.Open(root)
		if err != nil {
			return
		}
		read := l.Manifests()
		for i, m := range read {
			if m.Digest.Validate() != nil || m.Size < 0 {
				t.Errorf("entry %d accepted with digest %q and size %d", i, m.Digest, m.Size)
			}
		}
		for i, m := range read {
			first := func(match func(ocispec.Descriptor) bool) int {
				for k, o := range read {
					if match(o) {
						return k
					}
				}
				return -1
			}
			if tag := m.Annotations[ocispec.AnnotationRefName]; tag != "" {
				k := first(func(o ocispec.Descriptor) bool { return o.Annotations[ocispec.AnnotationRefName] == tag })
				if _, derr := digest.Parse(tag); derr != nil {
					got, err := l.Resolve(ctx, tag)
					if err != nil || got.Digest != read[k].Digest || got.Annotations[ocispec.AnnotationRefName] != "" {
						t.Errorf("entry %d: tag %q resolves to %+v, %v; want entry %d", i, tag, got, err, k)
					}
				}
			}
			k := first(func(o ocispec.Descriptor) bool { return o.Digest == m.Digest })
			if got, err := l.Resolve(ctx, m.Digest.String()); err != nil || got.Digest != m.Digest || got.Size != read[k].Size {
				t.Errorf("entry %d: digest %s resolves to %+v, %v", i, m.Digest, got, err)
			}
		}

		// Tagging a new manifest keeps what was read, entry by entry.
		desc, err := l.PushBytes(ctx, ocispec.MediaTypeImageManifest, []byte(`{"schemaVersion":2}`))
		if err != nil {
			t.Fatal(err)
		}
		const tag = "fuzz-new-tag"
		if err := l.Tag(ctx, desc, tag); err != nil {
			t.Fatalf("tagging a layout Open accepted: %v", err)
		}
		again, err := ocilayout.Open(root)
		if err != nil {
			t.Fatalf("the layout does not open after tagging: %v", err)
		}
		// The first entry with the tag is replaced, or the entry added.
		want := append([]ocispec.Descriptor(nil), read...)
		i := slices.IndexFunc(want, func(m ocispec.Descriptor) bool { return m.Annotations[ocispec.AnnotationRefName] == tag })
		if i < 0 {
			i = len(want)
			want = append(want, ocispec.Descriptor{})
		}
		got := again.Manifests()
		if len(got) != len(want) {
			t.Fatalf("tagging left %d entries of %d, want %d", len(got), len(read), len(want))
		}
		for k, m := range got {
			if k == i {
				if m.Digest != desc.Digest || m.Annotations[ocispec.AnnotationRefName] != tag {
					t.Errorf("the new tag is the entry %+v", m)
				}
				continue
			}
			gj, _ := json.Marshal(m)
			wj, _ := json.Marshal(want[k])
			if !bytes.Equal(gj, wj) {
				t.Errorf("entry %d was %s, is %s after tagging", k, wj, gj)
			}
		}
	})
}
