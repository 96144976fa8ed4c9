package server

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"

	"github.com/distribution/distribution/v3/registry/api/errcode"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// This file holds what packyard adds to distribution's API so that the
// registry conforms to the OCI distribution spec v1.1 where distribution
// v3 does not:
//
//   - digests of other algorithms than sha256 (sha512): distribution
//     stores content under its sha256 digest and links the other digest to
//     it, but answers with the sha256 digest, and refuses a manifest pushed
//     by its sha512 digest;
//   - a manifest reference that is neither a tag nor a digest is a 400
//     (distribution's router answers 404 without an error code);
//   - manifests with non-distributable layers, whose blobs are elsewhere
//     (the layer's urls): distribution refuses every such URL unless its
//     configuration lists allowed URLs.

// maxManifestBytes is the largest manifest packyard reads, as distribution.
const maxManifestBytes = 4 << 20

// v2Path is a distribution API path, /v2/NAME/KIND/REF, split.
type v2Path struct {
	name string
	kind string // "manifests", "blobs", "uploads" (blobs/uploads/)
	ref  string // a tag or digest, a digest, an upload id (may be empty)
}

// parseV2Path splits p, a /v2/NAME/manifests/REF, /v2/NAME/blobs/DIGEST or
// /v2/NAME/blobs/uploads/[ID] path. It does not check the name or the
// reference.
func parseV2Path(p string) (v2Path, bool) {
	rest, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		return v2Path{}, false
	}
	if i := strings.LastIndex(rest, "/blobs/uploads/"); i > 0 {
		id := rest[i+len("/blobs/uploads/"):]
		if strings.Contains(id, "/") {
			return v2Path{}, false
		}
		return v2Path{name: rest[:i], kind: "uploads", ref: id}, true
	}
	for _, kind := range []string{"manifests", "blobs"} {
		i := strings.LastIndex(rest, "/"+kind+"/")
		if i <= 0 {
			continue
		}
		ref := rest[i+len(kind)+2:]
		if ref == "" || strings.Contains(ref, "/") {
			return v2Path{}, false
		}
		return v2Path{name: rest[:i], kind: kind, ref: ref}, true
	}
	return v2Path{}, false
}

// anchoredTag matches a whole tag.
var anchoredTag = regexp.MustCompile(`^` + reference.TagRegexp.String() + `$`)

// serveSpec serves r where distribution would not conform to the spec, and
// says whether it did; where it did not, the caller serves r as usual.
func (s *Server) serveSpec(w http.ResponseWriter, r *http.Request, app http.Handler) bool {
	p, ok := parseV2Path(r.URL.Path)
	if !ok {
		return false
	}
	switch p.kind {
	case "manifests":
		return s.specManifest(w, r, app, p)
	case "blobs":
		d, err := digest.Parse(p.ref)
		if err != nil || d.Algorithm() == digest.Canonical {
			return false
		}
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			// distribution serves the content it links d to, with that
			// content's sha256 digest: answer with d.
			app.ServeHTTP(digestWriter(w, d, ""), r)
			return true
		}
	case "uploads":
		q := r.URL.Query()
		switch {
		case r.Method == http.MethodPut && q.Get("digest") != "":
			d, err := digest.Parse(q.Get("digest"))
			if err != nil || d.Algorithm() == digest.Canonical {
				return false
			}
			app.ServeHTTP(digestWriter(w, d, blobURL(p.name, d)), r)
			return true
		case r.Method == http.MethodPost && q.Get("mount") != "" && q.Get("from") != "":
			d, err := digest.Parse(q.Get("mount"))
			if err != nil || d.Algorithm() == digest.Canonical {
				return false
			}
			return s.mountAlias(w, r, app, p.name, d)
		}
	}
	return false
}

// specManifest serves the manifest requests distribution does not serve as
// the spec says.
func (s *Server) specManifest(w http.ResponseWriter, r *http.Request, app http.Handler, p v2Path) bool {
	if strings.Contains(p.ref, ":") {
		d, err := digest.Parse(p.ref)
		if err != nil {
			_ = errcode.ServeJSON(w, errcode.ErrorCodeDigestInvalid.WithDetail(fmt.Sprintf("%q: %v", p.ref, err)))
			return true
		}
		if d.Algorithm() != digest.Canonical {
			switch r.Method {
			case http.MethodPut:
				s.putAliasManifest(w, r, app, p.name, d)
				return true
			case http.MethodDelete:
				s.deleteAliasManifest(w, r, app, p.name, d)
				return true
			}
			return false
		}
	} else if !anchoredTag.MatchString(p.ref) {
		if r.Method == http.MethodPut {
			_ = errcode.ServeJSON(w, errcode.ErrorCodeTagInvalid.WithDetail(fmt.Sprintf("%q is neither a tag nor a digest", p.ref)))
		} else {
			_ = errcode.ServeJSON(w, errcode.ErrorCodeManifestUnknown.WithDetail(fmt.Sprintf("%q is neither a tag nor a digest", p.ref)))
		}
		return true
	}
	return false
}

// putAliasManifest stores a manifest pushed by d, a digest of another
// algorithm than sha256: distribution stores it by its sha256 digest, as
// any manifest, and packyard links d to it, as distribution does for blobs.
func (s *Server) putAliasManifest(w http.ResponseWriter, r *http.Request, app http.Handler, name string, d digest.Digest) {
	body, ok := readManifestBody(w, r)
	if !ok {
		return
	}
	if d.Algorithm().FromBytes(body) != d {
		_ = errcode.ServeJSON(w, errcode.ErrorCodeDigestInvalid.WithDetail(fmt.Sprintf("the manifest's %s digest is not %s", d.Algorithm(), d)))
		return
	}
	canonical := digest.FromBytes(body)
	rec := newRecorder()
	withState(app, rec, subrequest(r, http.MethodPut, "/v2/"+name+"/manifests/"+canonical.String(), body))
	if rec.status == http.StatusCreated {
		if err := s.driver.PutContent(r.Context(), revisionLinkPath(name, d), []byte(canonical.String())); err != nil {
			_ = errcode.ServeJSON(w, errcode.ErrorCodeUnknown.WithDetail(fmt.Sprintf("linking manifest %s to %s: %v", d, canonical, err)))
			return
		}
		rec.header.Set("Location", manifestURL(name, d))
		rec.header.Set("Docker-Content-Digest", d.String())
	}
	rec.replay(w)
}

// deleteAliasManifest deletes the manifest d, a digest of another algorithm
// than sha256, and the manifest it is linked to: one content.
func (s *Server) deleteAliasManifest(w http.ResponseWriter, r *http.Request, app http.Handler, name string, d digest.Digest) {
	target, _ := s.driver.GetContent(r.Context(), revisionLinkPath(name, d))
	rec := newRecorder()
	withState(app, rec, r)
	if rec.status == http.StatusAccepted {
		if canonical, err := digest.Parse(string(target)); err == nil && canonical != d {
			withState(app, newRecorder(), subrequest(r, http.MethodDelete, "/v2/"+name+"/manifests/"+canonical.String(), nil))
		}
	}
	rec.replay(w)
}

// mountAlias mounts the blob d, a digest of another algorithm than sha256,
// from another repository. distribution links d, as the source repository
// does, but to d itself, where there is no content: packyard links d, and
// the content's sha256 digest, to the content, as an upload does.
// A source that is not a repository name is left to distribution: false.
func (s *Server) mountAlias(w http.ResponseWriter, r *http.Request, app http.Handler, name string, d digest.Digest) bool {
	ctx := r.Context()
	var canonical digest.Digest
	from := r.URL.Query().Get("from")
	if _, err := reference.WithName(from); err != nil {
		return false
	}
	if b, err := s.driver.GetContent(ctx, layerLinkPath(from, d)); err == nil {
		canonical, _ = digest.Parse(string(b))
	}
	rec := newRecorder()
	app.ServeHTTP(rec, r)
	if rec.status == http.StatusCreated && canonical != "" && canonical != d {
		for _, alias := range []digest.Digest{d, canonical} {
			if err := s.driver.PutContent(ctx, layerLinkPath(name, alias), []byte(canonical.String())); err != nil {
				_ = errcode.ServeJSON(w, errcode.ErrorCodeUnknown.WithDetail(fmt.Sprintf("linking blob %s to %s: %v", alias, canonical, err)))
				return true
			}
		}
	}
	if rec.status == http.StatusCreated {
		rec.header.Set("Location", blobURL(name, d))
		rec.header.Set("Docker-Content-Digest", d.String())
	}
	rec.replay(w)
	return true
}

// readManifestBody reads r's body, a manifest; where it cannot, it has
// answered r.
func readManifestBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxManifestBytes+1))
	if err != nil {
		_ = errcode.ServeJSON(w, errcode.ErrorCodeManifestInvalid.WithDetail(fmt.Sprintf("reading the manifest: %v", err)))
		return nil, false
	}
	if len(body) > maxManifestBytes {
		_ = errcode.ServeJSON(w, errcode.ErrorCodeManifestInvalid.WithDetail(fmt.Sprintf("the manifest is larger than %d bytes", maxManifestBytes)))
		return nil, false
	}
	return body, true
}

// Distribution's storage layout (registry/storage/paths.go), for the links
// packyard adds.
const storageRoot = "/docker/registry/v2"

func revisionLinkPath(name string, d digest.Digest) string {
	return path.Join(storageRoot, "repositories", name, "_manifests", "revisions", d.Algorithm().String(), d.Encoded(), "link")
}

func layerLinkPath(name string, d digest.Digest) string {
	return path.Join(storageRoot, "repositories", name, "_layers", d.Algorithm().String(), d.Encoded(), "link")
}

func manifestURL(name string, d digest.Digest) string {
	return "/v2/" + name + "/manifests/" + d.String()
}

func blobURL(name string, d digest.Digest) string {
	return "/v2/" + name + "/blobs/" + d.String()
}

// subrequest is r, as another request to distribution: method on p, with
// body. It keeps r's context and headers (its credentials).
func subrequest(r *http.Request, method, p string, body []byte) *http.Request {
	r2 := r.Clone(r.Context())
	r2.Method = method
	r2.URL = &url.URL{Path: p}
	r2.RequestURI = p
	r2.Body = http.NoBody
	r2.ContentLength = 0
	r2.Header.Del("Content-Length")
	if body != nil {
		r2.Body = io.NopCloser(bytes.NewReader(body))
		r2.ContentLength = int64(len(body))
		r2.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	return r2
}

// recorder keeps a response of distribution's, for packyard to amend.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: http.Header{}} }

func (rec *recorder) Header() http.Header { return rec.header }

func (rec *recorder) WriteHeader(code int) {
	if rec.status == 0 {
		rec.status = code
	}
}

func (rec *recorder) Write(p []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return rec.body.Write(p)
}

// replay writes the recorded response to w.
func (rec *recorder) replay(w http.ResponseWriter) {
	for k, v := range rec.header {
		w.Header()[k] = v
	}
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	w.WriteHeader(rec.status)
	_, _ = w.Write(rec.body.Bytes())
}

// digestWriter is w, with the digest headers of a successful response set
// to d, and its Location to location if that is not empty.
func digestWriter(w http.ResponseWriter, d digest.Digest, location string) http.ResponseWriter {
	return &headerWriter{ResponseWriter: w, before: func(code int, h http.Header) {
		if code < 200 || code >= 300 {
			return
		}
		if h.Get("Docker-Content-Digest") != "" {
			h.Set("Docker-Content-Digest", d.String())
		}
		if h.Get("Etag") != "" {
			h.Set("Etag", `"`+d.String()+`"`)
		}
		if location != "" && h.Get("Location") != "" {
			h.Set("Location", location)
		}
	}}
}

// headerWriter calls before with the status and headers of the response
// before they are written.
type headerWriter struct {
	http.ResponseWriter
	before func(code int, h http.Header)
	wrote  bool
}

func (w *headerWriter) WriteHeader(code int) {
	if !w.wrote {
		w.wrote = true
		w.before(code, w.Header())
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *headerWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

// ReadFrom keeps the fast path of blob downloads.
func (w *headerWriter) ReadFrom(r io.Reader) (int64, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return io.Copy(w.ResponseWriter, r)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *headerWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
