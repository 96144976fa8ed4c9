package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/api/errcode"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	storagemiddleware "github.com/distribution/distribution/v3/registry/storage/driver/middleware"
)

// A storage that runs out of space fails a write with ENOSPC (or EDQUOT,
// over a quota), and distribution answers the request with a bare 500
// "unknown error". packyard notices such a failure with a storage
// middleware, and answers the request with 507 Insufficient Storage and a
// message that says the storage is full. The blob upload the failure
// belongs to is dropped at once: its partial content would keep the
// storage full until the upload purger's next run, and a client cannot
// resume it anyway. And the writers of the request that distribution
// leaves open are closed: distribution's blob writer does not close its
// file when storing the hash state fails, which on a full storage it does,
// and the space of an open file, deleted or not, is not freed.

// spaceMiddlewareName is the name packyard's storage middleware is known by
// in a distribution configuration. New adds it; a configuration need not
// name it.
const spaceMiddlewareName = "packyard.space"

// storageFullMessage is the message of the 507 a request answers when the
// storage is out of space.
const storageFullMessage = "the registry's storage is full: nothing was stored by this request, " +
	"and what the registry holds stays readable; space must be freed before pushing again"

var registerSpaceMiddleware = sync.OnceValue(func() error {
	return storagemiddleware.Register(spaceMiddlewareName, func(_ context.Context, d storagedriver.StorageDriver, _ map[string]any) (storagedriver.StorageDriver, error) {
		return &spaceDriver{StorageDriver: d}, nil
	})
})

// installSpaceMiddleware adds packyard's storage middleware to cfg, last,
// so that it sees the errors of the driver and of every other storage
// middleware.
func installSpaceMiddleware(cfg *configuration.Configuration) error {
	if err := registerSpaceMiddleware(); err != nil {
		return err
	}
	if cfg.Middleware == nil {
		cfg.Middleware = map[string][]configuration.Middleware{}
	}
	for _, mw := range cfg.Middleware["storage"] {
		if mw.Name == spaceMiddlewareName {
			return nil
		}
	}
	cfg.Middleware["storage"] = append(cfg.Middleware["storage"], configuration.Middleware{Name: spaceMiddlewareName})
	return nil
}

// isNoSpace says whether err, an error of a storage driver, says that the
// storage is out of space or over a quota.
func isNoSpace(err error) bool {
	for err != nil {
		if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
			return true
		}
		// A driver's error wraps the cause without unwrapping to it.
		var de storagedriver.Error
		if !errors.As(err, &de) {
			return false
		}
		err = de.Detail
	}
	return false
}

// spaceState is what the storage middleware learns while a request is
// served: whether a write failed for want of space, and the writers the
// request opened that are not closed.
type spaceState struct {
	full atomic.Bool

	mu   sync.Mutex
	open map[*spaceWriter]struct{}
}

func (st *spaceState) opened(w *spaceWriter) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.open == nil {
		st.open = map[*spaceWriter]struct{}{}
	}
	st.open[w] = struct{}{}
}

func (st *spaceState) closed(w *spaceWriter) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.open, w)
}

// closeLeftovers closes the writers of the request that are still open.
func (st *spaceState) closeLeftovers() {
	st.mu.Lock()
	open := st.open
	st.open = nil
	st.mu.Unlock()
	for w := range open {
		_ = w.FileWriter.Close()
	}
}

type spaceKey struct{}

// spaceOf is the state of the request ctx belongs to, or nil outside one.
func spaceOf(ctx context.Context) *spaceState {
	st, _ := ctx.Value(spaceKey{}).(*spaceState)
	return st
}

// noteSpace records in st that err, when it says so, failed for want of
// space, and returns err.
func noteSpace(st *spaceState, err error) error {
	if st != nil && isNoSpace(err) {
		st.full.Store(true)
	}
	return err
}

// spaceDriver is a storage driver whose writes record a failure for want
// of space in the state of the request they serve.
type spaceDriver struct {
	storagedriver.StorageDriver
}

func (d *spaceDriver) PutContent(ctx context.Context, p string, content []byte) error {
	return noteSpace(spaceOf(ctx), d.StorageDriver.PutContent(ctx, p, content))
}

func (d *spaceDriver) Writer(ctx context.Context, p string, append bool) (storagedriver.FileWriter, error) {
	st := spaceOf(ctx)
	w, err := d.StorageDriver.Writer(ctx, p, append)
	if err != nil {
		return nil, noteSpace(st, err)
	}
	if st == nil {
		return w, nil
	}
	sw := &spaceWriter{FileWriter: w, st: st}
	st.opened(sw)
	return sw, nil
}

func (d *spaceDriver) Move(ctx context.Context, src, dst string) error {
	return noteSpace(spaceOf(ctx), d.StorageDriver.Move(ctx, src, dst))
}

type spaceWriter struct {
	storagedriver.FileWriter
	st *spaceState
}

func (w *spaceWriter) Write(p []byte) (int, error) {
	n, err := w.FileWriter.Write(p)
	return n, noteSpace(w.st, err)
}

func (w *spaceWriter) Commit(ctx context.Context) error {
	return noteSpace(w.st, w.FileWriter.Commit(ctx))
}

func (w *spaceWriter) Close() error {
	w.st.closed(w)
	return noteSpace(w.st, w.FileWriter.Close())
}

func (w *spaceWriter) Cancel(ctx context.Context) error {
	w.st.closed(w)
	return w.FileWriter.Cancel(ctx)
}

// watchSpace serves the requests that write to storage with a space state,
// and answers one whose write failed for want of space with 507 and
// storageFullMessage instead of distribution's 500.
func (s *Server) watchSpace(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch:
		default:
			next.ServeHTTP(w, r)
			return
		}
		st := &spaceState{}
		r = r.WithContext(context.WithValue(r.Context(), spaceKey{}, st))
		sw := &spaceResponse{ResponseWriter: w, st: st}
		if p, ok := parseV2Path(r.URL.Path); ok && p.kind == "uploads" && p.ref != "" {
			sw.onFull = func() { s.dropUpload(r.Context(), p.name, p.ref) }
		}
		next.ServeHTTP(sw, r)
		if st.full.Load() {
			st.closeLeftovers()
		}
	})
}

// dropUpload deletes the upload id of the repository name, as cancelling
// it does.
func (s *Server) dropUpload(ctx context.Context, name, id string) {
	ctx = context.WithoutCancel(ctx)
	dir := path.Join(storageRoot, "repositories", name, "_uploads", id)
	var pnf storagedriver.PathNotFoundError
	if err := s.driver.Delete(ctx, dir); err != nil && !errors.As(err, &pnf) {
		s.logger.Warn("deleting an upload that ran out of space; the upload purger will", "repository", name, "upload", id, "err", err)
		return
	}
	s.logger.Warn("the registry's storage is full: an upload was refused and dropped", "repository", name, "upload", id)
}

// spaceResponse is the response of a request that writes to storage.
type spaceResponse struct {
	http.ResponseWriter
	st *spaceState
	// onFull, when set, runs before the 507 is sent.
	onFull  func()
	wrote   bool
	replied bool // the response is packyard's 507: distribution's body is dropped
}

func (w *spaceResponse) WriteHeader(code int) {
	if w.wrote {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.wrote = true
	if code < http.StatusInternalServerError || !w.st.full.Load() {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.replied = true
	w.st.closeLeftovers()
	if w.onFull != nil {
		w.onFull()
	}
	h := w.Header()
	h.Del("Content-Length")
	h.Set("Content-Type", "application/json; charset=utf-8")
	w.ResponseWriter.WriteHeader(http.StatusInsufficientStorage)
	_ = json.NewEncoder(w.ResponseWriter).Encode(errcode.Errors{errcode.ErrorCodeUnknown.WithMessage(storageFullMessage)})
}

func (w *spaceResponse) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.replied {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *spaceResponse) Unwrap() http.ResponseWriter { return w.ResponseWriter }
