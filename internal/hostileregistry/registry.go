// Package hostileregistry runs an OCI registry in the test process that
// serves exactly what a test puts in it, and lies when the test tells it
// to: wrong bytes for a digest, more bytes than a descriptor says, a huge
// body generated as it is sent, error statuses, connections closed in the
// middle of a body, a wrong Content-Type. It is for the edge cases a real
// registry never produces; everything else is tested against a real
// registry (package testregistry).
//
// The registry is read-only and speaks only what a pull needs: /v2/, tag
// lists, and manifests and blobs by tag or digest, with HEAD and GET.
// Content lives in one store, by digest, shared by every repository and
// by both the manifests and the blobs endpoints, as in a registry's
// storage; tags belong to a repository.
package hostileregistry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// blobMediaType is the Content-Type of every blob response.
const blobMediaType = "application/octet-stream"

// Fault is one lie the registry tells. A request matches a fault when its
// path ends with Path and, if Method is set, it has that method; the first
// matching fault that is not used up decides the answer. The fields that
// change the answer combine: Body and Append replace the content, and
// Chunked, CloseAfter and ContentType change how it is sent.
type Fault struct {
	// Method limits the fault to requests of this method (GET or HEAD);
	// empty means both.
	Method string
	// Path is the end of the request paths the fault applies to, such as
	// "/blobs/sha256:…" or "/packs/evil/manifests/1.0.0".
	Path string
	// Times is how many matching requests, the first ones, the fault
	// applies to; zero means all of them.
	Times int

	// Status, when set, is the status of the answer, with an OCI error
	// body and nothing else.
	Status int
	// Body, when not nil, is sent instead of the content the path names.
	// The Docker-Content-Digest header still names the digest requested.
	Body []byte
	// Append is sent after the content (or Body), and counted in
	// Content-Length.
	Append []byte
	// Generate, when positive, replaces the content by this many bytes,
	// made as they are sent and never held in memory: a '{' followed by
	// spaces, the start of a JSON document that never ends in time.
	Generate int64
	// Chunked sends the body without Content-Length.
	Chunked bool
	// CloseAfter, when positive, closes the connection after this many
	// bytes of the body, Content-Length having announced all of it.
	CloseAfter int64
	// ContentType, when set, is sent instead of the content's media type.
	ContentType string

	used int
}

// Request is a request the registry answered.
type Request struct {
	Method, Path string
	// Status is the status answered; 0 when the connection was closed
	// without one.
	Status int
	// Size is the length of the body the answer announced or would have
	// sent; Sent is how many of its bytes the registry wrote to the
	// connection: a client that stops reading stops the registry, give or
	// take what the connection buffers.
	Size, Sent int64
	// Faulty says a fault decided the answer.
	Faulty bool
	// Range is the request's Range header, if any.
	Range string
}

// Registry is a running hostile registry. Its methods are safe for
// concurrent use.
type Registry struct {
	Server *httptest.Server
	// Host is the registry's host:port, as a reference's registry part.
	Host string

	mu       sync.Mutex
	content  map[digest.Digest]entry
	tags     map[string]map[string]digest.Digest
	faults   []*Fault
	requests []*liveRequest
	ranges   bool
}

type entry struct {
	mediaType string
	data      []byte
}

// liveRequest is a Request whose Sent grows while the body is written.
type liveRequest struct {
	Request
	sent atomic.Int64
}

// New starts a registry that stops when the test ends.
func New(t testing.TB) *Registry {
	t.Helper()
	r := &Registry{content: map[digest.Digest]entry{}, tags: map[string]map[string]digest.Digest{}}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serveHTTP))
	r.Host = strings.TrimPrefix(r.Server.URL, "http://")
	t.Cleanup(r.Server.Close)
	return r
}

// Put stores data under its digest, with the media type its manifest
// responses carry, and returns its descriptor.
func (r *Registry) Put(mediaType string, data []byte) ocispec.Descriptor {
	return r.PutAs(digest.FromBytes(data), mediaType, data)
}

// PutAs stores data under d, whatever data's own digest, so that the
// registry claims d for bytes that are not d's.
func (r *Registry) PutAs(d digest.Digest, mediaType string, data []byte) ocispec.Descriptor {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.content[d] = entry{mediaType: mediaType, data: bytes.Clone(data)}
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))}
}

// Tag makes tag in repo name the content stored under d.
func (r *Registry) Tag(repo, tag string, d digest.Digest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tags[repo] == nil {
		r.tags[repo] = map[string]digest.Digest{}
	}
	r.tags[repo][tag] = d
}

// PutManifest stores m as an OCI image manifest (schema version 2) and
// tags it tag in repo. It returns the manifest's descriptor and bytes.
func (r *Registry) PutManifest(t testing.TB, repo, tag string, m ocispec.Manifest) (ocispec.Descriptor, []byte) {
	t.Helper()
	m.Versioned = specs.Versioned{SchemaVersion: 2}
	m.MediaType = ocispec.MediaTypeImageManifest
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	d := r.Put(ocispec.MediaTypeImageManifest, raw)
	r.Tag(repo, tag, d.Digest)
	return d, raw
}

// ServeRanges makes the registry answer range requests for blobs, and
// announce that it does (Accept-Ranges: bytes), as distribution does.
func (r *Registry) ServeRanges() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ranges = true
}

// Fault adds a lie, after those added before.
func (r *Registry) Fault(f Fault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = append(r.faults, &f)
}

// Requests lists the requests answered so far, in the order they came. A
// body still being written shows the bytes sent until now: stop the
// server (Server.Close waits for every answer) to see the final counts.
func (r *Registry) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Request, len(r.requests))
	for i, l := range r.requests {
		out[i] = l.Request
		out[i].Sent = l.sent.Load()
	}
	return out
}

// Count is how many requests of method had a path ending with path.
func (r *Registry) Count(method, path string) int {
	n := 0
	for _, q := range r.Requests() {
		if q.Method == method && strings.HasSuffix(q.Path, path) {
			n++
		}
	}
	return n
}

// fault finds the fault that decides the answer to req, and uses it up.
func (r *Registry) fault(req *http.Request) *Fault {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.faults {
		if (f.Method == "" || f.Method == req.Method) && strings.HasSuffix(req.URL.Path, f.Path) && (f.Times == 0 || f.used < f.Times) {
			f.used++
			c := *f
			return &c
		}
	}
	return nil
}

func (r *Registry) record(req *http.Request, faulty bool) *liveRequest {
	l := &liveRequest{Request: Request{Method: req.Method, Path: req.URL.Path, Faulty: faulty, Range: req.Header.Get("Range")}}
	r.mu.Lock()
	r.requests = append(r.requests, l)
	r.mu.Unlock()
	return l
}

// answered records the status and body size of the answer to l.
func (r *Registry) answered(l *liveRequest, status int, size int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l.Status, l.Size = status, size
}

// errorBody is an OCI distribution error response.
func errorBody(code, message string) []byte {
	data, _ := json.Marshal(map[string]any{"errors": []map[string]string{{"code": code, "message": message}}})
	return data
}

func (r *Registry) serveHTTP(w http.ResponseWriter, req *http.Request) {
	var f *Fault
	if req.Method == http.MethodGet || req.Method == http.MethodHead {
		f = r.fault(req)
	}
	log := r.record(req, f != nil)
	fail := func(status int, code, message string) {
		body := errorBody(code, message)
		r.answered(log, status, int64(len(body)))
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(status)
		if req.Method != http.MethodHead {
			n, _ := w.Write(body)
			log.sent.Add(int64(n))
		}
	}
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		fail(http.StatusMethodNotAllowed, "UNSUPPORTED", "this registry is read-only")
		return
	}
	if f != nil && f.Status != 0 {
		fail(f.Status, "UNKNOWN", fmt.Sprintf("the registry answers %d on purpose", f.Status))
		return
	}

	p := req.URL.Path
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	var (
		repo, ref string
		kind      string
	)
	switch {
	case p == "/v2/" || p == "/v2":
		r.send(w, req, log, f, "application/json", "", []byte("{}"))
		return
	case strings.HasSuffix(p, "/tags/list"):
		repo, kind = strings.TrimSuffix(strings.TrimPrefix(p, "/v2/"), "/tags/list"), "tags"
	default:
		for _, k := range []string{"/manifests/", "/blobs/"} {
			if i := strings.LastIndex(p, k); i >= 0 && strings.HasPrefix(p, "/v2/") {
				repo, kind, ref = p[len("/v2/"):i], strings.Trim(k, "/"), p[i+len(k):]
				break
			}
		}
	}
	if repo == "" {
		fail(http.StatusNotFound, "NOT_FOUND", "no such endpoint")
		return
	}

	r.mu.Lock()
	tags := r.tags[repo]
	var (
		d  digest.Digest
		e  entry
		ok bool
	)
	if kind == "tags" {
		names := make([]string, 0, len(tags))
		for t := range tags {
			names = append(names, t)
		}
		r.mu.Unlock()
		if len(names) == 0 {
			fail(http.StatusNotFound, "NAME_UNKNOWN", "repository name not known to registry")
			return
		}
		slices.Sort(names)
		data, _ := json.Marshal(map[string]any{"name": repo, "tags": names})
		r.send(w, req, log, f, "application/json", "", data)
		return
	}
	if pd, err := digest.Parse(ref); err == nil {
		d = pd
	} else if kind == "manifests" {
		d = tags[ref]
	}
	e, ok = r.content[d]
	ranges := r.ranges && kind == "blobs"
	r.mu.Unlock()
	switch {
	case !ok && kind == "manifests":
		fail(http.StatusNotFound, "MANIFEST_UNKNOWN", "manifest unknown")
		return
	case !ok:
		fail(http.StatusNotFound, "BLOB_UNKNOWN", "blob unknown")
		return
	}
	mediaType := e.mediaType
	if kind == "blobs" {
		mediaType = blobMediaType
	}
	if ranges {
		w.Header().Set("Accept-Ranges", "bytes")
		if spec := req.Header.Get("Range"); spec != "" {
			first, last, ok := parseRange(spec, int64(len(e.data)))
			if !ok {
				w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", len(e.data)))
				fail(http.StatusRequestedRangeNotSatisfiable, "RANGE_INVALID", "invalid range")
				return
			}
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", first, last, len(e.data)))
			r.sendStatus(w, req, log, f, http.StatusPartialContent, mediaType, d, e.data[first:last+1])
			return
		}
	}
	r.send(w, req, log, f, mediaType, d, e.data)
}

// parseRange reads a Range header of one range, "bytes=FIRST-LAST" or
// "bytes=FIRST-", of content of size bytes.
func parseRange(spec string, size int64) (first, last int64, ok bool) {
	from, to, found := strings.Cut(strings.TrimPrefix(spec, "bytes="), "-")
	if !strings.HasPrefix(spec, "bytes=") || !found {
		return 0, 0, false
	}
	first, err := strconv.ParseInt(from, 10, 64)
	if err != nil || first < 0 || first >= size {
		return 0, 0, false
	}
	last = size - 1
	if to != "" {
		if last, err = strconv.ParseInt(to, 10, 64); err != nil || last < first {
			return 0, 0, false
		}
		last = min(last, size-1)
	}
	return first, last, true
}

// send answers with data, or what f makes of it.
func (r *Registry) send(w http.ResponseWriter, req *http.Request, log *liveRequest, f *Fault, mediaType string, d digest.Digest, data []byte) {
	r.sendStatus(w, req, log, f, http.StatusOK, mediaType, d, data)
}

// sendStatus answers with status and data, or what f makes of them.
func (r *Registry) sendStatus(w http.ResponseWriter, req *http.Request, log *liveRequest, f *Fault, status int, mediaType string, d digest.Digest, data []byte) {
	var body io.Reader = bytes.NewReader(data)
	size := int64(len(data))
	if f != nil {
		if f.Body != nil {
			body, size = bytes.NewReader(f.Body), int64(len(f.Body))
		}
		if f.Generate > 0 {
			body, size = io.LimitReader(&openJSON{}, f.Generate), f.Generate
		}
		if f.Append != nil {
			body, size = io.MultiReader(body, bytes.NewReader(f.Append)), size+int64(len(f.Append))
		}
		if f.ContentType != "" {
			mediaType = f.ContentType
		}
	}
	r.answered(log, status, size)
	h := w.Header()
	h.Set("Content-Type", mediaType)
	if d != "" {
		h.Set("Docker-Content-Digest", d.String())
	}
	if f != nil && f.CloseAfter > 0 {
		r.sendAndClose(w, req, log, status, body, size, f.CloseAfter)
		return
	}
	if f == nil || !f.Chunked {
		h.Set("Content-Length", strconv.FormatInt(size, 10))
	}
	w.WriteHeader(status)
	if req.Method == http.MethodHead {
		return
	}
	_, _ = io.CopyBuffer(countingWriter{w, log}, body, make([]byte, 64<<10))
}

// sendAndClose writes the answer on the bare connection, announcing size
// bytes with status, and closes the connection after limit bytes of the
// body.
func (r *Registry) sendAndClose(w http.ResponseWriter, req *http.Request, log *liveRequest, status int, body io.Reader, size, limit int64) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		// An HTTP/1.1 server, as httptest starts, always can.
		panic("hostileregistry: the server cannot hand over its connections")
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		r.answered(log, 0, size)
		return
	}
	h := w.Header().Clone()
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	h.Set("Connection", "close")
	// Write errors only mean the client has gone; the connection is
	// closed all the same.
	_, _ = fmt.Fprintf(rw, "HTTP/1.1 %d %s\r\n", status, http.StatusText(status))
	_ = h.Write(rw)
	_, _ = rw.WriteString("\r\n")
	if req.Method != http.MethodHead {
		_, _ = io.Copy(countingWriter{rw, log}, io.LimitReader(body, limit))
	}
	_ = rw.Flush()
	_ = conn.Close()
}

// countingWriter counts into its request the bytes written.
type countingWriter struct {
	w   io.Writer
	log *liveRequest
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.log.sent.Add(int64(n))
	if f, ok := c.w.(http.Flusher); ok && err == nil {
		// Bytes the client does not read show as unsent, not as
		// buffered in the server.
		f.Flush()
	}
	return n, err
}

// openJSON reads as '{' followed by spaces, for ever.
type openJSON struct{ started bool }

func (o *openJSON) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n := 0
	if !o.started {
		p[0], n, o.started = '{', 1, true
	}
	for i := n; i < len(p); i++ {
		p[i] = ' '
	}
	return len(p), nil
}
