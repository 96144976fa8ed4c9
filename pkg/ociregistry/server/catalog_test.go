package server

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/crypto/bcrypt"

	"github.com/packyard/packyard/pkg/mediatypes"
)

// testRegistry is a packyard server on an httptest server.
type testRegistry struct {
	srv *Server
	URL string
	// user and password, when set, are sent with every request.
	user, password string
}

// startCatalogServer starts a server whose storage is dataDir, or memory
// when it is empty, with packyard's middleware options (YAML, indented for
// the options map).
func startCatalogServer(t *testing.T, dataDir, options string) *testRegistry {
	t.Helper()
	storage := "inmemory: {}"
	if dataDir != "" {
		storage = fmt.Sprintf("filesystem:\n    rootdirectory: %q", dataDir)
	}
	conf := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  %s
  delete:
    enabled: true
http:
  addr: 127.0.0.1:0
  secret: catalog-test
middleware:
  registry:
    - name: packyard
      options:
%s
`, storage, options)
	file := filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(ConfigOptions{File: file})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	t.Cleanup(srv.stopCatalog)
	return &testRegistry{srv: srv, URL: hs.URL}
}

func (r *testRegistry) do(t *testing.T, method, path, contentType string, body []byte) *http.Response {
	t.Helper()
	u := path
	if !strings.HasPrefix(u, "http") {
		u = r.URL + path
	}
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if r.user != "" {
		req.SetBasicAuth(r.user, r.password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func (r *testRegistry) putBlob(t *testing.T, repo, mediaType string, data []byte) ocispec.Descriptor {
	t.Helper()
	resp := r.do(t, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", "", nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("starting an upload to %s: %s", repo, resp.Status)
	}
	loc := resp.Header.Get("Location")
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	d := digest.FromBytes(data)
	resp = r.do(t, http.MethodPut, loc+sep+"digest="+d.String(), "application/octet-stream", data)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("uploading a blob to %s: %s", repo, resp.Status)
	}
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))}
}

func (r *testRegistry) putManifest(t *testing.T, repo, tag string, m ocispec.Manifest) digest.Digest {
	t.Helper()
	m.SchemaVersion, m.MediaType = 2, ocispec.MediaTypeImageManifest
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	resp := r.do(t, http.MethodPut, "/v2/"+repo+"/manifests/"+tag, ocispec.MediaTypeImageManifest, data)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("pushing %s:%s: %s %s", repo, tag, resp.Status, body)
	}
	return digest.FromBytes(data)
}

// testVersion is a pack version's listing metadata.
type testVersion struct {
	name, version, display, layer, addonType, cloudTypes, group, eol string
}

// pushNative pushes a native pack manifest carrying v's annotations to
// BASE/packs/NAME:TAG.
func (r *testRegistry) pushNative(t *testing.T, base, tag string, v testVersion) digest.Digest {
	t.Helper()
	repo := repoPath(base, "packs", v.name)
	packJSON, _ := json.Marshal(map[string]any{"name": v.name, "version": v.version, "displayName": v.display, "layer": v.layer})
	config := r.putBlob(t, repo, mediatypes.PackConfig, packJSON)
	layer := r.putBlob(t, repo, mediatypes.PackMetadata, packJSON)
	layer.Annotations = map[string]string{mediatypes.AnnotationTitle: "pack.json"}
	ann := map[string]string{mediatypes.AnnotationPackName: v.name, mediatypes.AnnotationPackVersion: v.version}
	for k, val := range map[string]string{
		mediatypes.AnnotationPackDisplayName: v.display, mediatypes.AnnotationPackLayer: v.layer,
		mediatypes.AnnotationPackAddonType: v.addonType, mediatypes.AnnotationPackCloudTypes: v.cloudTypes,
		mediatypes.AnnotationPackGroup: v.group, mediatypes.AnnotationPackEOL: v.eol,
	} {
		if val != "" {
			ann[k] = val
		}
	}
	return r.putManifest(t, repo, tag, ocispec.Manifest{
		ArtifactType: mediatypes.ArtifactTypePack, Config: config, Layers: []ocispec.Descriptor{layer}, Annotations: ann,
	})
}

// pushPalette pushes a Palette archive manifest to
// BASE/spectro-packs/archive/NAME:TAG.
func (r *testRegistry) pushPalette(t *testing.T, base, name, tag string) digest.Digest {
	t.Helper()
	repo := repoPath(base, "spectro-packs/archive", name)
	config := r.putBlob(t, repo, mediatypes.PaletteConfig, []byte(mediatypes.PaletteConfigData))
	layer := r.putBlob(t, repo, mediatypes.PaletteArchive, []byte("not really a tar.gz of "+name+" "+tag))
	layer.Annotations = map[string]string{mediatypes.AnnotationTitle: name + "-" + tag + ".tar.gz"}
	return r.putManifest(t, repo, tag, ocispec.Manifest{Config: config, Layers: []ocispec.Descriptor{layer}})
}

func repoPath(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "/")
}

// catalog gets the catalog with the query.
func (r *testRegistry) catalog(t *testing.T, query string) (int, CatalogResponse, string) {
	t.Helper()
	u := CatalogPath
	if query != "" {
		u += "?" + query
	}
	resp := r.do(t, http.MethodGet, u, "", nil)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var cat CatalogResponse
	if resp.StatusCode == http.StatusOK {
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		if err := json.Unmarshal(body, &cat); err != nil {
			t.Fatalf("%s: %v\n%s", u, err, body)
		}
		if cat.Packs == nil {
			t.Errorf("%s: no packs array: %s", u, body)
		}
	}
	return resp.StatusCode, cat, string(body)
}

// summary renders a catalog as BASE/NAME:TAG[encodings] lines.
func summary(cat CatalogResponse) []string {
	var out []string
	for _, p := range cat.Packs {
		for _, v := range p.Versions {
			out = append(out, fmt.Sprintf("%s/%s:%s%v", p.Base, p.Name, v.Tag, v.Encodings))
		}
	}
	return out
}

func TestCatalog(t *testing.T) {
	r := startCatalogServer(t, "", "        allowoverwrite: false")
	hello := testVersion{name: "hello-universe", version: "1.3.1", display: "Hello Universe", layer: "addon", addonType: "app services", cloudTypes: "all"}
	hello131 := r.pushNative(t, "team", "1.3.1", hello)
	hello.version = "1.10.0"
	_ = r.pushNative(t, "team", "1.10.0", hello)
	hello.version = "1.2.0+build.1"
	_ = r.pushNative(t, "team", "1.2.0_build.1", hello)
	helloPalette := r.pushPalette(t, "team", "hello-universe", "1.3.1")
	ubuntu := testVersion{name: "ubuntu", version: "22.04", display: "Ubuntu LTS", layer: "os", cloudTypes: "vsphere,aws", group: "LTS", eol: "2032-04-30"}
	ubuntuDigest := r.pushNative(t, "team", "22.04", ubuntu)
	_ = r.pushPalette(t, "team", "legacy", "2.0.0")
	// A container image in a pack repository is not a pack version.
	img := r.putBlob(t, "team/packs/not-a-pack", ocispec.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux"}`))
	_ = r.putManifest(t, "team/packs/not-a-pack", "1.0.0", ocispec.Manifest{Config: img, Layers: []ocispec.Descriptor{}})
	_ = r.pushNative(t, "other", "1.0.0", testVersion{name: "hello-universe", version: "1.0.0", layer: "addon", cloudTypes: "aws"})
	_ = r.pushNative(t, "", "0.1.0", testVersion{name: "root-pack", version: "0.1.0", layer: "cni", cloudTypes: "all"})
	_ = r.pushNative(t, "team/sub", "1.0.0", testVersion{name: "deep", version: "1.0.0", layer: "csi", cloudTypes: "azure"})

	code, all, body := r.catalog(t, "")
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", CatalogPath, code, body)
	}
	want := []string{
		"team/sub/deep:1.0.0[native]",
		"other/hello-universe:1.0.0[native]",
		"team/hello-universe:1.2.0_build.1[native]",
		"team/hello-universe:1.3.1[native palette]",
		"team/hello-universe:1.10.0[native]",
		"team/legacy:2.0.0[palette]",
		"/root-pack:0.1.0[native]",
		"team/ubuntu:22.04[native]",
	}
	if got := summary(all); !reflect.DeepEqual(got, want) {
		t.Errorf("catalog\n got %q\nwant %q", got, want)
	}
	// Every field a version has.
	wantUbuntu := CatalogVersion{Version: "22.04", Tag: "22.04", Encodings: []string{"native"},
		Digests: map[string]digest.Digest{"native": ubuntuDigest}, DisplayName: "Ubuntu LTS", Layer: "os",
		CloudTypes: []string{"vsphere", "aws"}, Group: "LTS", EOL: "2032-04-30"}
	wantHello := CatalogVersion{Version: "1.3.1", Tag: "1.3.1", Encodings: []string{"native", "palette"},
		Digests: map[string]digest.Digest{"native": hello131, "palette": helloPalette}, DisplayName: "Hello Universe",
		Layer: "addon", AddonType: "app services", CloudTypes: []string{"all"}}
	for _, p := range all.Packs {
		for _, v := range p.Versions {
			switch {
			case p.Name == "ubuntu" && !reflect.DeepEqual(v, wantUbuntu):
				t.Errorf("ubuntu\n got %+v\nwant %+v", v, wantUbuntu)
			case p.Base == "team" && v.Tag == "1.3.1" && !reflect.DeepEqual(v, wantHello):
				t.Errorf("hello-universe 1.3.1\n got %+v\nwant %+v", v, wantHello)
			case v.Tag == "1.2.0_build.1" && v.Version != "1.2.0+build.1":
				t.Errorf("the version of tag %s is %q, want the annotation's", v.Tag, v.Version)
			}
		}
	}

	tests := []struct {
		query string
		want  []string
	}{
		{"base=team", []string{
			"team/hello-universe:1.2.0_build.1[native]", "team/hello-universe:1.3.1[native palette]",
			"team/hello-universe:1.10.0[native]", "team/legacy:2.0.0[palette]", "team/ubuntu:22.04[native]"}},
		{"base=", []string{"/root-pack:0.1.0[native]"}},
		{"base=/team/sub/", []string{"team/sub/deep:1.0.0[native]"}},
		{"prefix=team", []string{
			"team/sub/deep:1.0.0[native]", "team/hello-universe:1.2.0_build.1[native]", "team/hello-universe:1.3.1[native palette]",
			"team/hello-universe:1.10.0[native]", "team/legacy:2.0.0[palette]", "team/ubuntu:22.04[native]"}},
		{"prefix=tea", nil},
		{"name=legacy&name=deep", []string{"team/sub/deep:1.0.0[native]", "team/legacy:2.0.0[palette]"}},
		{"name=legacy,ubuntu&base=team", []string{"team/legacy:2.0.0[palette]", "team/ubuntu:22.04[native]"}},
		{"layer=os", []string{"team/ubuntu:22.04[native]"}},
		// Palette-only versions carry no metadata: a layer filter drops them.
		{"layer=addon&base=team", []string{
			"team/hello-universe:1.2.0_build.1[native]", "team/hello-universe:1.3.1[native palette]", "team/hello-universe:1.10.0[native]"}},
		{"addonType=app+services&name=hello-universe", []string{
			"team/hello-universe:1.2.0_build.1[native]", "team/hello-universe:1.3.1[native palette]", "team/hello-universe:1.10.0[native]"}},
		{"cloudType=aws", []string{"other/hello-universe:1.0.0[native]", "team/ubuntu:22.04[native]"}},
		{"q=UNIVERSE+1.10", []string{"team/hello-universe:1.10.0[native]"}},
		{"q=lts", []string{"team/ubuntu:22.04[native]"}},
		{"q=legacy+2.0", []string{"team/legacy:2.0.0[palette]"}},
		{"q=nothing-like-it", nil},
	}
	for _, tt := range tests {
		code, cat, body := r.catalog(t, tt.query)
		if code != http.StatusOK {
			t.Errorf("?%s: %d %s", tt.query, code, body)
			continue
		}
		if got := summary(cat); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("?%s\n got %q\nwant %q", tt.query, got, tt.want)
		}
	}
	for _, q := range []string{"layers=os", "layer=os&layer=cni", "q=a&q=b"} {
		if code, _, body := r.catalog(t, q); code != http.StatusBadRequest || !strings.Contains(body, "BAD_FILTER") {
			t.Errorf("?%s: %d %s, want 400 BAD_FILTER", q, code, body)
		}
	}
}

// The catalog follows this server's pushes and deletes at once.
func TestCatalogFollowsChanges(t *testing.T) {
	r := startCatalogServer(t, "", "        allowoverwrite: true")
	if _, cat, _ := r.catalog(t, ""); len(cat.Packs) != 0 {
		t.Fatalf("an empty registry's catalog: %+v", cat)
	}
	v := testVersion{name: "kubewatch", version: "3.5.0", layer: "addon"}
	d350 := r.pushNative(t, "team", "3.5.0", v)
	check := func(want ...string) {
		t.Helper()
		_, cat, _ := r.catalog(t, "")
		if got := summary(cat); !reflect.DeepEqual(got, want) {
			t.Errorf("catalog\n got %q\nwant %q", got, want)
		}
	}
	check("team/kubewatch:3.5.0[native]")
	v.version = "3.6.0"
	d360 := r.pushNative(t, "team", "3.6.0", v)
	_ = r.pushPalette(t, "team", "kubewatch", "3.6.0")
	check("team/kubewatch:3.5.0[native]", "team/kubewatch:3.6.0[native palette]")

	// Overwriting a version (allowed here) moves it.
	v.display = "KubeWatch"
	moved := r.pushNative(t, "team", "3.6.0", v)
	_, cat, _ := r.catalog(t, "")
	if got := cat.Packs[0].Versions[1]; got.Digests["native"] != moved || got.DisplayName != "KubeWatch" || moved == d360 {
		t.Errorf("after overwriting 3.6.0: %+v, want digest %s", got, moved)
	}

	// Deleting a manifest removes its version; the last one, the pack.
	for _, del := range []struct {
		repo string
		dgst digest.Digest
	}{{"team/packs/kubewatch", d350}} {
		resp := r.do(t, http.MethodDelete, "/v2/"+del.repo+"/manifests/"+del.dgst.String(), "", nil)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("deleting %s@%s: %s", del.repo, del.dgst, resp.Status)
		}
	}
	check("team/kubewatch:3.6.0[native palette]")
	resp := r.do(t, http.MethodDelete, "/v2/team/packs/kubewatch/manifests/"+moved.String(), "", nil)
	resp.Body.Close()
	check("team/kubewatch:3.6.0[palette]")
	resp = r.do(t, http.MethodDelete, "/v2/team/spectro-packs/archive/kubewatch/manifests/3.6.0", "", nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("deleting the tag 3.6.0: %s", resp.Status)
	}
	check()
}

// A replica sees what another wrote to the storage they share within a
// refresh, and reads only the manifests it had not read.
func TestCatalogOtherReplica(t *testing.T) {
	dir := t.TempDir()
	a := startCatalogServer(t, dir, "        catalogrefresh: 50ms\n        allowoverwrite: true")
	v := testVersion{name: "shared", version: "1.0.0", layer: "addon"}
	d100 := a.pushNative(t, "team", "1.0.0", v)
	b := startCatalogServer(t, dir, "        catalogrefresh: 50ms")
	if _, cat, _ := b.catalog(t, ""); !reflect.DeepEqual(summary(cat), []string{"team/shared:1.0.0[native]"}) {
		t.Fatalf("replica b at start: %q", summary(cat))
	}
	cb := b.srv.catalog
	cb.mu.Lock()
	first := cb.meta[d100]
	cb.mu.Unlock()
	if first == nil || first.native == nil {
		t.Fatalf("replica b did not keep the manifest %s", d100)
	}

	v.version = "1.1.0"
	_ = a.pushNative(t, "team", "1.1.0", v)
	_ = a.pushPalette(t, "other", "legacy", "2.0.0")
	want := []string{"other/legacy:2.0.0[palette]", "team/shared:1.0.0[native]", "team/shared:1.1.0[native]"}
	waitFor(t, func() bool {
		_, cat, _ := b.catalog(t, "")
		return reflect.DeepEqual(summary(cat), want)
	}, "replica b to see a's pushes")
	cb.mu.Lock()
	again := cb.meta[d100]
	cb.mu.Unlock()
	if again != first {
		t.Error("a refresh read again a manifest whose digest did not change")
	}

	// A repository removed from storage leaves the other replica's
	// catalog too.
	resp := a.do(t, http.MethodDelete, "/v2/other/spectro-packs/archive/legacy/manifests/2.0.0", "", nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("deleting other/spectro-packs/archive/legacy:2.0.0: %s", resp.Status)
	}
	waitFor(t, func() bool {
		_, cat, _ := b.catalog(t, "base=other")
		return len(cat.Packs) == 0
	}, "replica b to see a's delete")
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The catalog is authorized as distribution's _catalog is.
func TestCatalogAuth(t *testing.T) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	file := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(file, []byte("alice:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("REGISTRY_AUTH", "htpasswd")
	t.Setenv("REGISTRY_AUTH_HTPASSWD_REALM", "packyard")
	t.Setenv("REGISTRY_AUTH_HTPASSWD_PATH", file)
	r := startCatalogServer(t, "", "        allowoverwrite: false")
	resp := r.do(t, http.MethodGet, CatalogPath, "", nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("anonymous catalog: %s, challenge %q; want 401 with a Basic challenge", resp.Status, resp.Header.Get("WWW-Authenticate"))
	}
	r.user, r.password = "alice", "s3cret"
	_ = r.pushNative(t, "team", "1.0.0", testVersion{name: "private", version: "1.0.0"})
	if code, cat, body := r.catalog(t, ""); code != http.StatusOK || len(cat.Packs) != 1 {
		t.Errorf("alice's catalog: %d %s", code, body)
	}
}

// Until its first build is done the catalog says so, and when to retry.
func TestCatalogNotReady(t *testing.T) {
	c := newCatalog(&Server{logger: slog.New(slog.DiscardHandler)})
	w := httptest.NewRecorder()
	c.serve(w, httptest.NewRequest(http.MethodGet, CatalogPath, nil))
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), "UNAVAILABLE") {
		t.Errorf("before the first build: %d, Retry-After %q, %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	c.publish(true)
	w = httptest.NewRecorder()
	c.serve(w, httptest.NewRequest(http.MethodGet, CatalogPath, nil))
	if w.Code != http.StatusOK || strings.TrimSpace(w.Body.String()) != `{"packs":[]}` {
		t.Errorf("after the first build: %d %s", w.Code, w.Body)
	}
}

// Large bodies go gzip'd to clients that accept it, and are the same. The
// first request after a change is answered at once, without compression,
// while the compressed body is made.
func TestCatalogGzip(t *testing.T) {
	r := startCatalogServer(t, "", "        allowoverwrite: false")
	display := strings.Repeat("Many versions ", 50)
	for i := range 16 {
		v := fmt.Sprintf("1.%d.0", i)
		_ = r.pushNative(t, "team", v, testVersion{name: "many", version: v, display: display, layer: "addon", cloudTypes: "all"})
	}
	get := func() (string, CatalogResponse) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, r.URL+CatalogPath, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body io.Reader = resp.Body
		enc := resp.Header.Get("Content-Encoding")
		if enc == "gzip" {
			zr, err := gzip.NewReader(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			body = zr
		}
		var cat CatalogResponse
		if err := json.NewDecoder(body).Decode(&cat); err != nil {
			t.Fatal(err)
		}
		return enc, cat
	}
	enc, plain := get()
	if enc != "" {
		t.Errorf("the first request after a change: Content-Encoding %q, want none", enc)
	}
	if len(plain.Packs) != 1 || len(plain.Packs[0].Versions) != 16 {
		t.Fatalf("the catalog is not the 16 versions: %+v", plain)
	}
	var zipped CatalogResponse
	waitFor(t, func() bool {
		enc, zipped = get()
		return enc == "gzip"
	}, "a gzip'd catalog")
	if !reflect.DeepEqual(zipped, plain) {
		t.Error("the gzip'd catalog differs")
	}
}

// Once changes pause, the bodies served before them are made anew.
func TestCatalogWarm(t *testing.T) {
	c := newCatalog(&Server{logger: slog.New(slog.DiscardHandler)})
	c.publish(true)
	f, err := parseCatalogFilter(url.Values{"layer": {"os"}})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.snap.Load().cachedBody(f, true)
	c.mu.Lock()
	c.dirty = true
	c.mu.Unlock()
	c.publish(false)
	c.warm()
	for _, gz := range []bool{false, true} {
		if b := c.snap.Load().entry(f, gz); !b.ready.Load() {
			t.Errorf("the body (gzip %v) asked for before the change was not made after it", gz)
		}
	}
}

func TestPackRepository(t *testing.T) {
	tests := []struct {
		repo, name, base, enc string
	}{
		{"packs/a", "a", "", mediatypes.EncodingNative},
		{"team/packs/a", "a", "team", mediatypes.EncodingNative},
		{"x/y/packs/a", "a", "x/y", mediatypes.EncodingNative},
		{"spectro-packs/archive/a", "a", "", mediatypes.EncodingPalette},
		{"team/spectro-packs/archive/a", "a", "team", mediatypes.EncodingPalette},
		{"spectro-packs/archive/packs/a", "a", "spectro-packs/archive", mediatypes.EncodingNative},
		{"team/mypacks/a", "", "", ""},
		{"team/packs", "", "", ""},
		{"spectro-packs/archive", "", "", ""},
		{"archive/a", "", "", ""},
		{"a", "", "", ""},
	}
	for _, tt := range tests {
		key, enc, ok := packRepository(tt.repo)
		if ok != (tt.enc != "") || key.name != tt.name || key.base != tt.base || enc != tt.enc {
			t.Errorf("packRepository(%q) = %+v, %q, %v", tt.repo, key, enc, ok)
		}
		if ok && key.repository(enc) != tt.repo {
			t.Errorf("%+v.repository(%s) = %q, want %q", key, enc, key.repository(enc), tt.repo)
		}
	}
}

func TestParseCatalogFilterKey(t *testing.T) {
	a, err := parseCatalogFilter(url.Values{"name": {"b,a"}, "layer": {"os"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := parseCatalogFilter(url.Values{"name": {"a", "b"}, "layer": {"os"}})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := parseCatalogFilter(url.Values{"name": {"a", "b"}, "layer": {"os"}, "base": {""}})
	if a.key() != b.key() || a.key() == c.key() {
		t.Errorf("keys: %q %q %q", a.key(), b.key(), c.key())
	}
	for _, q := range []url.Values{{"layers": {"os"}}, {"layer": {"os", "cni"}}} {
		if _, err := parseCatalogFilter(q); !errors.Is(err, errBadFilter) {
			t.Errorf("parseCatalogFilter(%v): %v, want errBadFilter", q, err)
		}
	}
}
