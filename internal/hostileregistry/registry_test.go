package hostileregistry_test

import (
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/packyard/packyard/internal/hostileregistry"
)

// answer is what a request got.
type answer struct {
	status        int
	contentType   string
	digest        string
	contentLength int64
	body          string
	// readErr is the error reading the body ended with, nil for its end.
	readErr error
}

func get(t *testing.T, reg *hostileregistry.Registry, method, path string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, reg.Server.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := reg.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, rerr := io.ReadAll(resp.Body)
	return answer{
		status:        resp.StatusCode,
		contentType:   resp.Header.Get("Content-Type"),
		digest:        resp.Header.Get("Docker-Content-Digest"),
		contentLength: resp.ContentLength,
		body:          string(body),
		readErr:       rerr,
	}
}

// An honest registry: manifests by tag and digest, blobs, tag lists, and
// a 404 for what it does not hold.
func TestServe(t *testing.T) {
	reg := hostileregistry.New(t)
	m := reg.Put(ocispec.MediaTypeImageManifest, []byte(`{"schemaVersion":2}`))
	reg.Tag("team/packs/a", "1.0.0", m.Digest)
	reg.Tag("team/packs/a", "0.9.0", m.Digest)
	b := reg.Put("application/x-whatever", []byte("blob"))
	const tags = `{"name":"team/packs/a","tags":["0.9.0","1.0.0"]}`

	for _, tc := range []struct {
		method, path string
		want         answer
	}{
		{"GET", "/v2/", answer{status: 200, contentType: "application/json", contentLength: 2, body: "{}"}},
		{"GET", "/v2/team/packs/a/manifests/1.0.0", answer{status: 200, contentType: ocispec.MediaTypeImageManifest, digest: m.Digest.String(), contentLength: m.Size, body: `{"schemaVersion":2}`}},
		{"HEAD", "/v2/team/packs/a/manifests/1.0.0", answer{status: 200, contentType: ocispec.MediaTypeImageManifest, digest: m.Digest.String(), contentLength: m.Size}},
		{"GET", "/v2/team/packs/a/manifests/" + m.Digest.String(), answer{status: 200, contentType: ocispec.MediaTypeImageManifest, digest: m.Digest.String(), contentLength: m.Size, body: `{"schemaVersion":2}`}},
		{"GET", "/v2/team/packs/a/blobs/" + b.Digest.String(), answer{status: 200, contentType: "application/octet-stream", digest: b.Digest.String(), contentLength: 4, body: "blob"}},
		{"GET", "/v2/team/packs/a/tags/list", answer{status: 200, contentType: "application/json", contentLength: int64(len(tags)), body: tags}},
	} {
		if got := get(t, reg, tc.method, tc.path); got != tc.want {
			t.Errorf("%s %s: got %+v, want %+v", tc.method, tc.path, got, tc.want)
		}
	}
	for _, path := range []string{
		"/v2/team/packs/a/manifests/2.0.0",
		"/v2/team/packs/b/manifests/1.0.0",
		"/v2/team/packs/a/blobs/" + digest.FromString("other").String(),
		"/v2/team/packs/b/tags/list",
		"/v3/",
	} {
		if got := get(t, reg, "GET", path); got.status != http.StatusNotFound || !strings.Contains(got.body, `"errors"`) {
			t.Errorf("GET %s: %+v, want a 404 with an OCI error body", path, got)
		}
	}
	if got := get(t, reg, "PUT", "/v2/team/packs/a/manifests/2.0.0"); got.status != http.StatusMethodNotAllowed {
		t.Errorf("PUT: status %d, want 405", got.status)
	}
	if n := reg.Count("GET", "/packs/a/manifests/1.0.0"); n != 1 {
		t.Errorf("Count: %d GETs of the tag, want 1", n)
	}
}

// Each fault changes the answer as documented.
func TestFaults(t *testing.T) {
	const path = "/v2/r/blobs/"
	for _, tc := range []struct {
		name  string
		fault hostileregistry.Fault
		check func(t *testing.T, got answer, d ocispec.Descriptor)
	}{
		{name: "status", fault: hostileregistry.Fault{Status: 500}, check: func(t *testing.T, got answer, _ ocispec.Descriptor) {
			if got.status != 500 || !strings.Contains(got.body, `"errors"`) {
				t.Errorf("%+v, want a 500 with an OCI error body", got)
			}
		}},
		{name: "body", fault: hostileregistry.Fault{Body: []byte("other")}, check: func(t *testing.T, got answer, d ocispec.Descriptor) {
			if got.body != "other" || got.contentLength != 5 || got.digest != d.Digest.String() {
				t.Errorf("%+v, want other bytes under the digest asked for", got)
			}
		}},
		{name: "append", fault: hostileregistry.Fault{Append: []byte("+more")}, check: func(t *testing.T, got answer, _ ocispec.Descriptor) {
			if got.body != "content+more" || got.contentLength != 12 {
				t.Errorf("%+v, want the content and more, counted", got)
			}
		}},
		{name: "chunked", fault: hostileregistry.Fault{Chunked: true}, check: func(t *testing.T, got answer, _ ocispec.Descriptor) {
			if got.body != "content" || got.contentLength != -1 {
				t.Errorf("%+v, want the content without a length", got)
			}
		}},
		{name: "content type", fault: hostileregistry.Fault{ContentType: "text/html"}, check: func(t *testing.T, got answer, _ ocispec.Descriptor) {
			if got.contentType != "text/html" || got.body != "content" {
				t.Errorf("%+v, want the content as text/html", got)
			}
		}},
		{name: "close after", fault: hostileregistry.Fault{CloseAfter: 3}, check: func(t *testing.T, got answer, _ ocispec.Descriptor) {
			if got.body != "con" || got.contentLength != 7 || !errors.Is(got.readErr, io.ErrUnexpectedEOF) {
				t.Errorf("%+v, want 3 of 7 bytes, then an unexpected EOF", got)
			}
		}},
		{name: "generate", fault: hostileregistry.Fault{Generate: 1000}, check: func(t *testing.T, got answer, _ ocispec.Descriptor) {
			if got.contentLength != 1000 || got.body != "{"+strings.Repeat(" ", 999) {
				t.Errorf("%+v, want '{' and 999 spaces", got)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := hostileregistry.New(t)
			d := reg.Put("x", []byte("content"))
			f := tc.fault
			f.Path, f.Method, f.Times = "/blobs/"+d.Digest.String(), "GET", 1
			reg.Fault(f)
			if got := get(t, reg, "HEAD", path+d.Digest.String()); got.status != 200 || got.contentLength != 7 {
				t.Errorf("a HEAD, which the fault does not apply to: %+v", got)
			}
			tc.check(t, get(t, reg, "GET", path+d.Digest.String()), d)
			if got := get(t, reg, "GET", path+d.Digest.String()); got.status != 200 || got.body != "content" {
				t.Errorf("after the fault's one time: %+v, want the content", got)
			}
			reqs := reg.Requests()
			if faulty := []bool{reqs[0].Faulty, reqs[1].Faulty, reqs[2].Faulty}; !slices.Equal(faulty, []bool{false, true, false}) {
				t.Errorf("requests %+v, want the second one faulty", reqs)
			}
		})
	}
}

// A registry may claim a digest for bytes that are not its own.
func TestPutAs(t *testing.T) {
	reg := hostileregistry.New(t)
	claimed := digest.FromString("claimed")
	reg.PutAs(claimed, ocispec.MediaTypeImageIndex, []byte("{}"))
	reg.Tag("r", "t", claimed)
	got := get(t, reg, "GET", "/v2/r/manifests/t")
	if got.digest != claimed.String() || got.body != "{}" || got.contentType != ocispec.MediaTypeImageIndex {
		t.Errorf("%+v, want {} claimed as %s", got, claimed)
	}
}

// A generated body is written as the client reads it: a client that stops
// early stops the registry.
func TestGenerateStopsWithTheClient(t *testing.T) {
	reg := hostileregistry.New(t)
	d := reg.Put("x", []byte("content"))
	const size = 1 << 30
	reg.Fault(hostileregistry.Fault{Path: "/blobs/" + d.Digest.String(), Generate: size})
	req, err := http.NewRequestWithContext(t.Context(), "GET", reg.Server.URL+"/v2/r/blobs/"+d.Digest.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := reg.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ContentLength != size {
		t.Errorf("Content-Length %d, want %d", resp.ContentLength, size)
	}
	if _, err := io.CopyN(io.Discard, resp.Body, 1<<20); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	reg.Server.Close()
	reqs := reg.Requests()
	if len(reqs) != 1 || reqs[0].Size != size || reqs[0].Sent < 1<<20 || reqs[0].Sent > 64<<20 {
		t.Errorf("requests %+v, want one that sent between 1 MiB and 64 MiB of its 1 GiB", reqs)
	}
}

func TestServeRanges(t *testing.T) {
	reg := hostileregistry.New(t)
	d := reg.Put("application/octet-stream", []byte("0123456789"))
	path := "/v2/a/blobs/" + d.Digest.String()
	ranged := func(spec string) (int, http.Header, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, reg.Server.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Range", spec)
		resp, err := reg.Server.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Header, string(body)
	}
	// Off by default: the whole blob, and no Accept-Ranges.
	if status, h, body := ranged("bytes=3-"); status != http.StatusOK || body != "0123456789" || h.Get("Accept-Ranges") != "" {
		t.Errorf("without ServeRanges: %d %q, Accept-Ranges %q", status, body, h.Get("Accept-Ranges"))
	}
	reg.ServeRanges()
	for _, tc := range []struct {
		spec, body, contentRange string
		status                   int
	}{
		{"bytes=3-", "3456789", "bytes 3-9/10", http.StatusPartialContent},
		{"bytes=2-4", "234", "bytes 2-4/10", http.StatusPartialContent},
		{"bytes=8-99", "89", "bytes 8-9/10", http.StatusPartialContent},
		{"bytes=10-", "", "bytes */10", http.StatusRequestedRangeNotSatisfiable},
		{"bytes=5-2", "", "bytes */10", http.StatusRequestedRangeNotSatisfiable},
		{"items=1-2", "", "bytes */10", http.StatusRequestedRangeNotSatisfiable},
	} {
		status, h, body := ranged(tc.spec)
		if status != tc.status || h.Get("Content-Range") != tc.contentRange ||
			tc.status == http.StatusPartialContent && body != tc.body {
			t.Errorf("%s: %d %q, Content-Range %q; want %d %q, %q", tc.spec, status, body, h.Get("Content-Range"), tc.status, tc.body, tc.contentRange)
		}
	}
	if a := get(t, reg, http.MethodGet, path); a.status != http.StatusOK || a.body != "0123456789" {
		t.Errorf("a request without Range: %+v", a)
	}
	if rs := reg.Requests(); rs[1].Range != "bytes=3-" || rs[len(rs)-1].Range != "" {
		t.Errorf("the requests' ranges are not recorded: %+v", rs)
	}
}
