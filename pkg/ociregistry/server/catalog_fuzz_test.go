package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/packyard/packyard/pkg/mediatypes"
	"github.com/packyard/packyard/pkg/ociregistry"
	"github.com/packyard/packyard/pkg/packer"
)

// fzFilterEqual says whether two filters ask for the same packs.
func fzFilterEqual(a, b catalogFilter) bool {
	return (a.names == nil) == (b.names == nil) && maps.Equal(a.names, b.names) &&
		(a.base == nil) == (b.base == nil) && (a.base == nil || *a.base == *b.base) &&
		a.prefix == b.prefix && a.layer == b.layer && a.addonType == b.addonType && a.cloudType == b.cloudType &&
		slices.Equal(a.words, b.words)
}

// fzSnapshot is a catalog of a few packs, as the catalog serves them.
func fzSnapshot() *catalogSnapshot {
	d1, d2 := digest.FromString("one"), digest.FromString("two")
	native := func(version, layer, addonType, display string, clouds ...string) *CatalogVersion {
		return &CatalogVersion{Version: version, Tag: packer.VersionTag(version), Layer: layer, AddonType: addonType,
			DisplayName: display, CloudTypes: clouds, Encodings: []string{mediatypes.EncodingNative},
			Digests: map[string]digest.Digest{mediatypes.EncodingNative: d1}}
	}
	palette := &CatalogVersion{Version: "0.9.0", Tag: "0.9.0", Encodings: []string{mediatypes.EncodingPalette},
		Digests: map[string]digest.Digest{mediatypes.EncodingPalette: d2}}
	entries := []*packEntry{
		newPackEntry(packKey{name: "kubewatch", base: "team"}, map[string]*CatalogVersion{
			"3.5.0": native("3.5.0", "addon", "monitoring", "Kubewatch", "all"), "0.9.0": palette,
		}),
		newPackEntry(packKey{name: "kubewatch", base: ""}, map[string]*CatalogVersion{"1.0.0": native("1.0.0", "addon", "", "Kube Watch", "aws", "gcp")}),
		newPackEntry(packKey{name: "ubuntu", base: "team/os"}, map[string]*CatalogVersion{"22.04": native("22.04", "os", "", "Ubuntu", "all")}),
		newPackEntry(packKey{name: "cilium", base: "team/os"}, map[string]*CatalogVersion{"1.15.0+b": native("1.15.0+b", "cni", "", "Cilium\x00eBPF", "vsphere")}),
	}
	slices.SortFunc(entries, func(a, b *packEntry) int { return a.key.compare(b.key) })
	return &catalogSnapshot{packs: entries, ready: true, bodies: map[string]*cachedBody{}}
}

// FuzzCatalogFilter feeds the catalog API's query parser the queries a
// client sends. Two queries share a cached body only when they ask for the
// same packs; the body is the JSON of exactly the packs and versions the
// filter matches, gzip'd or not; a bad query is refused as one.
func FuzzCatalogFilter(f *testing.F) {
	for _, q := range [][2]string{
		{"", "name="},
		{"name=kubewatch", "name=kubewatch,"},
		{"name=a,b&name=c", "name=c,b,a"},
		{"base=team", "base=/team/"},
		{"base=", ""},
		{"prefix=team", "prefix=team/os"},
		{"layer=addon&addonType=monitoring", "cloudType=all"},
		{"q=Kube+WATCH", "q=kube%00watch"},
		{"q=x%00gzip", "q=x"},
		{"name=a%00b", "name=a&base=b%00%01"},
		{"name=a,b", "name=a%2Cb"},
		{"q=cilium%00ebpf", "q=cilium ebpf"},
		{"layer=a&layer=b", "unknown=1"},
		{"q=%ff", "q=%fe"},
		{"%", "name=%zz"},
	} {
		f.Add(q[0], q[1])
	}
	snap := fzSnapshot()
	f.Fuzz(func(t *testing.T, q1, q2 string) {
		v1, _ := url.ParseQuery(q1)
		v2, _ := url.ParseQuery(q2)
		f1, err1 := parseCatalogFilter(v1)
		f2, err2 := parseCatalogFilter(v2)
		for _, err := range []error{err1, err2} {
			if err != nil && !errors.Is(err, errBadFilter) {
				t.Errorf("a bad filter fails with %v, not errBadFilter", err)
			}
		}
		if err1 != nil || err2 != nil {
			return
		}
		// (Parsed again, the query's maps iterate in another order.)
		if again, _ := parseCatalogFilter(v1); again.key() != f1.key() {
			t.Fatalf("query %q has the keys %q and %q", q1, f1.key(), again.key())
		}
		if strings.ContainsRune(f1.key(), 0) {
			t.Errorf("the key %q holds a NUL byte", f1.key())
		}
		if (f1.key() == f2.key()) != fzFilterEqual(f1, f2) {
			t.Errorf("queries %q and %q: keys %q and %q, filters %+v and %+v", q1, q2, f1.key(), f2.key(), f1, f2)
		}

		body := snap.cachedBody(f1, false)
		var resp CatalogResponse
		if err := json.Unmarshal(body, &resp); err != nil || resp.Packs == nil {
			t.Fatalf("the body %q does not read as a catalog: %v", body, err)
		}
		var want, got int
		for _, p := range snap.packs {
			if !f1.matchPack(p.key) {
				continue
			}
			for i := range p.versions {
				if f1.matchVersion(&p.versions[i]) {
					want++
				}
			}
		}
		for _, p := range resp.Packs {
			if !f1.matchPack(packKey{name: p.Name, base: p.Base}) || len(p.Versions) == 0 {
				t.Errorf("the body lists the pack %+v", p)
			}
			for _, v := range p.Versions {
				got++
				text := append([]string{p.Name, v.DisplayName, v.Version, v.Tag, v.Layer, v.AddonType, v.Group}, v.CloudTypes...)
				for _, w := range f1.words {
					if !slices.ContainsFunc(text, func(s string) bool { return strings.Contains(strings.ToLower(s), w) }) {
						t.Errorf("the word %q matches %+v across its fields", w, v)
					}
				}
			}
		}
		if got != want {
			t.Errorf("the body lists %d versions, the filter matches %d", got, want)
		}
		zr, err := gzip.NewReader(bytes.NewReader(snap.cachedBody(f1, true)))
		if err != nil {
			t.Fatal(err)
		}
		if plain, err := io.ReadAll(zr); err != nil || !bytes.Equal(plain, body) {
			t.Errorf("the gzip'd body is %q, %v; want %q", plain, err, body)
		}
	})
}

// FuzzPackRepository feeds the catalog repository names, which pushers
// choose. A name read as a pack's is the repository the client lays that
// pack out in, and the client's layout of any pack reads back as the pack.
func FuzzPackRepository(f *testing.F) {
	for _, s := range []string{
		"packs/kubewatch", "team/packs/kubewatch", "team/spectro-packs/archive/kubewatch", "spectro-packs/archive/kubewatch",
		"spectro-packs/archive", "team/spectro-packs/archive", "packs", "packs/packs/x", "a/b/c", "team/packs", "team/packs/a/b",
		"team/xpacks/a", "spectro-packs/archive/packs/x", "x/spectro-packs/archive/archive", "packs/spectro-packs/archive/y", "",
	} {
		f.Add(s)
	}
	anchored := regexp.MustCompile(`^` + reference.NameRegexp.String() + `$`) // a repository name
	f.Fuzz(func(t *testing.T, repo string) {
		key, enc, ok := packRepository(repo)
		if ok && anchored.MatchString(repo) {
			if key.name == "" || strings.Contains(key.name, "/") {
				t.Errorf("%q read as the pack %+v", repo, key)
			}
			if got := key.repository(enc); got != repo {
				t.Errorf("%q read as the %s pack %+v, whose repository is %q", repo, enc, key, got)
			}
			loc := ociregistry.Location{Registry: "r", Base: key.base}
			client := loc.NativeRepository(key.name)
			if enc == mediatypes.EncodingPalette {
				client = loc.PaletteRepository(key.name)
			}
			if client != repo {
				t.Errorf("%q read as the %s pack %+v, which the client keeps in %q", repo, enc, key, client)
			}
		}
		// The client's layout of a pack named by the last element, below a
		// base of the rest, reads back as that pack.
		base, name := "", repo
		if i := strings.LastIndex(repo, "/"); i >= 0 {
			base, name = repo[:i], repo[i+1:]
		}
		loc, err := ociregistry.ParseLocation("r/" + base)
		if base == "" {
			loc, err = ociregistry.ParseLocation("r")
		}
		if err != nil || !anchored.MatchString(name) || strings.Contains(name, "/") {
			return
		}
		for _, enc := range []string{mediatypes.EncodingNative, mediatypes.EncodingPalette} {
			r := loc.NativeRepository(name)
			if enc == mediatypes.EncodingPalette {
				r = loc.PaletteRepository(name)
			}
			k, e, ok := packRepository(r)
			if !ok || e != enc || k != (packKey{name: name, base: loc.Base}) {
				t.Errorf("the %s repository %q of %q below %q reads as %+v %q %v", enc, r, name, loc.Base, k, e, ok)
			}
		}
		if k, e, ok := packRepository(loc.PaletteBaseRepository()); ok {
			t.Errorf("the Palette base repository %q reads as the %s pack %+v", loc.PaletteBaseRepository(), e, k)
		}
	})
}

// FuzzInspectManifest feeds the registry's reader of pushed manifests what
// clients push. Every manifest a client reads as a native pack is one the
// registry keeps immutable and lists in its catalog, with the version the
// client reads; a subject is kept only when its digest is valid.
func FuzzInspectManifest(f *testing.F) {
	d := digest.FromString("blob")
	manifest := func(artifactType, config string, layers int, subject *ocispec.Descriptor, ann map[string]string) []byte {
		m := map[string]any{"schemaVersion": 2, "mediaType": ocispec.MediaTypeImageManifest,
			"config": ocispec.Descriptor{MediaType: config, Digest: d, Size: 2}, "annotations": ann}
		if artifactType != "" {
			m["artifactType"] = artifactType
		}
		var ls []ocispec.Descriptor
		for range layers {
			ls = append(ls, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: d, Size: 2})
		}
		m["layers"] = ls
		if subject != nil {
			m["subject"] = subject
		}
		data, _ := json.Marshal(m)
		return data
	}
	ann := map[string]string{mediatypes.AnnotationPackVersion: "1.0.0", mediatypes.AnnotationPackLayer: "addon", mediatypes.AnnotationPackCloudTypes: "aws,gcp"}
	for _, s := range []struct {
		repo    string
		payload []byte
	}{
		{"team/packs/kubewatch", manifest(mediatypes.ArtifactTypePack, mediatypes.PackConfig, 3, nil, ann)},
		{"team/packs/kubewatch", manifest("", mediatypes.PackConfig, 1, nil, nil)},
		{"team/packs/kubewatch", manifest(mediatypes.ArtifactTypePack, "application/vnd.oci.empty.v1+json", 0, nil, nil)},
		{"team/spectro-packs/archive/kubewatch", manifest("", mediatypes.PaletteConfig, 1, nil, nil)},
		{"team/spectro-packs/archive/kubewatch", manifest("application/vnd.unknown.artifact.v1", "application/vnd.oci.empty.v1+json", 1, nil, nil)},
		{"team/packs/kubewatch", manifest("application/vnd.example.sig", "application/vnd.oci.empty.v1+json", 1, &ocispec.Descriptor{Digest: d, Size: 2}, nil)},
		{"team/packs/kubewatch", manifest("application/vnd.example.sig", "application/vnd.oci.empty.v1+json", 1, &ocispec.Descriptor{Digest: "sha256:zz", Size: 2}, nil)},
		{"app", manifest("", ocispec.MediaTypeImageConfig, 2, nil, nil)},
		{"app", []byte(`{"schemaVersion":2,"artifactType":"` + mediatypes.ArtifactTypePack + `","layers":[{"size":"x"}]}`)},
		{"app", []byte(`{"schemaVersion":2,"artifactType":"` + mediatypes.ArtifactTypePack + `","layers":"x"}`)},
		{"app", []byte(`{"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)},
		{"app", []byte(`not json`)},
	} {
		f.Add(s.repo, s.payload)
	}
	f.Fuzz(func(t *testing.T, repo string, payload []byte) {
		info := inspectManifest(repo, payload)
		if info.subject != nil && info.subject.Digest.Validate() != nil {
			t.Errorf("kept the invalid subject %q", info.subject.Digest)
		}
		desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(payload), Size: int64(len(payload))}
		m, err := packer.FetchManifest(context.Background(), payloadFetcher(payload), desc)
		if err != nil {
			return
		}
		enc, err := packer.Encoding(m)
		if err != nil || enc != mediatypes.EncodingNative {
			return
		}
		if !info.pack {
			t.Errorf("a manifest the client reads as a native pack is not kept immutable in %q", repo)
		}
		meta, err := readManifest(context.Background(), fzManifests{payload}, desc.Digest)
		if err != nil || meta == nil || meta.native == nil {
			t.Fatalf("the catalog does not list a native pack: %+v, %v", meta, err)
		}
		want := ociregistry.VersionFromAnnotations(m.Annotations, "")
		if !slices.Equal(meta.native.CloudTypes, want.CloudTypes) || meta.native.Version != want.Version || meta.native.Layer != want.Layer {
			t.Errorf("the catalog lists %+v, the client reads %+v", meta.native, want)
		}
	})
}

// fzManifests is a manifest service that holds one manifest.
type fzManifests struct{ payload []byte }

func (m fzManifests) Exists(context.Context, digest.Digest) (bool, error) { return true, nil }

func (m fzManifests) Get(context.Context, digest.Digest, ...distribution.ManifestServiceOption) (distribution.Manifest, error) {
	return fzManifest(m), nil
}

func (m fzManifests) Put(context.Context, distribution.Manifest, ...distribution.ManifestServiceOption) (digest.Digest, error) {
	return "", errors.New("read only")
}

func (m fzManifests) Delete(context.Context, digest.Digest) error { return errors.New("read only") }

// fzManifest is a stored manifest.
type fzManifest struct{ payload []byte }

func (m fzManifest) References() []distribution.Descriptor { return nil }

func (m fzManifest) Payload() (string, []byte, error) {
	return ocispec.MediaTypeImageManifest, m.payload, nil
}
