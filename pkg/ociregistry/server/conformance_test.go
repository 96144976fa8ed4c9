package server

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// These tests check, against packyard's registry, every behaviour the OCI
// distribution spec v1.1 conformance suite (opencontainers/distribution-spec
// conformance/) checks, grouped as it groups them: pull, push (monolithic,
// chunked, streamed, cross-repository mount), content discovery (tags list,
// referrers), content management (deletes), sha512 digests,
// non-distributable layers and error codes.

const (
	mtOCIImage     = ocispec.MediaTypeImageManifest
	mtOCIIndex     = ocispec.MediaTypeImageIndex
	mtOCIConfig    = ocispec.MediaTypeImageConfig
	mtOCILayerGz   = ocispec.MediaTypeImageLayerGzip
	mtOCIEmptyJSON = ocispec.MediaTypeEmptyJSON
	mtArtifact1    = "application/vnd.example.oci.conformance.v1"
	mtArtifact2    = "application/vnd.example.oci.conformance.v2"
	mtOctetStream  = "application/octet-stream"
)

// specErrorCodes are the error codes the spec defines.
var specErrorCodes = []string{
	"BLOB_UNKNOWN", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "DIGEST_INVALID",
	"MANIFEST_BLOB_UNKNOWN", "MANIFEST_INVALID", "MANIFEST_UNKNOWN", "NAME_INVALID",
	"NAME_UNKNOWN", "SIZE_INVALID", "UNAUTHORIZED", "DENIED", "UNSUPPORTED", "TOOMANYREQUESTS",
}

// specClient talks to a registry under test.
type specClient struct {
	t    *testing.T
	base string
}

func newConformance(t *testing.T) *specClient {
	t.Helper()
	r := start(t, ConfigOptions{}, slog.LevelWarn)
	return &specClient{t: t, base: r.URL}
}

// specResponse is an answer of the registry, its body read.
type specResponse struct {
	*http.Response
	body []byte
}

// do sends method to target (a path, or a Location the registry gave),
// with body and headers given as name, value pairs.
func (c *specClient) do(method, target string, body []byte, headers ...string) specResponse {
	c.t.Helper()
	u, err := url.Parse(c.base)
	if err != nil {
		c.t.Fatal(err)
	}
	u, err = u.Parse(target)
	if err != nil {
		c.t.Fatalf("%s: %v", target, err)
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u.String(), rd)
	if err != nil {
		c.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: reading the body: %v", method, target, err)
	}
	return specResponse{Response: resp, body: b}
}

// errorCode is the first error code of an error response's body.
func (r specResponse) errorCode() string {
	var e struct {
		Errors []struct {
			Code string `json:"code"`
		} `json:"errors"`
	}
	if json.Unmarshal(r.body, &e) != nil || len(e.Errors) == 0 {
		return ""
	}
	return e.Errors[0].Code
}

// expect fails the test unless r has status, and error code when one is
// given.
func (c *specClient) expect(what string, r specResponse, status int, code ...string) {
	c.t.Helper()
	if r.StatusCode != status {
		c.t.Errorf("%s: status %d, want %d; body %.300s", what, r.StatusCode, status, r.body)
		return
	}
	if len(code) > 0 && r.errorCode() != code[0] {
		c.t.Errorf("%s: error code %q, want %q; body %.300s", what, r.errorCode(), code[0], r.body)
	}
}

// pushBlob uploads data to repo with a POST and a PUT, and returns its
// digest of algorithm alg.
func (c *specClient) pushBlob(repo string, alg digest.Algorithm, data []byte) digest.Digest {
	c.t.Helper()
	d := alg.FromBytes(data)
	post := c.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil)
	c.expect("POST upload", post, http.StatusAccepted)
	put := c.do(http.MethodPut, withQuery(post.Header.Get("Location"), "digest", d.String()), data,
		"Content-Type", mtOctetStream)
	c.expect("PUT upload "+d.String(), put, http.StatusCreated)
	if got := put.Header.Get("Docker-Content-Digest"); got != d.String() {
		c.t.Errorf("PUT upload: Docker-Content-Digest %q, want %s", got, d)
	}
	return d
}

// pushManifest puts body, of mediaType, to repo's reference ref.
func (c *specClient) pushManifest(repo, ref, mediaType string, body []byte) specResponse {
	c.t.Helper()
	return c.do(http.MethodPut, "/v2/"+repo+"/manifests/"+ref, body, "Content-Type", mediaType)
}

func withQuery(loc, key, value string) string {
	u, err := url.Parse(loc)
	if err != nil {
		return loc
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// testImage is a test image: its blobs, and its manifest.
type testImage struct {
	blobs    map[digest.Digest][]byte
	manifest []byte
	digest   digest.Digest
	desc     ocispec.Descriptor
}

// imageOptions shape a test image.
type imageOptions struct {
	alg          digest.Algorithm // sha256 when empty
	layers       int
	artifactType string
	configType   string // an image config when empty
	layerType    string
	subject      *ocispec.Descriptor
	annotations  map[string]string
	extraLayers  []ocispec.Descriptor // layers whose blobs are not pushed
	dataField    bool
}

func newImage(o imageOptions) testImage {
	if o.alg == "" {
		o.alg = digest.Canonical
	}
	img := testImage{blobs: map[digest.Digest][]byte{}}
	add := func(mt string, b []byte) ocispec.Descriptor {
		d := o.alg.FromBytes(b)
		img.blobs[d] = b
		desc := ocispec.Descriptor{MediaType: mt, Digest: d, Size: int64(len(b))}
		if o.dataField {
			desc.Data = b
		}
		return desc
	}
	var layers []ocispec.Descriptor
	for range o.layers {
		mt := o.layerType
		if mt == "" {
			mt = mtOCILayerGz
		}
		layers = append(layers, add(mt, randomBytes(300)))
	}
	layers = append(layers, o.extraLayers...)
	var config ocispec.Descriptor
	if o.configType == "" || o.configType == mtOCIConfig {
		cfg, _ := json.Marshal(ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
			RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{}}, Author: string(randomBytes(4))})
		config = add(mtOCIConfig, cfg)
	} else {
		config = add(o.configType, []byte("{}"))
	}
	if layers == nil {
		layers = []ocispec.Descriptor{}
	}
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    mtOCIImage,
		ArtifactType: o.artifactType,
		Config:       config,
		Layers:       layers,
		Subject:      o.subject,
		Annotations:  o.annotations,
	}
	img.manifest, _ = json.Marshal(m)
	img.digest = o.alg.FromBytes(img.manifest)
	img.desc = ocispec.Descriptor{MediaType: mtOCIImage, Digest: img.digest, Size: int64(len(img.manifest))}
	return img
}

// newIndex is an index of manifests.
func newIndex(alg digest.Algorithm, artifactType string, subject *ocispec.Descriptor, annotations map[string]string, manifests ...ocispec.Descriptor) ([]byte, ocispec.Descriptor) {
	if alg == "" {
		alg = digest.Canonical
	}
	if manifests == nil {
		manifests = []ocispec.Descriptor{}
	}
	b, _ := json.Marshal(ocispec.Index{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    mtOCIIndex,
		ArtifactType: artifactType,
		Manifests:    manifests,
		Subject:      subject,
		Annotations:  annotations,
	})
	return b, ocispec.Descriptor{MediaType: mtOCIIndex, Digest: alg.FromBytes(b), Size: int64(len(b))}
}

// push uploads img's blobs and manifest, by ref (its digest when empty).
func (c *specClient) push(repo string, img testImage, ref string) specResponse {
	c.t.Helper()
	for _, b := range img.blobs {
		c.pushBlob(repo, img.digest.Algorithm(), b)
	}
	if ref == "" {
		ref = img.digest.String()
	}
	put := c.pushManifest(repo, ref, mtOCIImage, img.manifest)
	c.expect("PUT manifest "+ref, put, http.StatusCreated)
	return put
}

// checkManifest checks GET and HEAD of repo's manifest ref (or of a
// Location the registry gave) answer body.
func (c *specClient) checkManifest(repo, ref string, d digest.Digest, mediaType string, body []byte) {
	c.t.Helper()
	target := ref
	if !strings.HasPrefix(ref, "/") && !strings.Contains(ref, "://") {
		target = "/v2/" + repo + "/manifests/" + ref
	}
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		r := c.do(method, target, nil, "Accept", mtOCIImage, "Accept", mtOCIIndex)
		what := method + " manifest " + ref
		c.expect(what, r, http.StatusOK)
		want := body
		if method == http.MethodHead {
			want = []byte{}
		}
		if !bytes.Equal(r.body, want) {
			c.t.Errorf("%s: body %.200q, want %.200q", what, r.body, want)
		}
		if got := r.Header.Get("Content-Type"); got != mediaType {
			c.t.Errorf("%s: Content-Type %q, want %q", what, got, mediaType)
		}
		if got := r.Header.Get("Content-Length"); got != strconv.Itoa(len(body)) {
			c.t.Errorf("%s: Content-Length %s, want %d", what, got, len(body))
		}
		if got := r.Header.Get("Docker-Content-Digest"); got != d.String() {
			c.t.Errorf("%s: Docker-Content-Digest %q, want %s", what, got, d)
		}
	}
}

// checkBlob checks GET and HEAD of repo's blob d answer data.
func (c *specClient) checkBlob(repo string, d digest.Digest, data []byte) {
	c.t.Helper()
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		r := c.do(method, "/v2/"+repo+"/blobs/"+d.String(), nil)
		what := method + " blob " + d.String()
		c.expect(what, r, http.StatusOK)
		want := data
		if method == http.MethodHead {
			want = []byte{}
		}
		if !bytes.Equal(r.body, want) {
			c.t.Errorf("%s: body of %d bytes, want %d", what, len(r.body), len(want))
		}
		if got := r.Header.Get("Content-Length"); got != strconv.Itoa(len(data)) {
			c.t.Errorf("%s: Content-Length %s, want %d", what, got, len(data))
		}
		if got := r.Header.Get("Docker-Content-Digest"); got != "" && got != d.String() {
			c.t.Errorf("%s: Docker-Content-Digest %q, want %s", what, got, d)
		}
	}
}

func TestConformancePull(t *testing.T) {
	c := newConformance(t)
	const repo = "conformance/pull"
	img := newImage(imageOptions{layers: 2})
	c.push(repo, img, "image")
	c.push(repo, img, "")
	c.checkManifest(repo, "image", img.digest, mtOCIImage, img.manifest)
	c.checkManifest(repo, img.digest.String(), img.digest, mtOCIImage, img.manifest)
	for d, b := range img.blobs {
		c.checkBlob(repo, d, b)
	}

	t.Run("missing", func(t *testing.T) {
		c := &specClient{t: t, base: c.base}
		for _, tc := range []struct {
			name, path string
			status     int
			code       string
		}{
			{"manifest by digest", "/v2/" + repo + "/manifests/" + digest.FromBytes(randomBytes(64)).String(), 404, "MANIFEST_UNKNOWN"},
			{"manifest by tag", "/v2/" + repo + "/manifests/missing-tag", 404, "MANIFEST_UNKNOWN"},
			{"manifest of a tag that is not one", "/v2/" + repo + "/manifests/.INVALID_MANIFEST_NAME", 404, "MANIFEST_UNKNOWN"},
			{"manifest by a digest that is not one", "/v2/" + repo + "/manifests/sha256:baddigeststring", 400, "DIGEST_INVALID"},
			{"blob", "/v2/" + repo + "/blobs/" + digest.FromString("hello world").String(), 404, "BLOB_UNKNOWN"},
		} {
			c.expect(tc.name, c.do(http.MethodGet, tc.path, nil, "Accept", mtOCIImage), tc.status, tc.code)
		}
	})

	t.Run("range requests", func(t *testing.T) {
		c := &specClient{t: t, base: c.base}
		blob := randomBytes(2048)
		d := c.pushBlob(repo, digest.Canonical, blob)
		for _, tc := range []struct {
			rng    string
			status int
			want   []byte
			cr     string
		}{
			{"bytes=500-1499", 206, blob[500:1500], "bytes 500-1499/2048"},
			{"bytes=500-", 206, blob[500:], "bytes 500-2047/2048"},
			{"bytes=-500", 206, blob[1548:], "bytes 1548-2047/2048"},
			{"bytes=2000-5000", 206, blob[2000:], "bytes 2000-2047/2048"},
			{"bytes=500-0", 416, nil, ""},
			{"bytes=5000-10000", 416, nil, ""},
		} {
			r := c.do(http.MethodGet, "/v2/"+repo+"/blobs/"+d.String(), nil, "Range", tc.rng)
			if r.StatusCode != tc.status {
				t.Errorf("%s: status %d, want %d", tc.rng, r.StatusCode, tc.status)
				continue
			}
			if tc.status == 206 && (!bytes.Equal(r.body, tc.want) || r.Header.Get("Content-Range") != tc.cr ||
				r.Header.Get("Content-Length") != strconv.Itoa(len(tc.want))) {
				t.Errorf("%s: %d bytes, Content-Range %q, Content-Length %s; want %d bytes, %q",
					tc.rng, len(r.body), r.Header.Get("Content-Range"), r.Header.Get("Content-Length"), len(tc.want), tc.cr)
			}
		}
	})

	t.Run("ping", func(t *testing.T) {
		c := &specClient{t: t, base: c.base}
		c.expect("GET /v2/", c.do(http.MethodGet, "/v2/", nil), http.StatusOK)
	})
}

// pushMethod uploads data to repo, one of the ways the spec allows, and
// returns the specResponse that completed the upload.
type pushMethod func(c *specClient, repo string, d digest.Digest, data []byte) specResponse

var pushMethods = []struct {
	name string
	push pushMethod
}{
	{"post+put (monolithic)", func(c *specClient, repo string, d digest.Digest, data []byte) specResponse {
		post := c.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil)
		c.expect("POST", post, http.StatusAccepted)
		if post.Header.Get("Location") == "" {
			c.t.Fatal("POST: no Location")
		}
		return c.do(http.MethodPut, withQuery(post.Header.Get("Location"), "digest", d.String()), data,
			"Content-Type", mtOctetStream)
	}},
	{"post only (monolithic, or post+put where unsupported)", func(c *specClient, repo string, d digest.Digest, data []byte) specResponse {
		post := c.do(http.MethodPost, withQuery("/v2/"+repo+"/blobs/uploads/", "digest", d.String()), data,
			"Content-Type", mtOctetStream)
		if post.StatusCode == http.StatusCreated {
			return post
		}
		// The spec lets a registry answer 202 and take the blob in a PUT.
		c.expect("POST with a digest", post, http.StatusAccepted)
		return c.do(http.MethodPut, withQuery(post.Header.Get("Location"), "digest", d.String()), data,
			"Content-Type", mtOctetStream)
	}},
	{"streamed", func(c *specClient, repo string, d digest.Digest, data []byte) specResponse {
		post := c.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil, "Content-Length", "0")
		c.expect("POST", post, http.StatusAccepted)
		patch := c.do(http.MethodPatch, post.Header.Get("Location"), data, "Content-Type", mtOctetStream)
		c.expect("PATCH stream", patch, http.StatusAccepted)
		if want := fmt.Sprintf("0-%d", len(data)-1); patch.Header.Get("Range") != want {
			c.t.Errorf("PATCH stream: Range %q, want %q", patch.Header.Get("Range"), want)
		}
		return c.do(http.MethodPut, withQuery(patch.Header.Get("Location"), "digest", d.String()), nil,
			"Content-Type", mtOctetStream, "Content-Length", "0")
	}},
	{"chunked", func(c *specClient, repo string, d digest.Digest, data []byte) specResponse {
		return pushChunked(c, repo, d, data, false)
	}},
	{"chunked, last chunk in the PUT", func(c *specClient, repo string, d digest.Digest, data []byte) specResponse {
		return pushChunked(c, repo, d, data, true)
	}},
}

// pushChunked uploads data in three chunks, checking the registry refuses
// chunks out of order with 416 and reports the upload's range.
func pushChunked(c *specClient, repo string, d digest.Digest, data []byte, putLast bool) specResponse {
	c.t.Helper()
	post := c.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil, "Content-Length", "0")
	c.expect("POST", post, http.StatusAccepted)
	loc := post.Header.Get("Location")
	size := len(data)/3 + 1
	if m, err := strconv.Atoi(post.Header.Get("OCI-Chunk-Min-Length")); err == nil && m > size {
		size = m
	}
	for start := 0; start < len(data); start += size {
		end := min(start+size, len(data)) - 1
		// A chunk past the upload's end is refused, and the upload goes on.
		if bad := end + 1; bad < len(data) {
			r := c.do(http.MethodPatch, loc, data[bad:], "Content-Type", mtOctetStream,
				"Content-Range", fmt.Sprintf("%d-%d", bad, len(data)-1))
			c.expect("PATCH out of order", r, http.StatusRequestedRangeNotSatisfiable)
			st := c.do(http.MethodGet, loc, nil)
			c.expect("GET upload status", st, http.StatusNoContent)
			wantRange := fmt.Sprintf("0-%d", max(start-1, 0))
			if st.Header.Get("Range") != wantRange || st.Header.Get("Location") == "" {
				c.t.Errorf("upload status: Range %q, Location %q; want %q", st.Header.Get("Range"), st.Header.Get("Location"), wantRange)
			}
			loc = st.Header.Get("Location")
		}
		chunk := data[start : end+1]
		cr := fmt.Sprintf("%d-%d", start, end)
		if putLast && end == len(data)-1 {
			return c.do(http.MethodPut, withQuery(loc, "digest", d.String()), chunk,
				"Content-Type", mtOctetStream, "Content-Range", cr)
		}
		r := c.do(http.MethodPatch, loc, chunk, "Content-Type", mtOctetStream, "Content-Range", cr)
		c.expect("PATCH chunk "+cr, r, http.StatusAccepted)
		if want := fmt.Sprintf("0-%d", end); r.Header.Get("Range") != want {
			c.t.Errorf("PATCH chunk %s: Range %q, want %q", cr, r.Header.Get("Range"), want)
		}
		if start == 0 {
			// The chunk again, at the upload's old location: refused.
			c.expect("PATCH the first chunk again", c.do(http.MethodPatch, loc, chunk, "Content-Type", mtOctetStream, "Content-Range", cr),
				http.StatusRequestedRangeNotSatisfiable)
		}
		loc = r.Header.Get("Location")
	}
	return c.do(http.MethodPut, withQuery(loc, "digest", d.String()), nil, "Content-Type", mtOctetStream, "Content-Length", "0")
}

// testBlobPush checks each upload method with blobs of algorithm alg: the
// blob is created where Location says, with its digest, and the pushes of
// content that does not match the digest are refused.
func testBlobPush(t *testing.T, c *specClient, repo string, alg digest.Algorithm) {
	for _, m := range pushMethods {
		t.Run(m.name, func(t *testing.T) {
			c := &specClient{t: t, base: c.base}
			data := randomBytes(3*1024 - 5)
			d := alg.FromBytes(data)
			r := m.push(c, repo, d, data)
			c.expect("completing the upload", r, http.StatusCreated)
			if got := r.Header.Get("Docker-Content-Digest"); got != d.String() {
				t.Errorf("Docker-Content-Digest %q, want %s", got, d)
			}
			if loc := r.Header.Get("Location"); loc == "" {
				t.Error("no Location")
			} else if g := c.do(http.MethodGet, loc, nil); g.StatusCode != 200 || !bytes.Equal(g.body, data) {
				t.Errorf("GET Location %s: %d, %d bytes", loc, g.StatusCode, len(g.body))
			}
			c.checkBlob(repo, d, data)
			c.expect("DELETE blob", c.do(http.MethodDelete, "/v2/"+repo+"/blobs/"+d.String(), nil), http.StatusAccepted)
			c.expect("HEAD deleted blob", c.do(http.MethodHead, "/v2/"+repo+"/blobs/"+d.String(), nil), http.StatusNotFound)

			if strings.Contains(m.name, "last chunk") {
				return // the bad digest cases of chunked uploads are the chunked case's
			}
			bad := alg.FromBytes(data)
			r = m.push(c, repo, bad, append(slices.Clone(data), "oh no"...))
			c.expect("upload of content that does not match its digest", r, http.StatusBadRequest, "DIGEST_INVALID")
			c.expect("HEAD of the refused blob", c.do(http.MethodHead, "/v2/"+repo+"/blobs/"+bad.String(), nil), http.StatusNotFound)
		})
	}
	for name, data := range map[string][]byte{"empty blob": {}, "empty JSON": []byte("{}")} {
		t.Run(name, func(t *testing.T) {
			c := &specClient{t: t, base: c.base}
			d := c.pushBlob(repo, alg, data)
			c.checkBlob(repo, d, data)
		})
	}
}

func TestConformancePush(t *testing.T) {
	c := newConformance(t)
	const repo, repo2 = "conformance/repo1", "conformance/repo2"

	t.Run("blobs", func(t *testing.T) { testBlobPush(t, &specClient{t: t, base: c.base}, repo, digest.SHA256) })

	t.Run("cancel upload", func(t *testing.T) {
		c := &specClient{t: t, base: c.base}
		post := c.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil)
		c.expect("POST", post, http.StatusAccepted)
		c.expect("DELETE upload", c.do(http.MethodDelete, post.Header.Get("Location"), nil), http.StatusNoContent)
		c.expect("GET cancelled upload", c.do(http.MethodGet, post.Header.Get("Location"), nil), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	})

	t.Run("cross-repository mount", func(t *testing.T) {
		c := &specClient{t: t, base: c.base}
		data := randomBytes(512)
		d := c.pushBlob(repo2, digest.Canonical, data)
		r := c.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/?mount="+d.String()+"&from="+repo2, nil)
		c.expect("mount", r, http.StatusCreated)
		if got, want := r.Header.Get("Location"), "/v2/"+repo+"/blobs/"+d.String(); !strings.HasSuffix(got, want) {
			t.Errorf("mount: Location %q, want %q", got, want)
		}
		c.checkBlob(repo, d, data)
		// A blob the source does not have: an upload session instead.
		missing := digest.FromBytes(randomBytes(64))
		r = c.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/?mount="+missing.String()+"&from="+repo2, nil)
		c.expect("mount of a missing blob", r, http.StatusAccepted)
		if !strings.Contains(r.Header.Get("Location"), "/v2/"+repo+"/blobs/uploads/") {
			t.Errorf("mount of a missing blob: Location %q is not an upload", r.Header.Get("Location"))
		}
		// Without from: packyard does not look for the blob in other
		// repositories (an optional feature): an upload session.
		r = c.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/?mount="+d.String(), nil)
		c.expect("mount without from", r, http.StatusAccepted)
		if r.Header.Get("Location") == "" {
			t.Error("mount without from: no Location")
		}
	})

	t.Run("manifests", func(t *testing.T) {
		c := &specClient{t: t, base: c.base}
		img := newImage(imageOptions{layers: 2})
		for i := range 4 {
			put := c.push(repo, img, fmt.Sprintf("test%d", i))
			if put.Header.Get("Location") == "" {
				t.Error("PUT manifest: no Location")
			}
			if got := put.Header.Get("Docker-Content-Digest"); got != img.digest.String() {
				t.Errorf("PUT manifest: Docker-Content-Digest %q, want %s", got, img.digest)
			}
			c.checkManifest(repo, put.Header.Get("Location"), img.digest, mtOCIImage, img.manifest)
		}
		for _, tc := range []struct {
			name string
			img  testImage
		}{
			{"no layers", newImage(imageOptions{})},
			{"artifact (config media type)", newImage(imageOptions{configType: mtArtifact1, layers: 1, layerType: mtArtifact1})},
			{"artifact (artifactType, empty config)", newImage(imageOptions{artifactType: mtArtifact1, configType: mtOCIEmptyJSON, layers: 1, layerType: mtArtifact1})},
			{"data field", newImage(imageOptions{layers: 1, dataField: true})},
			{"large manifest", newImage(imageOptions{layers: 1, annotations: largeAnnotations()})},
		} {
			c.push(repo, tc.img, "")
			c.checkManifest(repo, tc.img.digest.String(), tc.img.digest, mtOCIImage, tc.img.manifest)
		}

		index, desc := newIndex("", "", nil, nil, img.desc)
		c.expect("PUT index", c.pushManifest(repo, "index", mtOCIIndex, index), http.StatusCreated)
		c.checkManifest(repo, "index", desc.Digest, mtOCIIndex, index)
		nested, ndesc := newIndex("", mtArtifact1, nil, map[string]string{"k": "v"}, desc)
		c.expect("PUT nested index", c.pushManifest(repo, ndesc.Digest.String(), mtOCIIndex, nested), http.StatusCreated)
		c.checkManifest(repo, ndesc.Digest.String(), ndesc.Digest, mtOCIIndex, nested)
		empty, edesc := newIndex("", "", nil, nil)
		c.expect("PUT empty index", c.pushManifest(repo, "empty-index", mtOCIIndex, empty), http.StatusCreated)
		c.checkManifest(repo, "empty-index", edesc.Digest, mtOCIIndex, empty)

		// Fields beyond the spec's are kept.
		var custom map[string]any
		_ = json.Unmarshal(img.manifest, &custom)
		custom["org.example.custom"] = "field"
		cb, _ := json.Marshal(custom)
		c.expect("PUT manifest with a custom field", c.pushManifest(repo, "custom-fields", mtOCIImage, cb), http.StatusCreated)
		c.checkManifest(repo, "custom-fields", digest.FromBytes(cb), mtOCIImage, cb)
	})

	t.Run("subject", func(t *testing.T) {
		c := &specClient{t: t, base: c.base}
		subject := newImage(imageOptions{layers: 1})
		c.push(repo, subject, "subject")
		dangling := ocispec.Descriptor{MediaType: mtOCIImage, Digest: digest.FromString("missing content"), Size: 123}
		for _, tc := range []struct {
			name    string
			subject ocispec.Descriptor
		}{
			{"existing subject", subject.desc},
			{"dangling subject", dangling},
		} {
			ref := newImage(imageOptions{artifactType: mtArtifact1, configType: mtOCIEmptyJSON, layers: 1, layerType: mtArtifact1, subject: &tc.subject})
			for _, tag := range []string{"", "tagged-" + strings.ReplaceAll(tc.name, " ", "-")} {
				put := c.push(repo, ref, tag)
				if got := put.Header.Get("OCI-Subject"); got != tc.subject.Digest.String() {
					t.Errorf("%s, tag %q: OCI-Subject %q, want %s", tc.name, tag, got, tc.subject.Digest)
				}
			}
		}
		idx, _ := newIndex("", mtArtifact1, &subject.desc, nil, subject.desc)
		put := c.pushManifest(repo, digest.FromBytes(idx).String(), mtOCIIndex, idx)
		c.expect("PUT index with a subject", put, http.StatusCreated)
		if got := put.Header.Get("OCI-Subject"); got != subject.digest.String() {
			t.Errorf("index with a subject: OCI-Subject %q, want %s", got, subject.digest)
		}
		plain := c.push(repo, newImage(imageOptions{layers: 1}), "")
		if got := plain.Header.Get("OCI-Subject"); got != "" {
			t.Errorf("a manifest without a subject: OCI-Subject %q", got)
		}
	})

	t.Run("refused manifests", func(t *testing.T) {
		c := &specClient{t: t, base: c.base}
		img := newImage(imageOptions{layers: 2})
		for d, b := range img.blobs {
			if d != img.desc.Digest {
				c.pushBlob(repo, digest.Canonical, b)
				break // one blob of three: the others are missing
			}
		}
		c.expect("a manifest whose blobs are missing", c.pushManifest(repo, "missing-blobs", mtOCIImage, img.manifest),
			http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN")
		c.push(repo, img, "")
		c.expect("a manifest by a digest that is not its", c.pushManifest(repo, img.digest.String(), mtOCIImage, append(slices.Clone(img.manifest), "  "...)),
			http.StatusBadRequest, "DIGEST_INVALID")
		c.expect("a manifest by a digest that is not one", c.pushManifest(repo, "sha256:baddigeststring", mtOCIImage, img.manifest),
			http.StatusBadRequest, "DIGEST_INVALID")
		c.expect("a manifest that does not parse", c.pushManifest(repo, "bad", mtOCIImage, []byte("blablabla")),
			http.StatusBadRequest, "MANIFEST_INVALID")
		c.expect("a manifest of an index of a missing manifest", c.pushManifest(repo, "sparse", mtOCIIndex, mustIndex(ocispec.Descriptor{MediaType: mtOCIImage, Digest: digest.FromBytes(randomBytes(64)), Size: 1024})),
			http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN")
	})
}

func mustIndex(manifests ...ocispec.Descriptor) []byte {
	b, _ := newIndex("", "", nil, nil, manifests...)
	return b
}

func largeAnnotations() map[string]string {
	a := map[string]string{}
	for i := range 300 {
		a[fmt.Sprintf("large-annotation-%d", i)] = strings.Repeat("A", 10000)
	}
	return a
}

func TestConformanceContentDiscovery(t *testing.T) {
	c := newConformance(t)
	const repo = "conformance/discovery"

	t.Run("empty repository", func(t *testing.T) {
		c := &specClient{t: t, base: c.base}
		r := c.do(http.MethodGet, "/v2/"+repo+"/tags/list", nil)
		if r.StatusCode != 404 && r.StatusCode != 200 {
			t.Errorf("tags of an empty repository: %d", r.StatusCode)
		}
		refs := c.referrers(repo, digest.FromBytes(randomBytes(32)), "")
		if len(refs.Manifests) != 0 {
			t.Errorf("referrers in an empty repository: %v", refs.Manifests)
		}
	})

	t.Run("tags list", func(t *testing.T) {
		c := &specClient{t: t, base: c.base}
		img := newImage(imageOptions{layers: 1})
		tags := []string{"test0", "test1", "test2", "test3"}
		for _, tag := range tags {
			c.push(repo, img, tag)
		}
		list := func(query string) ([]string, specResponse) {
			r := c.do(http.MethodGet, "/v2/"+repo+"/tags/list"+query, nil)
			c.expect("tags list "+query, r, http.StatusOK)
			var tl struct {
				Name string   `json:"name"`
				Tags []string `json:"tags"`
			}
			if err := json.Unmarshal(r.body, &tl); err != nil {
				t.Fatalf("tags list %s: %v", query, err)
			}
			if tl.Name != repo {
				t.Errorf("tags list %s: name %q", query, tl.Name)
			}
			return tl.Tags, r
		}
		for _, tc := range []struct {
			query string
			want  []string
			link  bool
		}{
			{"", tags, false},
			{"?n=2", tags[:2], true},
			{"?last=test1", tags[2:], false},
			{"?n=1&last=test1", tags[2:3], true},
			{"?n=10&last=test3", []string{}, false},
		} {
			got, r := list(tc.query)
			if !slices.Equal(got, tc.want) && (len(got) != 0 || len(tc.want) != 0) {
				t.Errorf("tags list %s: %v, want %v", tc.query, got, tc.want)
			}
			if hasLink := r.Header.Get("Link") != ""; hasLink != tc.link {
				t.Errorf("tags list %s: Link %q", tc.query, r.Header.Get("Link"))
			}
		}
	})

	t.Run("referrers", func(t *testing.T) {
		c := &specClient{t: t, base: c.base}
		subject := newImage(imageOptions{layers: 1})
		c.push(repo, subject, "image")
		ann := map[string]string{"org.opencontainers.conformance": "hello conformance test"}
		withAnn := func(k string) map[string]string {
			m := map[string]string{k: string(randomBytes(4))}
			for kk, v := range ann {
				m[kk] = v
			}
			return m
		}
		a1 := newImage(imageOptions{artifactType: mtArtifact1, configType: mtOCIEmptyJSON, layers: 1, layerType: mtArtifact1,
			subject: &subject.desc, annotations: withAnn("org.example.a")})
		a2 := newImage(imageOptions{artifactType: mtArtifact2, configType: mtOCIEmptyJSON, layers: 1, layerType: mtOctetStream,
			subject: &subject.desc, annotations: withAnn("org.example.b")})
		a3 := newImage(imageOptions{configType: mtArtifact2, layers: 1, layerType: mtArtifact2, subject: &subject.desc}) // artifact type from the config
		plain := newImage(imageOptions{subject: &subject.desc, layers: 1})                                               // an image: its config's media type
		c.push(repo, a1, "tagged-artifact1")
		c.push(repo, a2, "tagged-artifact2")
		c.push(repo, a3, "")
		c.push(repo, plain, "")
		idx, idesc := newIndex("", mtArtifact1, &subject.desc, withAnn("org.example.c"), a1.desc)
		c.expect("PUT index with a subject", c.pushManifest(repo, "tagged-index", mtOCIIndex, idx), http.StatusCreated)
		other := newImage(imageOptions{layers: 1, subject: &a1.desc}) // a referrer of a referrer
		c.push(repo, other, "")

		want := []ocispec.Descriptor{
			{MediaType: mtOCIImage, Digest: a1.digest, Size: a1.desc.Size, ArtifactType: mtArtifact1, Annotations: withAnnOf(a1)},
			{MediaType: mtOCIImage, Digest: a2.digest, Size: a2.desc.Size, ArtifactType: mtArtifact2, Annotations: withAnnOf(a2)},
			{MediaType: mtOCIImage, Digest: a3.digest, Size: a3.desc.Size, ArtifactType: mtArtifact2},
			{MediaType: mtOCIImage, Digest: plain.digest, Size: plain.desc.Size, ArtifactType: mtOCIConfig},
			{MediaType: mtOCIIndex, Digest: idesc.Digest, Size: idesc.Size, ArtifactType: mtArtifact1, Annotations: indexAnnotations(idx)},
		}
		for _, tc := range []struct {
			filter string
			want   []ocispec.Descriptor
		}{
			{"", want},
			{mtArtifact1, []ocispec.Descriptor{want[0], want[4]}},
			{mtArtifact2, []ocispec.Descriptor{want[1], want[2]}},
			{mtOCIConfig, []ocispec.Descriptor{want[3]}},
			{"application/vnd.example.none", nil},
		} {
			got := c.referrers(repo, subject.digest, tc.filter)
			sameDescriptors(t, "referrers filtered by "+strconv.Quote(tc.filter), got.Manifests, tc.want)
		}
		sameDescriptors(t, "referrers of a referrer", c.referrers(repo, a1.digest, "").Manifests,
			[]ocispec.Descriptor{{MediaType: mtOCIImage, Digest: other.digest, Size: other.desc.Size, ArtifactType: mtOCIConfig}})

		// A subject that was never pushed has its referrers too.
		missing := ocispec.Descriptor{MediaType: mtOCIImage, Digest: digest.FromString("missing content"), Size: 123}
		dangling := newImage(imageOptions{artifactType: mtArtifact1, configType: mtOCIEmptyJSON, layers: 1, layerType: mtArtifact1, subject: &missing})
		c.push(repo, dangling, "")
		sameDescriptors(t, "referrers of a missing subject", c.referrers(repo, missing.Digest, "").Manifests,
			[]ocispec.Descriptor{{MediaType: mtOCIImage, Digest: dangling.digest, Size: dangling.desc.Size, ArtifactType: mtArtifact1}})

		// A deleted referrer is no longer listed.
		c.expect("DELETE referrer", c.do(http.MethodDelete, "/v2/"+repo+"/manifests/"+a2.digest.String(), nil), http.StatusAccepted)
		sameDescriptors(t, "referrers after a delete", c.referrers(repo, subject.digest, mtArtifact2).Manifests, []ocispec.Descriptor{want[2]})

		for _, tc := range []struct {
			name, path string
			status     int
			code       string
		}{
			{"a digest that is not one", "/v2/" + repo + "/referrers/sha256:baddigeststring", 400, "DIGEST_INVALID"},
			{"an unknown algorithm", "/v2/" + repo + "/referrers/md5:d41d8cd98f00b204e9800998ecf8427e", 400, "DIGEST_INVALID"},
			{"a name that is not one", "/v2/Conformance/UPPER/referrers/" + subject.digest.String(), 400, "NAME_INVALID"},
		} {
			c.expect(tc.name, c.do(http.MethodGet, tc.path, nil), tc.status, tc.code)
		}
	})
}

func withAnnOf(img testImage) map[string]string {
	var m ocispec.Manifest
	_ = json.Unmarshal(img.manifest, &m)
	return m.Annotations
}

func indexAnnotations(b []byte) map[string]string {
	var m ocispec.Index
	_ = json.Unmarshal(b, &m)
	return m.Annotations
}

// referrers lists the referrers of subject in repo, checking the response
// is an OCI image index, and says the filter was applied when there is one.
func (c *specClient) referrers(repo string, subject digest.Digest, artifactType string) ocispec.Index {
	c.t.Helper()
	p := "/v2/" + repo + "/referrers/" + subject.String()
	if artifactType != "" {
		p += "?artifactType=" + url.QueryEscape(artifactType)
	}
	r := c.do(http.MethodGet, p, nil)
	c.expect("GET "+p, r, http.StatusOK)
	if ct := r.Header.Get("Content-Type"); ct != mtOCIIndex {
		c.t.Errorf("GET %s: Content-Type %q", p, ct)
	}
	if got := r.Header.Get("OCI-Filters-Applied"); (artifactType != "") != (got == "artifactType") {
		c.t.Errorf("GET %s: OCI-Filters-Applied %q", p, got)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(r.body, &idx); err != nil {
		c.t.Fatalf("GET %s: %v", p, err)
	}
	if idx.SchemaVersion != 2 || idx.MediaType != mtOCIIndex || !strings.Contains(string(r.body), `"manifests":[`) {
		c.t.Errorf("GET %s: not an OCI image index: %.300s", p, r.body)
	}
	return idx
}

// sameDescriptors fails the test unless got has exactly want's descriptors,
// in any order.
func sameDescriptors(t *testing.T, what string, got, want []ocispec.Descriptor) {
	t.Helper()
	key := func(d ocispec.Descriptor) string {
		b, _ := json.Marshal(d)
		return string(b)
	}
	var g, w []string
	for _, d := range got {
		g = append(g, key(d))
	}
	for _, d := range want {
		w = append(w, key(d))
	}
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Errorf("%s:\n got %v\nwant %v", what, g, w)
	}
}

func TestConformanceContentManagement(t *testing.T) {
	c := newConformance(t)
	const repo = "conformance/management"
	img := newImage(imageOptions{layers: 2})
	c.push(repo, img, "tag-to-delete")
	c.push(repo, img, "tag-to-keep")
	index, idesc := newIndex("", "", nil, nil, img.desc)
	c.expect("PUT index", c.pushManifest(repo, "index", mtOCIIndex, index), http.StatusCreated)
	mpath := "/v2/" + repo + "/manifests/"

	// Deleting a tag deletes the tag only, at once.
	c.expect("DELETE tag", c.do(http.MethodDelete, mpath+"tag-to-delete", nil), http.StatusAccepted)
	c.expect("HEAD deleted tag", c.do(http.MethodHead, mpath+"tag-to-delete", nil, "Accept", mtOCIImage), http.StatusNotFound)
	c.checkManifest(repo, "tag-to-keep", img.digest, mtOCIImage, img.manifest)
	c.expect("DELETE a missing tag", c.do(http.MethodDelete, mpath+"tag-to-delete", nil), http.StatusNotFound, "MANIFEST_UNKNOWN")

	// Deleting a manifest deletes it and its tags, at once.
	c.expect("DELETE index", c.do(http.MethodDelete, mpath+idesc.Digest.String(), nil), http.StatusAccepted)
	c.expect("HEAD deleted index", c.do(http.MethodHead, mpath+idesc.Digest.String(), nil, "Accept", mtOCIIndex), http.StatusNotFound)
	c.expect("HEAD tag of the deleted index", c.do(http.MethodHead, mpath+"index", nil, "Accept", mtOCIIndex), http.StatusNotFound)
	c.expect("DELETE manifest", c.do(http.MethodDelete, mpath+img.digest.String(), nil), http.StatusAccepted)
	c.expect("HEAD deleted manifest", c.do(http.MethodHead, mpath+img.digest.String(), nil, "Accept", mtOCIImage), http.StatusNotFound)
	c.expect("HEAD tag of the deleted manifest", c.do(http.MethodHead, mpath+"tag-to-keep", nil, "Accept", mtOCIImage), http.StatusNotFound)
	c.expect("DELETE a missing manifest", c.do(http.MethodDelete, mpath+img.digest.String(), nil), http.StatusNotFound, "MANIFEST_UNKNOWN")

	// Deleting blobs, at once.
	for d := range img.blobs {
		c.expect("DELETE blob", c.do(http.MethodDelete, "/v2/"+repo+"/blobs/"+d.String(), nil), http.StatusAccepted)
		c.expect("HEAD deleted blob", c.do(http.MethodHead, "/v2/"+repo+"/blobs/"+d.String(), nil), http.StatusNotFound)
		c.expect("DELETE a missing blob", c.do(http.MethodDelete, "/v2/"+repo+"/blobs/"+d.String(), nil), http.StatusNotFound, "BLOB_UNKNOWN")
	}
}

// Digests of another algorithm than sha256: distribution v3 alone answers
// blob requests with the content's sha256 digest and refuses manifests
// pushed by their sha512 digest.
func TestConformanceSHA512(t *testing.T) {
	c := newConformance(t)
	const repo, repo2 = "conformance/sha512", "conformance/sha512-source"

	t.Run("blobs", func(t *testing.T) { testBlobPush(t, &specClient{t: t, base: c.base}, repo, digest.SHA512) })

	t.Run("mount", func(t *testing.T) {
		c := &specClient{t: t, base: c.base}
		data := randomBytes(512)
		d := c.pushBlob(repo2, digest.SHA512, data)
		r := c.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/?mount="+d.String()+"&from="+repo2, nil)
		c.expect("mount", r, http.StatusCreated)
		if got := r.Header.Get("Docker-Content-Digest"); got != d.String() {
			t.Errorf("mount: Docker-Content-Digest %q, want %s", got, d)
		}
		if !strings.HasSuffix(r.Header.Get("Location"), "/blobs/"+d.String()) {
			t.Errorf("mount: Location %q", r.Header.Get("Location"))
		}
		c.checkBlob(repo, d, data)
	})

	t.Run("image and index", func(t *testing.T) {
		c := &specClient{t: t, base: c.base}
		amd := newImage(imageOptions{alg: digest.SHA512, layers: 2})
		arm := newImage(imageOptions{alg: digest.SHA512, layers: 2})
		for _, img := range []testImage{amd, arm} {
			put := c.push(repo, img, "")
			if got := put.Header.Get("Docker-Content-Digest"); got != img.digest.String() {
				t.Errorf("PUT manifest: Docker-Content-Digest %q, want %s", got, img.digest)
			}
			c.checkManifest(repo, put.Header.Get("Location"), img.digest, mtOCIImage, img.manifest)
			c.checkManifest(repo, img.digest.String(), img.digest, mtOCIImage, img.manifest)
			for d, b := range img.blobs {
				c.checkBlob(repo, d, b)
			}
		}
		index, idesc := newIndex(digest.SHA512, "", nil, nil, amd.desc, arm.desc)
		c.expect("PUT index", c.pushManifest(repo, idesc.Digest.String(), mtOCIIndex, index), http.StatusCreated)
		c.checkManifest(repo, idesc.Digest.String(), idesc.Digest, mtOCIIndex, index)
		bad := append(slices.Clone(index), ' ')
		c.expect("PUT by a sha512 digest that is not the manifest's", c.pushManifest(repo, idesc.Digest.String(), mtOCIIndex, bad),
			http.StatusBadRequest, "DIGEST_INVALID")

		// A referrer pushed by its sha512 digest is listed (by its sha256
		// digest: distribution enumerates manifests by the digest they are
		// stored under).
		ref := newImage(imageOptions{alg: digest.SHA512, artifactType: mtArtifact1, configType: mtOCIEmptyJSON, layers: 1, layerType: mtArtifact1, subject: &amd.desc})
		put := c.push(repo, ref, "")
		if got := put.Header.Get("OCI-Subject"); got != amd.digest.String() {
			t.Errorf("PUT referrer: OCI-Subject %q, want %s", got, amd.digest)
		}
		refs := c.referrers(repo, amd.digest, "").Manifests
		if len(refs) != 1 || refs[0].Digest != digest.FromBytes(ref.manifest) || refs[0].ArtifactType != mtArtifact1 {
			t.Errorf("referrers of a sha512 subject: %v", refs)
		}

		for _, d := range []digest.Digest{idesc.Digest, ref.digest, amd.digest, arm.digest} {
			mp := "/v2/" + repo + "/manifests/" + d.String()
			c.expect("DELETE manifest", c.do(http.MethodDelete, mp, nil), http.StatusAccepted)
			c.expect("HEAD deleted manifest", c.do(http.MethodHead, mp, nil, "Accept", mtOCIImage, "Accept", mtOCIIndex), http.StatusNotFound)
		}
		if refs := c.referrers(repo, amd.digest, "").Manifests; len(refs) != 0 {
			t.Errorf("referrers after the referrer's delete: %v", refs)
		}
	})
}

// Non-distributable layers: their blobs are elsewhere, at their URLs; the
// registry accepts the manifest without them. distribution v3 alone refuses
// every URL unless its configuration lists those allowed.
func TestConformanceNonDistributable(t *testing.T) {
	c := newConformance(t)
	const repo = "conformance/nondistributable"
	ext := func(mt string) ocispec.Descriptor {
		d := digest.FromBytes(randomBytes(256))
		return ocispec.Descriptor{MediaType: mt, Digest: d, Size: 123456, URLs: []string{"https://store.example.com/blobs/sha256/" + d.Encoded()}}
	}
	//nolint:staticcheck // deprecated in image-spec 1.1, still in the conformance suite
	img := newImage(imageOptions{layers: 1, extraLayers: []ocispec.Descriptor{
		ext(ocispec.MediaTypeImageLayerNonDistributableGzip), ext(ocispec.MediaTypeImageLayerNonDistributable),
	}})
	for _, ref := range []string{"non-distributable-image", ""} {
		put := c.push(repo, img, ref)
		if got := put.Header.Get("Docker-Content-Digest"); got != img.digest.String() {
			t.Errorf("PUT %q: Docker-Content-Digest %q, want %s", ref, got, img.digest)
		}
		c.checkManifest(repo, put.Header.Get("Location"), img.digest, mtOCIImage, img.manifest)
	}
	c.checkManifest(repo, "non-distributable-image", img.digest, mtOCIImage, img.manifest)
	tags := c.do(http.MethodGet, "/v2/"+repo+"/tags/list", nil)
	if !strings.Contains(string(tags.body), `"non-distributable-image"`) {
		t.Errorf("tags list: %s", tags.body)
	}
	c.expect("DELETE", c.do(http.MethodDelete, "/v2/"+repo+"/manifests/"+img.digest.String(), nil), http.StatusAccepted)
	c.expect("HEAD deleted", c.do(http.MethodHead, "/v2/"+repo+"/manifests/non-distributable-image", nil, "Accept", mtOCIImage), http.StatusNotFound)

	// Its other blobs must be there, and its URLs be http or https.
	missing := newImage(imageOptions{layers: 1, extraLayers: []ocispec.Descriptor{ext(ocispec.MediaTypeImageLayerNonDistributableGzip)}}) //nolint:staticcheck // as above
	c.expect("a manifest whose distributable blobs are missing", c.pushManifest(repo, "missing", mtOCIImage, missing.manifest),
		http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN")
	badURL := ext(ocispec.MediaTypeImageLayerNonDistributableGzip) //nolint:staticcheck // as above
	badURL.URLs = []string{"file:///etc/passwd"}
	bad := newImage(imageOptions{layers: 1, extraLayers: []ocispec.Descriptor{badURL}})
	for _, b := range bad.blobs {
		c.pushBlob(repo, digest.Canonical, b)
	}
	if r := c.pushManifest(repo, "bad-url", mtOCIImage, bad.manifest); r.StatusCode < 400 {
		t.Errorf("a layer URL that is not http or https: %d", r.StatusCode)
	}
}

func TestConformanceErrorCodes(t *testing.T) {
	c := newConformance(t)
	const repo = "conformance/errors"
	img := newImage(imageOptions{layers: 1})
	c.push(repo, img, "tag")
	for _, tc := range []struct {
		name, method, path string
		body               []byte
		headers            []string
		status             int
		code               string
	}{
		{"PUT of a manifest that does not parse by a digest that is not one", http.MethodPut, "/v2/" + repo + "/manifests/sha256:totallywrong", []byte("blablabla"),
			[]string{"Content-Type", mtOCIImage}, 400, "DIGEST_INVALID"},
		{"PUT of a manifest by a reference that is neither tag nor digest", http.MethodPut, "/v2/" + repo + "/manifests/-bad-tag", img.manifest,
			[]string{"Content-Type", mtOCIImage}, 400, "TAG_INVALID"},
		{"DELETE of a missing tag", http.MethodDelete, "/v2/" + repo + "/manifests/no-such-tag", nil, nil, 404, "MANIFEST_UNKNOWN"},
		{"GET of a missing blob", http.MethodGet, "/v2/" + repo + "/blobs/" + digest.FromString("x").String(), nil, nil, 404, "BLOB_UNKNOWN"},
		{"GET of an unknown upload", http.MethodGet, "/v2/" + repo + "/blobs/uploads/00000000-0000-0000-0000-000000000000", nil, nil, 404, "BLOB_UPLOAD_UNKNOWN"},
		{"PUT of an upload without a digest", http.MethodPut, "", nil, nil, 400, "DIGEST_INVALID"},
		{"tags list with an invalid n", http.MethodGet, "/v2/" + repo + "/tags/list?n=-1", nil, nil, 400, "PAGINATION_NUMBER_INVALID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &specClient{t: t, base: c.base}
			p := tc.path
			if p == "" {
				post := c.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil)
				p = post.Header.Get("Location")
			}
			r := c.do(tc.method, p, tc.body, tc.headers...)
			c.expect(tc.name, r, tc.status, tc.code)
			if code := r.errorCode(); !slices.Contains(specErrorCodes, code) && code != "TAG_INVALID" && code != "PAGINATION_NUMBER_INVALID" {
				t.Errorf("error code %q is not one of the spec's", code)
			}
		})
	}
}
