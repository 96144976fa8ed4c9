package packer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/packyard/packyard/pkg/mediatypes"
)

// fzBlob serves one blob, whatever the descriptor asks for.
type fzBlob []byte

func (b fzBlob) Fetch(context.Context, ocispec.Descriptor) (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(b)), nil
}

// fzManifest is a manifest seed.
func fzManifest(f *testing.F, m any) []byte {
	f.Helper()
	data, err := json.Marshal(m)
	if err != nil {
		f.Fatal(err)
	}
	return data
}

// FuzzFetchManifest feeds the manifest reader of unpack, inspect and list
// (FetchManifest, then Encoding) the manifests a registry serves. A
// manifest is read only when it is the content its descriptor names, and
// only when it is an image manifest of schema version 2; the encoding it is
// read as is one the rest of the code can take; a native artifact's plan of
// layers, made before any layer is fetched, holds only descriptors that
// content can match, names inside the target folder and sizes within the
// limit.
func FuzzFetchManifest(f *testing.F) {
	d := digest.FromString("layer")
	layer := func(mt, title string, size int64, ann ...string) ocispec.Descriptor {
		l := ocispec.Descriptor{MediaType: mt, Digest: d, Size: size, Annotations: map[string]string{mediatypes.AnnotationTitle: title}}
		for i := 0; i+1 < len(ann); i += 2 {
			l.Annotations[ann[i]] = ann[i+1]
		}
		return l
	}
	native := func(layers ...ocispec.Descriptor) []byte {
		return fzManifest(f, map[string]any{
			"schemaVersion": 2, "mediaType": ocispec.MediaTypeImageManifest, "artifactType": mediatypes.ArtifactTypePack,
			"config": ocispec.Descriptor{MediaType: mediatypes.PackConfig, Digest: d, Size: 5}, "layers": layers,
		})
	}
	for _, data := range [][]byte{
		native(layer(mediatypes.PackMetadata, PackJSONFile, 5), layer(mediatypes.PackValues, ValuesFile, 10),
			layer(mediatypes.PackManifests, ManifestsDir, 100, mediatypes.AnnotationContentDigest, d.String())),
		native(layer(mediatypes.PackMetadata, "../pack.json", 5)),
		native(layer(mediatypes.PackMetadata, "/etc/passwd", 5)),
		native(layer(mediatypes.PackMetadata, "", 5)),
		native(layer(mediatypes.PackMetadata, ".", 5)),
		native(layer(mediatypes.PackMetadata, PackJSONFile, -1)),
		native(layer(mediatypes.PackMetadata, PackJSONFile, 1<<62), layer(mediatypes.PackValues, ValuesFile, 1<<62)),
		native(layer(mediatypes.PackManifests, ".", 5, mediatypes.AnnotationContentUnpack, "true")),
		native(layer(mediatypes.PackManifests, ManifestsDir, 5, mediatypes.AnnotationContentDigest, "sha256:zz")),
		native(layer("application/octet-stream", "a/b", 5, mediatypes.AnnotationContentUnpack, "true")),
		fzManifest(f, map[string]any{"schemaVersion": 2, "mediaType": ocispec.MediaTypeImageManifest,
			"config": ocispec.Descriptor{MediaType: mediatypes.PaletteConfig, Digest: d, Size: 2},
			"layers": []ocispec.Descriptor{layer(mediatypes.PaletteArchive, "kubewatch-3.5.0.tar.gz", 100)}}),
		fzManifest(f, map[string]any{"schemaVersion": 2, "config": ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: d, Size: 2},
			"layers": []ocispec.Descriptor{layer(ocispec.MediaTypeImageLayerGzip, "", 100)}}),
		[]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`),
		[]byte(`{"schemaVersion":1}`),
		[]byte(`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","layers":[{}]}`),
		[]byte(`{"schemaVersion":2,"layers":[{"size":"1"}]}`),
		[]byte(`{"schemaVersion":2,"layers":null,"config":null}`),
		[]byte(`null`),
		[]byte(``),
	} {
		f.Add(data, ocispec.MediaTypeImageManifest)
		f.Add(data, "")
	}
	f.Add([]byte(`{"schemaVersion":2,"artifactType":"`+mediatypes.ArtifactTypePack+`","layers":[]}`), "application/vnd.docker.distribution.manifest.v2+json")

	f.Fuzz(func(t *testing.T, data []byte, mediaType string) {
		ctx := context.Background()
		desc := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}

		m, err := FetchManifest(ctx, fzBlob(data), desc)
		if err != nil {
			if !errors.Is(err, ErrNotPack) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrUnsafeContent) {
				t.Errorf("FetchManifest: %v, not ErrNotPack, ErrTooLarge or ErrUnsafeContent", err)
			}
			return
		}
		if len(data) > MaxManifestSize {
			t.Errorf("a %d-byte manifest was read", len(data))
		}
		// Content that is not what the descriptor names is never read:
		// refused as unsafe where the right descriptor reads it.
		for _, bad := range []ocispec.Descriptor{
			{MediaType: mediaType, Digest: digest.FromString("other"), Size: desc.Size},
			{MediaType: mediaType, Digest: desc.Digest, Size: desc.Size + 1},
			{MediaType: mediaType, Digest: desc.Digest, Size: desc.Size - 1},
		} {
			if bad.Size < 0 {
				continue
			}
			if _, err := FetchManifest(ctx, fzBlob(data), bad); !errors.Is(err, ErrUnsafeContent) {
				t.Errorf("content of another descriptor %+v: %v, want ErrUnsafeContent", bad, err)
			}
		}
		big := ocispec.Descriptor{MediaType: mediaType, Digest: desc.Digest, Size: MaxManifestSize + 1}
		if _, err := FetchManifest(ctx, fzBlob(data), big); !errors.Is(err, ErrTooLarge) {
			t.Errorf("a manifest past the limit: %v, want ErrTooLarge", err)
		}
		mt := m.MediaType
		if mt == "" {
			mt = mediaType
		}
		if mt != ocispec.MediaTypeImageManifest && mt != "application/vnd.docker.distribution.manifest.v2+json" || m.SchemaVersion != 2 {
			t.Errorf("read a manifest of media type %q, schema version %d", mt, m.SchemaVersion)
		}
		// Every reader (unpack, inspect, copy) may trust the descriptors
		// of a manifest read: sizes and digests a registry could serve.
		for _, d := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
			if d.Size < 0 || d.Digest.Validate() != nil {
				t.Errorf("read a manifest naming the descriptor %+v", d)
			}
		}

		enc, err := Encoding(m)
		switch {
		case err != nil:
			if !errors.Is(err, ErrNotPack) {
				t.Errorf("Encoding: %v, not ErrNotPack", err)
			}
			return
		case enc == mediatypes.EncodingNative:
			if m.ArtifactType != mediatypes.ArtifactTypePack && m.Config.MediaType != mediatypes.PackConfig {
				t.Errorf("native encoding without the pack's artifact or config type: %+v", m)
			}
		case enc == mediatypes.EncodingPalette:
			if len(m.Layers) != 1 {
				t.Errorf("a Palette archive with %d layers", len(m.Layers))
			}
			return
		default:
			t.Fatalf("encoding %q", enc)
		}

		const limit = 1 << 20
		x := newExtractor(t.TempDir(), limit, 100)
		plan, packJSON, err := x.planNative(m)
		if err != nil {
			var ue *UnsafeEntryError
			if !errors.As(err, &ue) && !errors.Is(err, ErrTooLarge) {
				t.Errorf("planNative: %v, neither unsafe content nor too large", err)
			}
			return
		}
		var fileBytes int64
		for i, l := range plan {
			if l.desc.Size < 0 || l.desc.Size > limit || l.desc.Digest.Validate() != nil {
				t.Errorf("layer %d planned with the descriptor %+v", i, l.desc)
			}
			if l.rel == "" || strings.HasPrefix(l.rel, "/") || slices.Contains(strings.Split(l.rel, "/"), "..") {
				t.Errorf("layer %d unpacks to %q", i, l.rel)
			}
			if again, err := safeName(l.rel); err != nil || again != l.rel {
				t.Errorf("layer %d unpacks to %q, which safeName reads as %q, %v", i, l.rel, again, err)
			}
			if l.folder {
				if da := digestAnnotation(l.desc); da != "" && da.Validate() != nil {
					t.Errorf("layer %d keeps the content digest %q", i, da)
				}
			} else {
				fileBytes += l.desc.Size
			}
		}
		if fileBytes > limit {
			t.Errorf("the single-file layers take %d bytes, past the %d-byte limit", fileBytes, limit)
		}
		if packJSON != nil && packJSON.Annotations[mediatypes.AnnotationTitle] == "" {
			t.Errorf("the pack.json layer %+v has no title", packJSON)
		}
	})
}
