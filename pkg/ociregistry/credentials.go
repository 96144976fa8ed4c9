package ociregistry

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
)

// ErrCredentialStore: the login saved for a registry could not be read,
// saved or removed: its entry in the docker config is malformed, or the
// credential helper the config names failed.
var ErrCredentialStore = errors.New("the docker config's login is malformed or its credential helper failed")

// credentialStore is a credentials.Store whose errors never quote what the
// store holds: the stores' own messages may (oras-go quotes a docker config
// auth field it cannot split into user and password, which is often a
// token), so they stay in the error chain, for errors.Is and errors.As,
// but out of its text.
type credentialStore struct {
	credentials.Store
}

func (s credentialStore) Get(ctx context.Context, server string) (auth.Credential, error) {
	cred, err := s.Store.Get(ctx, server)
	if err != nil {
		return auth.EmptyCredential, &credentialError{op: "reading", server: server, err: err}
	}
	return cred, nil
}

func (s credentialStore) Put(ctx context.Context, server string, cred auth.Credential) error {
	if err := s.Store.Put(ctx, server, cred); err != nil {
		return &credentialError{op: "saving", server: server, err: err}
	}
	return nil
}

func (s credentialStore) Delete(ctx context.Context, server string) error {
	if err := s.Store.Delete(ctx, server); err != nil {
		return &credentialError{op: "removing", server: server, err: err}
	}
	return nil
}

// credentialError is a failure of the credential store, said without the
// store's own message.
type credentialError struct {
	op     string // reading, saving or removing
	server string
	err    error
}

func (e *credentialError) Error() string {
	msg := fmt.Sprintf("%s the login for %s: %v", e.op, e.server, ErrCredentialStore)
	var ee *exec.Error
	if errors.As(e.err, &ee) {
		// A credential helper that is not installed: its name is no
		// secret, and is what the user must fix.
		return msg + ": " + ee.Error()
	}
	return msg + " (the details are not shown: they may quote the secret)"
}

func (e *credentialError) Unwrap() []error { return []error{ErrCredentialStore, e.err} }

// holdsCredentials says whether s, a pack reference or a registry address
// as a user typed it, starts with USER:PASSWORD@, which must not be quoted
// back.
func holdsCredentials(s string) bool {
	before, _, ok := strings.Cut(s, "@")
	return ok && strings.Contains(before, ":")
}

// errCredentialsInReference is the error for a reference that holds
// credentials; it does not quote them.
var errCredentialsInReference = errors.New("the pack reference holds credentials (USER:PASSWORD@); give NAME[:VERSION|@DIGEST] and log in with `packyard registry login`")
