package server

import (
	"context"
	"net/http"
	"sync"

	"github.com/distribution/distribution/v3/registry/api/errcode"
	"github.com/opencontainers/go-digest"
)

// requestState is what packyard's middleware learns while distribution
// handles a manifest request, for packyard's part of the response: the
// subject of a pushed manifest (the OCI-Subject header) and a refusal's
// reason (distribution reports errors of tag and delete services as
// internal errors, without their message).
type requestState struct {
	mu      sync.Mutex
	subject digest.Digest
	denied  string
}

type stateKey struct{}

// stateOf is the state of the request ctx belongs to; outside a request it
// is a state nothing reads.
func stateOf(ctx context.Context) *requestState {
	if st, ok := ctx.Value(stateKey{}).(*requestState); ok {
		return st
	}
	return &requestState{}
}

func (st *requestState) setSubject(d digest.Digest) {
	st.mu.Lock()
	st.subject = d
	st.mu.Unlock()
}

func (st *requestState) get() (subject digest.Digest, denied string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.subject, st.denied
}

// denied records why the request is refused and returns the error that
// says so: 403 DENIED with msg.
func denied(ctx context.Context, msg string) error {
	st := stateOf(ctx)
	st.mu.Lock()
	st.denied = msg
	st.mu.Unlock()
	return errcode.ErrorCodeDenied.WithMessage(msg)
}

// withState serves r with a request state and finishes distribution's
// response with what the state holds.
func withState(next http.Handler, w http.ResponseWriter, r *http.Request) {
	st := &requestState{}
	r = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
	next.ServeHTTP(&stateWriter{ResponseWriter: w, st: st}, r)
}

type stateWriter struct {
	http.ResponseWriter
	st      *requestState
	replied bool // the response is packyard's: distribution's body is dropped
}

func (w *stateWriter) WriteHeader(code int) {
	subject, msg := w.st.get()
	switch {
	case msg != "" && code >= 400:
		w.replied = true
		w.Header().Del("Content-Length")
		_ = errcode.ServeJSON(w.ResponseWriter, errcode.ErrorCodeDenied.WithMessage(msg))
		return
	case code == http.StatusCreated && subject != "":
		w.Header().Set("OCI-Subject", subject.String())
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *stateWriter) Write(p []byte) (int, error) {
	if w.replied {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *stateWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
