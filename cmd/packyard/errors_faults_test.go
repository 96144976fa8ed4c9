package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"testing"

	"github.com/packyard/packyard/pkg/ociregistry"
)

// A registry whose storage is full answers 507 Insufficient Storage
// (packyard serve does): the command says the registry ran out of space
// and who can fix it.
func TestRemoteErrorStorageFull(t *testing.T) {
	err := response(http.MethodPut, "http://127.0.0.1:5000/v2/team/packs/x/blobs/uploads/0a1b?digest=sha256:aa", http.StatusInsufficientStorage,
		"UNKNOWN", "the registry's storage is full: nothing was stored by this request")
	msg, rec := explained(t, err, ociregistry.Location{Registry: "127.0.0.1:5000", Base: "team"})
	if want := "registry out of space: 127.0.0.1:5000/team/packs/x: the registry's storage is full: nothing was stored by this request"; msg != want {
		t.Errorf("message\n got %s\nwant %s", msg, want)
	}
	if want := "The registry's storage is full: its administrator must free space or grow the storage " +
		"(`packyard serve gc --delete` reclaims blobs no pack references), then push again."; rec != want {
		t.Errorf("recommendation\n got %s\nwant %s", rec, want)
	}

	// Without a body, the status says it.
	msg, _ = explained(t, response(http.MethodPatch, "http://127.0.0.1:5000/v2/team/packs/x/blobs/uploads/0a1b", http.StatusInsufficientStorage, "", ""))
	if want := "registry out of space: 127.0.0.1:5000/team/packs/x: Insufficient Storage"; msg != want {
		t.Errorf("message\n got %s\nwant %s", msg, want)
	}
}

// A request whose connection was cut (the registry died in the middle of a
// push) is said in one line, without the request's URL and its upload
// state, and the advice is to run the command again.
func TestRemoteErrorConnectionCut(t *testing.T) {
	const upload = "http://127.0.0.1:5000/v2/team/packs/x/blobs/uploads/0a1b?_state=c2VjcmV0&digest=sha256%3Aaa"
	for _, tc := range []struct {
		name  string
		cause error
	}{
		{"EOF", io.EOF},
		{"unexpected EOF", io.ErrUnexpectedEOF},
		{"reset", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}},
		{"broken pipe", &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EPIPE)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := fmt.Errorf("pushing 127.0.0.1:5000/team/packs/x:1.0.0: %w", &url.Error{Op: "Put", URL: upload, Err: tc.cause})
			msg, rec := explained(t, err, ociregistry.Location{Registry: "127.0.0.1:5000", Base: "team"})
			if want := "the connection to 127.0.0.1:5000 was cut in the middle of a request"; msg != want {
				t.Errorf("message\n got %s\nwant %s", msg, want)
			}
			if rec != connectionCutAdvice {
				t.Errorf("recommendation %q", rec)
			}
		})
	}
	// An EOF that is not a request's is not a cut connection.
	if connectionCut(fmt.Errorf("reading pack.json: %w", io.ErrUnexpectedEOF)) {
		t.Error("a file's unexpected EOF was taken for a cut connection")
	}
}
