package ociregistry_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"

	"github.com/packyard/packyard/internal/testregistry"
	"github.com/packyard/packyard/pkg/ociregistry"
	"github.com/packyard/packyard/pkg/ociregistry/server"
	"github.com/packyard/packyard/pkg/packer"
)

// packyardRegistry runs packyard's own registry (server.New, storage in
// memory, deletes allowed) on a loopback port until the test ends. opts
// change its configuration as they do testregistry's.
func packyardRegistry(t *testing.T, opts ...testregistry.Option) *testregistry.Registry {
	t.Helper()
	cfg := &configuration.Configuration{
		Storage: configuration.Storage{"inmemory": configuration.Parameters{}, "delete": configuration.Parameters{"enabled": true}},
	}
	cfg.Log.Level = "panic"
	cfg.Log.AccessLog.Disabled = true
	cfg.HTTP.Secret = "packyard-test"
	cfg.Catalog.MaxEntries = 1000
	for _, o := range opts {
		o(cfg)
	}
	srv, err := server.New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &testregistry.Registry{Server: hs, Host: strings.TrimPrefix(hs.URL, "http://")}
}

// pushManifest pushes an image manifest of the config and layers (each a
// blob of the given bytes) to REPO:TAG below loc.
func pushManifest(t *testing.T, c *ociregistry.Client, loc ociregistry.Location, repoName, tag, configType string, config []byte, layers ...[]byte) ocispec.Descriptor {
	t.Helper()
	ctx := t.Context()
	store := memory.New()
	push := func(mt string, data []byte) ocispec.Descriptor {
		d := ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(data), Size: int64(len(data))}
		if err := store.Push(ctx, d, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		return d
	}
	cfg := push(configType, config)
	var descs []ocispec.Descriptor
	for _, l := range layers {
		descs = append(descs, push(ocispec.MediaTypeImageLayerGzip, l))
	}
	desc, err := oras.PackManifest(ctx, store, oras.PackManifestVersion1_1, "", oras.PackManifestOptions{ConfigDescriptor: &cfg, Layers: descs})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Tag(ctx, desc, tag); err != nil {
		t.Fatal(err)
	}
	repo, err := c.Repository(loc, repoName)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oras.Copy(ctx, store, tag, repo, tag, oras.DefaultCopyOptions); err != nil {
		t.Fatal(err)
	}
	return desc
}

// withoutCatalogAPI serves reg with the catalog API answering status (and
// body, with the content type, when given), as a registry without it does.
func withoutCatalogAPI(t *testing.T, reg *testregistry.Registry, status int, contentType, body string) (string, *requestLog) {
	t.Helper()
	return interceptingProxy(t, reg.Handler(), func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != ociregistry.CatalogAPIPath {
			return false
		}
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
		return true
	})
}

// List gives the same packs through packyard's catalog API as through the
// OCI API, whatever the registry holds and whatever the options.
func TestListCatalogAPIMatchesOCI(t *testing.T) {
	reg := packyardRegistry(t)
	apiHost, apiLog := proxy(t, reg, 0)
	ociHost, ociLog := withoutCatalogAPI(t, reg, http.StatusNotFound, "", "404 page not found")
	c := newClient(t)
	loc := mustLocation(t, apiHost+"/team")

	_ = mustPush(t, c, "../../testdata/packs/hello-universe-1.3.1", loc, "")
	_ = mustPush(t, c, withVersion(t, "../../testdata/packs/hello-universe-1.3.1", "1.3.1", "1.3.1+build.2"), loc, packer.FormatNative)
	_ = mustPush(t, c, withVersion(t, "../../testdata/packs/hello-universe-1.3.1", "1.3.1", "v1.12"), loc, "")
	_ = mustPush(t, c, "../../testdata/packs/kubewatch-3.5.0", loc, packer.FormatPalette)
	_ = mustPush(t, c, "../../examples/custom-ubuntu-os", loc, "")
	_ = mustPush(t, c, "../../examples/hello-chart", loc, packer.FormatNative)
	_ = pushPaletteByHand(t, loc, c, "legacy-pack", "2.0.0")
	_ = pushPaletteByHand(t, loc, c, "legacy-pack", "latest")
	// A container image among a pack's native versions is not listed; any
	// manifest in a Palette repository is.
	_ = pushManifest(t, c, loc, loc.NativeRepository("hello-chart"), "image", ocispec.MediaTypeImageConfig, []byte(`{"os":"linux"}`), []byte("layer"))
	_ = pushManifest(t, c, loc, loc.PaletteRepository("odd"), "1.0.0", "application/vnd.unknown.config.v1+json", []byte("{}"), []byte("a"), []byte("b"))
	_ = mustPush(t, c, "../../examples/hello-manifests", mustLocation(t, apiHost+"/other"), "")
	_ = mustPush(t, c, "../../examples/hello-manifests", mustLocation(t, apiHost), packer.FormatNative)
	_ = mustPush(t, c, "../../examples/hello-manifests", mustLocation(t, apiHost+"/team/sub"), packer.FormatNative)

	options := []ociregistry.ListOptions{
		{},
		{Layer: "addon"},
		{Layer: "os"},
		{Layer: "none"},
		{Names: []string{"hello-universe", "legacy-pack", "odd", "not-there"}},
		{Names: []string{"hello-chart"}, Layer: "addon"},
		{Names: []string{"not-there"}},
	}
	for _, base := range []string{"team", "", "other", "team/sub", "nothing-here"} {
		for _, opts := range options {
			apiLog.reset()
			ociLog.reset()
			viaAPI, err := c.List(t.Context(), mustLocation(t, apiHost+"/"+base), opts)
			if err != nil {
				t.Fatalf("base %q, %+v, through the catalog API: %v", base, opts, err)
			}
			viaOCI, err := c.List(t.Context(), mustLocation(t, ociHost+"/"+base), opts)
			if err != nil {
				t.Fatalf("base %q, %+v, through the OCI API: %v", base, opts, err)
			}
			if !reflect.DeepEqual(viaAPI, viaOCI) {
				t.Errorf("base %q, %+v:\ncatalog API %+v\n    OCI API %+v", base, opts, viaAPI, viaOCI)
			}
			if got := apiLog.matching("", "/"); len(got) != 1 || !strings.Contains(got[0], ociregistry.CatalogAPIPath) {
				t.Errorf("base %q, %+v: the listing through the catalog API sent %v", base, opts, got)
			}
			if len(ociLog.matching("", "/v2/")) == 0 && (base == "team" || len(opts.Names) > 0) {
				t.Errorf("base %q, %+v: the fallback sent no OCI API request", base, opts)
			}
		}
	}
	// The listing has the odd cases in it, and both encodings.
	all, err := c.List(t.Context(), loc, ociregistry.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range all {
		for _, v := range p.Versions {
			got = append(got, p.Name+":"+v.Tag+"="+v.Version+strings.Join(v.Encodings, "+"))
		}
	}
	want := []string{
		"custom-ubuntu-os:1.0.0=1.0.0native+palette",
		"hello-chart:0.1.0=0.1.0native",
		"hello-universe:1.3.1=1.3.1native+palette",
		"hello-universe:1.3.1_build.2=1.3.1+build.2native",
		"hello-universe:v1.12=v1.12native+palette",
		"kubewatch:3.5.0=3.5.0palette",
		"legacy-pack:latest=latestpalette",
		"legacy-pack:2.0.0=2.0.0palette",
		"odd:1.0.0=1.0.0palette",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("listing\n got %q\nwant %q", got, want)
	}
}

// A registry that does not offer the catalog API, refuses it, cannot
// answer it yet, or answers something else at its path is read through
// the OCI API, at once: the catalog API is asked once, without retries.
func TestListCatalogAPIFallback(t *testing.T) {
	reg := packyardRegistry(t)
	c := newClient(t)
	setupHost, _ := proxy(t, reg, 0)
	_ = mustPush(t, c, "../../testdata/packs/kubewatch-3.5.0", mustLocation(t, setupHost+"/team"), "")
	want, err := c.List(t.Context(), mustLocation(t, setupHost+"/team"), ociregistry.ListOptions{})
	if err != nil || len(want) != 1 {
		t.Fatalf("List through the catalog API: %v, %+v", err, want)
	}

	tests := []struct {
		name              string
		status            int
		contentType, body string
	}{
		{"not found", http.StatusNotFound, "text/plain", "404 page not found"},
		{"method not allowed", http.StatusMethodNotAllowed, "", ""},
		{"unauthorized", http.StatusUnauthorized, "application/json", `{"errors":[{"code":"UNAUTHORIZED"}]}`},
		{"forbidden", http.StatusForbidden, "application/json", `{"errors":[{"code":"DENIED"}]}`},
		{"being built", http.StatusServiceUnavailable, "application/json", `{"errors":[{"code":"UNAVAILABLE"}]}`},
		{"server error", http.StatusInternalServerError, "", ""},
		{"a web page", http.StatusOK, "text/html", "<html>hello</html>"},
		{"other JSON", http.StatusOK, "application/json", `{"repositories":[]}`},
		{"broken JSON", http.StatusOK, "application/json", `{"packs":[{"name":`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host, log := withoutCatalogAPI(t, reg, tt.status, tt.contentType, tt.body)
			start := time.Now()
			got, err := c.List(t.Context(), mustLocation(t, host+"/team"), ociregistry.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("the fallback took %v", took)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v\nwant %+v", got, want)
			}
			if api := log.matching("", ociregistry.CatalogAPIPath); len(api) != 1 {
				t.Errorf("catalog API requests %v, want one", api)
			}
			if len(log.matching(http.MethodGet, "/manifests/")) == 0 {
				t.Error("no manifest read through the OCI API")
			}
		})
	}
}

// The catalog API is asked with the client's credentials; without them,
// List reports the catalog unavailable as it does for the OCI API.
func TestListCatalogAPIAuth(t *testing.T) {
	reg := packyardRegistry(t, testregistry.WithHtpasswd(t, "alice", "s3cret"))
	host, log := proxy(t, reg, 0)
	store := credentials.NewMemoryStore()
	if err := store.Put(t.Context(), host, auth.Credential{Username: "alice", Password: "s3cret"}); err != nil {
		t.Fatal(err)
	}
	c, err := ociregistry.New(ociregistry.Options{PlainHTTP: true, Credentials: store})
	if err != nil {
		t.Fatal(err)
	}
	loc := mustLocation(t, host+"/team")
	_ = mustPush(t, c, "../../testdata/packs/kubewatch-3.5.0", loc, packer.FormatNative)
	log.reset()
	got, err := c.List(t.Context(), loc, ociregistry.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != "kubewatch" {
		t.Errorf("alice's listing: %+v", got)
	}
	if v2 := log.matching("", "/v2/"); len(v2) != 0 {
		t.Errorf("alice's listing used the OCI API: %v", v2)
	}

	anonymous := newClient(t)
	if _, err := anonymous.List(t.Context(), loc, ociregistry.ListOptions{}); !errors.Is(err, ociregistry.ErrCatalogUnavailable) {
		t.Errorf("anonymous listing: %v, want ErrCatalogUnavailable", err)
	}
}
