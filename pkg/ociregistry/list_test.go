package ociregistry_test

import (
	"github.com/packyard/packyard/internal/testfs"

	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content/memory"

	"github.com/packyard/packyard/internal/testregistry"
	"github.com/packyard/packyard/pkg/mediatypes"
	"github.com/packyard/packyard/pkg/ociregistry"
	"github.com/packyard/packyard/pkg/packer"
)

// requestLog records the requests a proxied registry served.
type requestLog struct {
	mu       sync.Mutex
	requests []string // "METHOD PATH?QUERY"
}

func (l *requestLog) add(r *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := r.Method + " " + r.URL.Path
	if r.URL.RawQuery != "" {
		s += "?" + r.URL.RawQuery
	}
	l.requests = append(l.requests, s)
}

// matching lists the requests with the method (any, if empty) whose path
// holds part.
func (l *requestLog) matching(method, part string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.requests {
		if (method == "" || strings.HasPrefix(r, method+" ")) && strings.Contains(r, part) {
			out = append(out, r)
		}
	}
	return out
}

func (l *requestLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.requests = nil
}

// proxy serves reg's handler on a server of its own that logs every
// request and, when catalogStatus is set, answers /v2/_catalog with it.
func proxy(t *testing.T, reg *testregistry.Registry, catalogStatus int) (string, *requestLog) {
	t.Helper()
	return interceptingProxy(t, reg.Handler(), func(w http.ResponseWriter, r *http.Request) bool {
		if catalogStatus == 0 || r.URL.Path != "/v2/_catalog" {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(catalogStatus)
		_, _ = w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"catalog refused"}]}`))
		return true
	})
}

// interceptingProxy serves h on a server of its own that logs every
// request, and lets intercept answer a request first: h serves the
// requests it does not answer (it returns false).
func interceptingProxy(t *testing.T, h http.Handler, intercept func(http.ResponseWriter, *http.Request) bool) (string, *requestLog) {
	t.Helper()
	log := &requestLog{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.add(r)
		if intercept != nil && intercept(w, r) {
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), log
}

func mustLocation(t *testing.T, s string) ociregistry.Location {
	t.Helper()
	loc, err := ociregistry.ParseLocation(s)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func mustPush(t *testing.T, c *ociregistry.Client, dir string, loc ociregistry.Location, format packer.Format) *ociregistry.PushResult {
	t.Helper()
	res, err := c.PushDir(t.Context(), dir, loc, ociregistry.PushOptions{Format: format})
	if err != nil {
		t.Fatalf("push %s: %v", dir, err)
	}
	return res
}

func artifactDigest(t *testing.T, res *ociregistry.PushResult, enc string) digest.Digest {
	t.Helper()
	for _, a := range res.Artifacts {
		if a.Encoding == enc {
			return a.Manifest.Digest
		}
	}
	t.Fatalf("%s %s has no %s artifact", res.Name, res.Version, enc)
	return ""
}

// withVersion copies a pack folder and sets its version.
func withVersion(t *testing.T, src, from, to string) string {
	t.Helper()
	dir := testfs.Copy(t, src)
	p := filepath.Join(dir, "pack.json")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	changed := bytes.Replace(data, []byte(`"version": "`+from+`"`), []byte(`"version": "`+to+`"`), 1)
	if bytes.Equal(changed, data) {
		t.Fatalf("%s has no version %s", p, from)
	}
	if err := os.WriteFile(p, changed, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// pushPaletteByHand pushes a Palette archive the way Palette's
// documentation has users do it: `tar -czvf NAME-VERSION.tar.gz NAME-VERSION`
// then `oras push --image-spec v1.0 REPO:VERSION NAME-VERSION.tar.gz`.
func pushPaletteByHand(t *testing.T, loc ociregistry.Location, c *ociregistry.Client, name, version string) ocispec.Descriptor {
	t.Helper()
	top := name + "-" + version
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	files := map[string]string{
		top + "/pack.json":   `{"name":"` + name + `","displayName":"Legacy","version":"` + version + `","layer":"addon","addonType":"monitoring","cloudTypes":["all"]}`,
		top + "/values.yaml": "pack:\n  namespace: legacy\n",
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: top + "/", Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{top + "/pack.json", top + "/values.yaml"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: n, Mode: 0o644, Size: int64(len(files[n]))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(files[n])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	store := memory.New()
	layer := ocispec.Descriptor{
		MediaType:   ocispec.MediaTypeImageLayer,
		Digest:      digest.FromBytes(buf.Bytes()),
		Size:        int64(buf.Len()),
		Annotations: map[string]string{ocispec.AnnotationTitle: top + ".tar.gz"},
	}
	if err := store.Push(ctx, layer, bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	desc, err := oras.PackManifest(ctx, store, oras.PackManifestVersion1_0, "", oras.PackManifestOptions{Layers: []ocispec.Descriptor{layer}})
	if err != nil {
		t.Fatal(err)
	}
	repo, err := c.Repository(loc, loc.PaletteRepository(name))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Tag(ctx, desc, version); err != nil {
		t.Fatal(err)
	}
	if _, err := oras.Copy(ctx, store, version, repo, version, oras.DefaultCopyOptions); err != nil {
		t.Fatal(err)
	}
	return desc
}

// TestList lists the same packs from a registry without packyard's catalog
// API (distribution), which List reads through the OCI API, and from
// packyard's own, which answers each List in one request.
func TestList(t *testing.T) {
	for _, kind := range []string{"distribution", "packyard"} {
		t.Run(kind, func(t *testing.T) {
			reg := testregistry.New(t)
			if kind == "packyard" {
				reg = packyardRegistry(t)
			}
			testList(t, reg, kind == "packyard")
		})
	}
}

func testList(t *testing.T, reg *testregistry.Registry, catalogAPI bool) {
	host, log := proxy(t, reg, 0)
	c := newClient(t)
	loc := mustLocation(t, host+"/team")

	hu := mustPush(t, c, "../../testdata/packs/hello-universe-1.3.1", loc, "")
	hu10 := mustPush(t, c, withVersion(t, "../../testdata/packs/hello-universe-1.3.1", "1.3.1", "1.10.0"), loc, packer.FormatNative)
	kw := mustPush(t, c, "../../testdata/packs/kubewatch-3.5.0", loc, "")
	ubuntuRes := mustPush(t, c, "../../examples/custom-ubuntu-os", loc, packer.FormatNative)
	hc := mustPush(t, c, "../../examples/hello-chart", loc, packer.FormatPalette)
	legacy := pushPaletteByHand(t, loc, c, "legacy-pack", "2.0.0")
	// Packs of another base, and of the registry's root, are not listed.
	_ = mustPush(t, c, "../../examples/hello-manifests", mustLocation(t, host+"/other"), "")
	_ = mustPush(t, c, "../../examples/hello-manifests", mustLocation(t, host), packer.FormatNative)
	log.reset()

	addon := func(v, tag, display, addonType string, digests map[string]digest.Digest) ociregistry.VersionInfo {
		encs := []string{}
		for _, e := range []string{mediatypes.EncodingNative, mediatypes.EncodingPalette} {
			if digests[e] != "" {
				encs = append(encs, e)
			}
		}
		return ociregistry.VersionInfo{Version: v, Tag: tag, Encodings: encs, Digests: digests, DisplayName: display,
			Layer: "addon", AddonType: addonType, CloudTypes: []string{"all"}}
	}
	hello131 := addon("1.3.1", "1.3.1", "Hello Universe", "app services", map[string]digest.Digest{
		mediatypes.EncodingNative: artifactDigest(t, hu, mediatypes.EncodingNative), mediatypes.EncodingPalette: artifactDigest(t, hu, mediatypes.EncodingPalette)})
	hello1100 := addon("1.10.0", "1.10.0", "Hello Universe", "app services", map[string]digest.Digest{
		mediatypes.EncodingNative: artifactDigest(t, hu10, mediatypes.EncodingNative)})
	kubewatch := addon("3.5.0", "3.5.0", "KubeWatch", "monitoring", map[string]digest.Digest{
		mediatypes.EncodingNative: artifactDigest(t, kw, mediatypes.EncodingNative), mediatypes.EncodingPalette: artifactDigest(t, kw, mediatypes.EncodingPalette)})
	ubuntu := ociregistry.VersionInfo{Version: "1.0.0", Tag: "1.0.0", Encodings: []string{mediatypes.EncodingNative},
		Digests:     map[string]digest.Digest{mediatypes.EncodingNative: artifactDigest(t, ubuntuRes, mediatypes.EncodingNative)},
		DisplayName: "Custom Ubuntu", Layer: "os", CloudTypes: []string{"vsphere", "aws"}, Group: "LTS", EOL: "2029-05-31"}
	chart := ociregistry.VersionInfo{Version: "0.1.0", Tag: "0.1.0", Encodings: []string{mediatypes.EncodingPalette},
		Digests: map[string]digest.Digest{mediatypes.EncodingPalette: artifactDigest(t, hc, mediatypes.EncodingPalette)}}
	legacyV := ociregistry.VersionInfo{Version: "2.0.0", Tag: "2.0.0", Encodings: []string{mediatypes.EncodingPalette},
		Digests: map[string]digest.Digest{mediatypes.EncodingPalette: legacy.Digest}}

	tests := []struct {
		name string
		opts ociregistry.ListOptions
		want []ociregistry.PackInfo
	}{
		{"all", ociregistry.ListOptions{}, []ociregistry.PackInfo{
			{Name: "custom-ubuntu-os", Versions: []ociregistry.VersionInfo{ubuntu}},
			{Name: "hello-chart", Versions: []ociregistry.VersionInfo{chart}},
			{Name: "hello-universe", Versions: []ociregistry.VersionInfo{hello131, hello1100}},
			{Name: "kubewatch", Versions: []ociregistry.VersionInfo{kubewatch}},
			{Name: "legacy-pack", Versions: []ociregistry.VersionInfo{legacyV}},
		}},
		{"layer os", ociregistry.ListOptions{Layer: "os"}, []ociregistry.PackInfo{
			{Name: "custom-ubuntu-os", Versions: []ociregistry.VersionInfo{ubuntu}},
		}},
		// Palette-only versions have no layer, so a layer filter drops them.
		{"layer addon", ociregistry.ListOptions{Layer: "addon", Concurrency: 1}, []ociregistry.PackInfo{
			{Name: "hello-universe", Versions: []ociregistry.VersionInfo{hello131, hello1100}},
			{Name: "kubewatch", Versions: []ociregistry.VersionInfo{kubewatch}},
		}},
		{"names", ociregistry.ListOptions{Names: []string{"kubewatch", "legacy-pack", "not-there", "kubewatch"}}, []ociregistry.PackInfo{
			{Name: "kubewatch", Versions: []ociregistry.VersionInfo{kubewatch}},
			{Name: "legacy-pack", Versions: []ociregistry.VersionInfo{legacyV}},
		}},
		{"no match", ociregistry.ListOptions{Layer: "cni"}, []ociregistry.PackInfo{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.List(t.Context(), loc, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("List(%+v)\n got %+v\nwant %+v", tt.opts, got, tt.want)
			}
		})
	}

	// The registry's root holds only what was pushed there.
	got, err := c.List(t.Context(), mustLocation(t, host), ociregistry.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != "hello-manifests" || len(got[0].Versions) != 1 || got[0].Versions[0].Layer != "addon" {
		t.Errorf("List of the root: %+v", got)
	}

	// Listing reads tags and manifests, never a blob; from packyard's
	// catalog, nothing else than one request per listing.
	if blobs := log.matching(http.MethodGet, "/blobs/"); len(blobs) != 0 {
		t.Errorf("List fetched %d blobs: %v", len(blobs), blobs)
	}
	api := log.matching(http.MethodGet, ociregistry.CatalogAPIPath)
	if catalogAPI {
		if v2 := log.matching("", "/v2/"); len(v2) != 0 {
			t.Errorf("List through the catalog API sent OCI API requests: %v", v2)
		}
		if want := len(tests) + 1; len(api) != want {
			t.Errorf("%d catalog API requests for %d listings: %v", len(api), want, api)
		}
		return
	}
	if len(log.matching(http.MethodGet, "/manifests/")) == 0 {
		t.Error("List fetched no manifest; the request log is not working")
	}
	if want := len(tests) + 1; len(api) != want {
		t.Errorf("%d catalog API requests for %d listings: %v", len(api), want, api)
	}
}

func TestListCatalogRefused(t *testing.T) {
	for _, status := range []int{http.StatusUnauthorized, http.StatusNotFound} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			reg := testregistry.New(t)
			host, _ := proxy(t, reg, status)
			c := newClient(t)
			loc := mustLocation(t, host)
			kw := mustPush(t, c, "../../testdata/packs/kubewatch-3.5.0", loc, packer.FormatNative)

			_, err := c.List(t.Context(), loc, ociregistry.ListOptions{})
			if !errors.Is(err, ociregistry.ErrCatalogUnavailable) {
				t.Fatalf("List without names: %v, want ErrCatalogUnavailable", err)
			}
			got, err := c.List(t.Context(), loc, ociregistry.ListOptions{Names: []string{"kubewatch"}})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || len(got[0].Versions) != 1 || got[0].Versions[0].Digests[mediatypes.EncodingNative] != artifactDigest(t, kw, mediatypes.EncodingNative) {
				t.Errorf("List with names: %+v", got)
			}
		})
	}
}

// Listing asks only about repositories the catalog shows: native-only packs
// cost no requests to Palette repositories, and the catalog comes in pages
// of up to 1,000.
func TestListAsksOnlyForListedRepositories(t *testing.T) {
	reg := testregistry.New(t)
	host, log := proxy(t, reg, 0)
	c := newClient(t)
	loc := mustLocation(t, host+"/team")
	_ = mustPush(t, c, "../../examples/hello-chart", loc, packer.FormatNative)
	_ = mustPush(t, c, "../../examples/hello-manifests", loc, packer.FormatNative)
	log.reset()
	packs, err := c.List(t.Context(), loc, ociregistry.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(packs) != 2 {
		t.Fatalf("listed %d packs, want 2", len(packs))
	}
	if got := log.matching("GET", "/spectro-packs/"); len(got) != 0 {
		t.Errorf("asked about Palette repositories that do not exist: %v", got)
	}
	if got := log.matching("GET", "/v2/_catalog?n=1000"); len(got) != 1 {
		t.Errorf("catalog requests %v, want one page of 1000", log.matching("GET", "/v2/_catalog"))
	}
}
