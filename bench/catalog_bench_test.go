package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2/registry/remote/credentials"

	"github.com/packyard/packyard/pkg/mediatypes"
	"github.com/packyard/packyard/pkg/ociregistry"
	"github.com/packyard/packyard/pkg/ociregistry/server"
)

// The catalog benchmark's registry: catalogPacks packs of
// catalogVersionsPerPack versions each, 10,000 pack versions; every
// catalogPaletteEvery-th pack has a Palette archive of each version too.
const (
	catalogPacks           = 2000
	catalogVersionsPerPack = 5
	catalogPaletteEvery    = 4
	catalogBase            = "bench"
	// catalogSamples is how many requests one iteration of an api/*
	// benchmark times, and catalogListRounds how many times one iteration
	// of list runs each side, alternating which goes first.
	catalogSamples    = 200
	catalogListRounds = 3
)

var catalogLayers = []string{"os", "k8s", "cni", "csi", "addon", "addon"}

var catalogVersioned = specs.Versioned{SchemaVersion: 2}

// BenchmarkCatalog measures packyard's pack catalog (GET /api/v1/packs)
// on a registry of 10,000 pack versions in filesystem storage, served by
// packyard's server in this process on loopback:
//
//   - build: how long a server starting on that storage takes to build
//     its catalog;
//   - api/*: the latency of catalog requests, p50 and p99 (goal: p99
//     under 50 ms for the whole catalog);
//   - list: ociregistry.Client.List of the whole base through the
//     catalog API against the same List through the OCI API (the
//     endpoint hidden), medians and their ratio (goal: at least 10x).
//
// The storage is seeded once, through the server's HTTP API in this
// process (a blob upload or mount per blob, a PUT per manifest, 32 packs at
// once), not with the CLI.
//
//	go test -run=NONE -bench=BenchmarkCatalog -benchtime=1x -v ./bench
func BenchmarkCatalog(b *testing.B) {
	dir := b.TempDir()
	seeder := startCatalogServer(b, dir)
	start := time.Now()
	seedCatalog(b, seeder.URL)
	b.Logf("seeded %d pack versions (%d packs, %d Palette archives) through the server in %v",
		catalogPacks*catalogVersionsPerPack, catalogPacks, catalogPacks/catalogPaletteEvery*catalogVersionsPerPack,
		time.Since(start).Round(time.Millisecond))
	seeder.close()

	// A fresh server on the seeded storage builds its catalog from it.
	start = time.Now()
	reg := startCatalogServer(b, dir)
	newTook := time.Since(start)
	for {
		resp, err := http.Get(reg.URL + ociregistry.CatalogAPIPath + "?name=none")
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	built := time.Since(start)
	b.Logf("catalog built from storage in %v (New returned after %v)", built.Round(time.Millisecond), newTook.Round(time.Millisecond))

	b.Run("build", func(b *testing.B) {
		b.ReportMetric(built.Seconds(), "build-s")
		b.ReportMetric(newTook.Seconds(), "new-s")
	})

	identity := &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4}}
	gzipped := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	latency := func(name string, client *http.Client, query string, wantVersions int) {
		b.Run(name, func(b *testing.B) {
			u := reg.URL + ociregistry.CatalogAPIPath + "?" + query
			var size int64
			check := func() {
				resp, err := client.Get(u)
				if err != nil {
					b.Fatal(err)
				}
				defer resp.Body.Close()
				var cat server.CatalogResponse
				if err := json.NewDecoder(resp.Body).Decode(&cat); err != nil {
					b.Fatal(err)
				}
				n := 0
				for _, p := range cat.Packs {
					n += len(p.Versions)
				}
				if n != wantVersions {
					b.Fatalf("?%s: %d versions, want %d", query, n, wantVersions)
				}
			}
			check()
			var took []time.Duration
			b.ResetTimer()
			for i := 0; i < b.N*catalogSamples; i++ {
				t0 := time.Now()
				resp, err := client.Get(u)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Fatalf("?%s: %d %v", query, resp.StatusCode, err)
				}
				took = append(took, time.Since(t0))
				size = n
			}
			reportCatalogLatency(b, took)
			b.ReportMetric(float64(size), "body-bytes")
		})
	}
	all := catalogPacks * catalogVersionsPerPack
	osVersions := 0
	for i := range catalogPacks {
		if catalogLayers[i%len(catalogLayers)] == "os" {
			osVersions += catalogVersionsPerPack
		}
	}
	latency("api/all-gzip", gzipped, "base="+catalogBase, all)
	latency("api/all-identity", identity, "base="+catalogBase, all)
	latency("api/layer", identity, "base="+catalogBase+"&layer=os", osVersions)
	latency("api/q", identity, "q=catalog-pack-0042", catalogVersionsPerPack)

	// The first request after a change makes the body anew: the worst case.
	b.Run("api/all-after-push", func(b *testing.B) {
		u := reg.URL + ociregistry.CatalogAPIPath + "?base=" + catalogBase
		pusher := &catalogSeeder{url: reg.URL, http: &http.Client{}}
		ctx := context.Background()
		cfg, err := pusher.blob(ctx, "seed/packs/seed", []byte(`{"name":"changing"}`))
		must(b, err)
		var took []time.Duration
		b.ResetTimer()
		for i := 0; i < b.N*catalogSamples; i++ {
			b.StopTimer()
			if err := pusher.mount(ctx, catalogBase+"/packs/changing", "seed/packs/seed", cfg); err != nil {
				b.Fatal(err)
			}
			if _, err := pusher.manifest(ctx, catalogBase+"/packs/changing", fmt.Sprintf("0.0.%d", i), catalogNativeManifest(cfg, cfg, "changing", fmt.Sprintf("0.0.%d", i), "addon")); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			t0 := time.Now()
			resp, err := gzipped.Get(u)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			took = append(took, time.Since(t0))
		}
		reportCatalogLatency(b, took)
	})

	b.Run("list", func(b *testing.B) {
		apiHost := strings.TrimPrefix(reg.URL, "http://")
		// The same server with the catalog API hidden, as a registry
		// without it: List reads the OCI API.
		hidden := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == ociregistry.CatalogAPIPath {
				http.NotFound(w, r)
				return
			}
			reg.handler.ServeHTTP(w, r)
		}))
		defer hidden.Close()
		ociHost := strings.TrimPrefix(hidden.URL, "http://")
		client, err := ociregistry.New(ociregistry.Options{PlainHTTP: true, Credentials: credentials.NewMemoryStore(), NoCache: true})
		if err != nil {
			b.Fatal(err)
		}
		list := func(host string) time.Duration {
			loc, err := ociregistry.ParseLocation(host + "/" + catalogBase)
			if err != nil {
				b.Fatal(err)
			}
			t0 := time.Now()
			packs, err := client.List(context.Background(), loc, ociregistry.ListOptions{})
			took := time.Since(t0)
			if err != nil {
				b.Fatal(err)
			}
			if len(packs) < catalogPacks {
				b.Fatalf("listed %d packs, want %d", len(packs), catalogPacks)
			}
			return took
		}
		var viaAPI, viaOCI []time.Duration
		for i := 0; i < b.N*catalogListRounds; i++ {
			if i%2 == 0 {
				viaAPI = append(viaAPI, list(apiHost))
				viaOCI = append(viaOCI, list(ociHost))
			} else {
				viaOCI = append(viaOCI, list(ociHost))
				viaAPI = append(viaAPI, list(apiHost))
			}
		}
		a, o := median(viaAPI), median(viaOCI)
		b.ReportMetric(a.Seconds(), "catalog-api-s")
		b.ReportMetric(o.Seconds(), "oci-api-s")
		b.ReportMetric(o.Seconds()/a.Seconds(), "oci/catalog")
		b.Logf("List of %d pack versions: catalog API %v, OCI API %v (medians of %d): %.1fx, goal >= 10x: %s",
			all, a.Round(time.Microsecond), o.Round(time.Millisecond), len(viaAPI), o.Seconds()/a.Seconds(), met(o >= 10*a))
	})
}

// reportCatalogLatency reports the median and 99th percentile of took.
func reportCatalogLatency(b *testing.B, took []time.Duration) {
	b.Helper()
	s := slices.Clone(took)
	slices.Sort(s)
	p := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	b.ReportMetric(float64(p(0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p(0.99).Microseconds())/1000, "p99-ms")
	b.Logf("%d requests: p50 %v, p99 %v, max %v; goal p99 < 50ms: %s", len(s), p(0.50), p(0.99), s[len(s)-1], met(p(0.99) < 50*time.Millisecond))
}

// catalogServer is packyard's registry on filesystem storage, in this
// process, on a loopback port.
type catalogServer struct {
	URL     string
	handler http.Handler
	close   func()
}

func startCatalogServer(b *testing.B, dataDir string) *catalogServer {
	b.Helper()
	cfg, err := server.LoadConfig(server.ConfigOptions{DataDir: dataDir, Addr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	cfg.Log.Level = "error"
	cfg.Log.AccessLog.Disabled = true
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	s := &catalogServer{URL: hs.URL, handler: srv.Handler()}
	var once atomic.Bool
	s.close = func() {
		if once.CompareAndSwap(false, true) {
			hs.Close()
			cancel()
		}
	}
	b.Cleanup(s.close)
	return s
}

// catalogSeeder pushes blobs and manifests with plain HTTP requests.
type catalogSeeder struct {
	url  string
	http *http.Client
}

// do sends a request, reads the whole response and returns its header.
func (c *catalogSeeder) do(ctx context.Context, method, u, contentType string, body []byte, want int) (http.Header, error) {
	if !strings.HasPrefix(u, "http") {
		u = c.url + u
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s: %s %s", method, u, resp.Status, msg)
	}
	return resp.Header, nil
}

// blob uploads data to repo.
func (c *catalogSeeder) blob(ctx context.Context, repo string, data []byte) (ocispec.Descriptor, error) {
	header, err := c.do(ctx, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", "", nil, http.StatusAccepted)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	loc := header.Get("Location")
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	d := digest.FromBytes(data)
	if _, err := c.do(ctx, http.MethodPut, loc+sep+"digest="+d.String(), "application/octet-stream", data, http.StatusCreated); err != nil {
		return ocispec.Descriptor{}, err
	}
	return ocispec.Descriptor{Digest: d, Size: int64(len(data))}, nil
}

// mount mounts the blob d of from into repo.
func (c *catalogSeeder) mount(ctx context.Context, repo, from string, d ocispec.Descriptor) error {
	_, err := c.do(ctx, http.MethodPost, "/v2/"+repo+"/blobs/uploads/?mount="+d.Digest.String()+"&from="+from, "", nil, http.StatusCreated)
	return err
}

func (c *catalogSeeder) manifest(ctx context.Context, repo, tag string, m ocispec.Manifest) (digest.Digest, error) {
	data, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	_, err = c.do(ctx, http.MethodPut, "/v2/"+repo+"/manifests/"+tag, ocispec.MediaTypeImageManifest, data, http.StatusCreated)
	return digest.FromBytes(data), err
}

// catalogNativeManifest is a native pack manifest as packyard builds one, with
// the listing annotations: config pack.json, a pack.json layer (here the
// config's blob) and a values layer.
func catalogNativeManifest(config, values ocispec.Descriptor, name, version, layer string) ocispec.Manifest {
	config.MediaType = mediatypes.PackConfig
	meta := config
	meta.MediaType = mediatypes.PackMetadata
	meta.Annotations = map[string]string{mediatypes.AnnotationTitle: "pack.json"}
	values.MediaType = mediatypes.PackValues
	values.Annotations = map[string]string{mediatypes.AnnotationTitle: "values.yaml"}
	ann := map[string]string{
		mediatypes.AnnotationPackName:        name,
		mediatypes.AnnotationPackDisplayName: "Catalog " + name,
		mediatypes.AnnotationPackVersion:     version,
		mediatypes.AnnotationPackLayer:       layer,
		mediatypes.AnnotationPackCloudTypes:  "aws,azure,vsphere",
	}
	if layer == "addon" {
		ann[mediatypes.AnnotationPackAddonType] = "monitoring"
	}
	return ocispec.Manifest{
		Versioned:    catalogVersioned,
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: mediatypes.ArtifactTypePack,
		Config:       config,
		Layers:       []ocispec.Descriptor{meta, values},
		Annotations:  ann,
	}
}

// seedCatalog pushes the benchmark's packs below catalogBase.
func seedCatalog(b *testing.B, url string) {
	b.Helper()
	ctx := context.Background()
	c := &catalogSeeder{url: url, http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	const seedRepo = "seed/packs/seed"
	values, err := c.blob(ctx, seedRepo, []byte("pack:\n  namespace: catalog\n"))
	must(b, err)
	paletteConfig, err := c.blob(ctx, seedRepo, []byte(mediatypes.PaletteConfigData))
	must(b, err)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	for i := range catalogPacks {
		g.Go(func() error {
			name := fmt.Sprintf("catalog-pack-%04d", i)
			layer := catalogLayers[i%len(catalogLayers)]
			repo := catalogBase + "/packs/" + name
			if err := c.mount(gctx, repo, seedRepo, values); err != nil {
				return err
			}
			palette := catalogBase + "/spectro-packs/archive/" + name
			if i%catalogPaletteEvery == 0 {
				if err := c.mount(gctx, palette, seedRepo, paletteConfig); err != nil {
					return err
				}
			}
			for v := range catalogVersionsPerPack {
				version := fmt.Sprintf("1.%d.0", v)
				packJSON := fmt.Appendf(nil, `{"name":%q,"displayName":"Catalog %s","version":%q,"layer":%q,"cloudTypes":["aws","azure","vsphere"]}`,
					name, name, version, layer)
				config, err := c.blob(gctx, repo, packJSON)
				if err != nil {
					return err
				}
				if _, err := c.manifest(gctx, repo, version, catalogNativeManifest(config, values, name, version, layer)); err != nil {
					return err
				}
				if i%catalogPaletteEvery != 0 {
					continue
				}
				archive, err := c.blob(gctx, palette, catalogGzip(fmt.Sprintf("%s-%s/pack.json\n", name, version)))
				if err != nil {
					return err
				}
				archive.MediaType = mediatypes.PaletteArchive
				archive.Annotations = map[string]string{mediatypes.AnnotationTitle: name + "-" + version + ".tar.gz"}
				cfg := paletteConfig
				cfg.MediaType = mediatypes.PaletteConfig
				if _, err := c.manifest(gctx, palette, version, ocispec.Manifest{
					Versioned: catalogVersioned, MediaType: ocispec.MediaTypeImageManifest,
					Config: cfg, Layers: []ocispec.Descriptor{archive},
				}); err != nil {
					return err
				}
			}
			return nil
		})
	}
	must(b, g.Wait())
}

func catalogGzip(s string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte(s))
	_ = zw.Close()
	return buf.Bytes()
}
