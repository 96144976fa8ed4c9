package server

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"testing"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Two replicas share one storage: what one pushes or deletes, the other
// lists at once, whatever it had listed (and cached) before.
func TestReferrersAcrossReplicas(t *testing.T) {
	t.Setenv("REGISTRY_HTTP_SECRET", "shared-secret")
	dir := t.TempDir()
	a := &specClient{t: t, base: start(t, ConfigOptions{DataDir: dir}, slog.LevelWarn).URL}
	b := &specClient{t: t, base: start(t, ConfigOptions{DataDir: dir}, slog.LevelWarn).URL}
	const repo = "replicas/app"
	subject := newImage(imageOptions{layers: 1})
	a.push(repo, subject, "v1")
	if refs := b.referrers(repo, subject.digest, "").Manifests; len(refs) != 0 {
		t.Fatalf("referrers before any push: %v", refs)
	}
	sig := newImage(imageOptions{artifactType: mtArtifact1, configType: mtOCIEmptyJSON, layers: 1, layerType: mtArtifact1, subject: &subject.desc})
	a.push(repo, sig, "")
	refs := b.referrers(repo, subject.digest, "").Manifests
	if len(refs) != 1 || refs[0].Digest != sig.digest {
		t.Fatalf("the other replica lists %v, want %s", refs, sig.digest)
	}
	a.expect("DELETE", a.do(http.MethodDelete, "/v2/"+repo+"/manifests/"+sig.digest.String(), nil), http.StatusAccepted)
	if refs := b.referrers(repo, subject.digest, "").Manifests; len(refs) != 0 {
		t.Errorf("the other replica still lists a deleted referrer: %v", refs)
	}
}

// countingManifests counts the manifests read.
type countingManifests struct {
	distribution.ManifestService
	enum  distribution.ManifestEnumerator
	mu    sync.Mutex
	reads map[digest.Digest]int
}

func (c *countingManifests) Get(ctx context.Context, d digest.Digest, o ...distribution.ManifestServiceOption) (distribution.Manifest, error) {
	c.mu.Lock()
	c.reads[d]++
	c.mu.Unlock()
	return c.ManifestService.Get(ctx, d, o...)
}

func (c *countingManifests) Enumerate(ctx context.Context, f func(digest.Digest) error) error {
	return c.enum.Enumerate(ctx, f)
}

// Each manifest is read and parsed once, however many times its repository's
// referrers are listed.
func TestReferrersReadEachManifestOnce(t *testing.T) {
	r := start(t, ConfigOptions{}, slog.LevelError)
	srv := r.Server
	c := &specClient{t: t, base: r.URL}
	const repo = "cache/app"
	subject := newImage(imageOptions{layers: 1})
	c.push(repo, subject, "v1")
	for range 3 {
		c.push(repo, newImage(imageOptions{artifactType: mtArtifact1, configType: mtOCIEmptyJSON, layers: 1, layerType: mtArtifact1, subject: &subject.desc}), "")
	}
	named, err := reference.WithName(repo)
	if err != nil {
		t.Fatal(err)
	}
	rp, err := srv.namespace.Repository(t.Context(), named)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := rp.Manifests(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	counting := &countingManifests{ManifestService: ms, enum: ms.(distribution.ManifestEnumerator), reads: map[digest.Digest]int{}}
	cache := newInfoCache(1 << 20)
	for range 3 {
		descs, err := listReferrers(t.Context(), counting, cache, subject.digest, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(descs) != 3 {
			t.Fatalf("%d referrers, want 3", len(descs))
		}
	}
	if len(counting.reads) != 4 {
		t.Errorf("read %d manifests, want the 4 of the repository", len(counting.reads))
	}
	for d, n := range counting.reads {
		if n != 1 {
			t.Errorf("manifest %s read %d times", d, n)
		}
	}
	if entries, _, loads := cache.stats(); entries != 4 || loads != 4 {
		t.Errorf("cache: %d entries, %d loads; want 4, 4", entries, loads)
	}
}

// The cache keeps within its bound, dropping the least recently used.
func TestInfoCacheBound(t *testing.T) {
	c := newInfoCache(64 << 10)
	big := &manifestInfoEntry{subject: digest.FromString("s"), annotations: map[string]string{"k": string(make([]byte, 900))}}
	var first digest.Digest
	for i := range 100 {
		d := digest.FromBytes([]byte{byte(i)})
		if i == 0 {
			first = d
		}
		c.add(d, big)
	}
	entries, used, _ := c.stats()
	if used > 64<<10 || entries == 0 || entries == 100 {
		t.Errorf("%d entries in %d bytes, bound %d", entries, used, 64<<10)
	}
	if _, ok := c.get(first); ok {
		t.Error("the least recently used entry was kept")
	}
	huge := &manifestInfoEntry{annotations: map[string]string{"k": string(make([]byte, 8<<10))}}
	c.add(digest.FromString("huge"), huge)
	if _, ok := c.get(digest.FromString("huge")); ok {
		t.Error("an entry larger than a sixteenth of the bound was kept")
	}
}

func TestParseManifestInfo(t *testing.T) {
	subject := digest.FromString("subject")
	for _, tc := range []struct {
		name, mediaType, payload string
		want                     manifestInfoEntry
	}{
		{"artifactType", ocispec.MediaTypeImageManifest,
			`{"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"a/b","config":{"mediaType":"c/d"},"subject":{"digest":"` + subject.String() + `"},"annotations":{"k":"v"}}`,
			manifestInfoEntry{subject: subject, mediaType: ocispec.MediaTypeImageManifest, artifactType: "a/b", annotations: map[string]string{"k": "v"}}},
		{"config media type", ocispec.MediaTypeImageManifest,
			`{"config":{"mediaType":"c/d"},"subject":{"digest":"` + subject.String() + `"}}`,
			manifestInfoEntry{subject: subject, mediaType: ocispec.MediaTypeImageManifest, artifactType: "c/d"}},
		{"index", ocispec.MediaTypeImageIndex,
			`{"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[],"subject":{"digest":"` + subject.String() + `"}}`,
			manifestInfoEntry{subject: subject, mediaType: ocispec.MediaTypeImageIndex}},
		{"no subject", ocispec.MediaTypeImageManifest, `{"config":{"mediaType":"c/d"}}`, manifestInfoEntry{}},
		{"invalid subject digest", ocispec.MediaTypeImageManifest, `{"subject":{"digest":"sha256:xyz"}}`, manifestInfoEntry{}},
		{"not JSON", ocispec.MediaTypeImageManifest, `blablabla`, manifestInfoEntry{}},
	} {
		got := parseManifestInfo(tc.mediaType, []byte(tc.payload))
		if got.subject != "" {
			tc.want.size = int64(len(tc.payload))
		}
		if got.subject != tc.want.subject || got.mediaType != tc.want.mediaType || got.artifactType != tc.want.artifactType ||
			got.size != tc.want.size || len(got.annotations) != len(tc.want.annotations) {
			t.Errorf("%s: %+v, want %+v", tc.name, *got, tc.want)
		}
	}
}

func FuzzReferrersPath(f *testing.F) {
	for _, s := range []string{"/v2/a/b/referrers/sha256:abc", "/v2/referrers/x", "/v2//referrers/", "/v2/a/referrers/b/c", "/v2/a/referrers/referrers/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		name, dgst, ok := referrersPath(p)
		if !ok {
			return
		}
		if name == "" || dgst == "" || "/v2/"+name+"/referrers/"+dgst != p {
			t.Errorf("%q split into %q and %q", p, name, dgst)
		}
	})
}

func FuzzParseV2Path(f *testing.F) {
	for _, s := range []string{"/v2/a/b/manifests/latest", "/v2/a/blobs/sha256:abc", "/v2/a/blobs/uploads/", "/v2/a/blobs/uploads/id", "/v2/blobs/uploads/x", "/v2/a/manifests/b/manifests/c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		v, ok := parseV2Path(p)
		if !ok {
			return
		}
		kind := "/" + v.kind + "/"
		if v.kind == "uploads" {
			kind = "/blobs/uploads/"
		}
		if v.name == "" || "/v2/"+v.name+kind+v.ref != p {
			t.Errorf("%q split into %+v", p, v)
		}
	})
}

func FuzzParseManifestInfo(f *testing.F) {
	f.Add(`{"artifactType":"a","subject":{"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}}`)
	f.Add(`{"subject":null}`)
	f.Fuzz(func(t *testing.T, payload string) {
		e := parseManifestInfo(ocispec.MediaTypeImageManifest, []byte(payload))
		if e.subject != "" && e.subject.Validate() != nil {
			t.Errorf("invalid subject %q kept", e.subject)
		}
		_ = e.cost()
	})
}
