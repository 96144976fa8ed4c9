package main

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/packyard/packyard/pkg/ociregistry"
	"github.com/packyard/packyard/pkg/packer"
)

// explained runs remoteError and returns its line and recommendation,
// checking that the original error is still reachable.
func explained(t *testing.T, err error, loc ...ociregistry.Location) (string, string) {
	t.Helper()
	got := remoteError(err, loc...)
	if !errors.Is(got, err) {
		t.Errorf("remoteError lost the original error: %v", got)
	}
	var ce *cliError
	if !errors.As(got, &ce) {
		t.Fatalf("remoteError(%v) = %v, not a *cliError", err, got)
	}
	if strings.Contains(got.Error(), "\n") {
		t.Errorf("the message is not one line: %q", got.Error())
	}
	return got.Error(), ce.recommendation
}

func response(method, rawURL string, status int, code, message string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		panic(err)
	}
	er := &errcode.ErrorResponse{Method: method, URL: u, StatusCode: status}
	if code != "" {
		er.Errors = errcode.Errors{{Code: code, Message: message}}
	}
	return fmt.Errorf("pushing %s: %w", u.Host, er)
}

func TestRemoteErrorResponses(t *testing.T) {
	team := ociregistry.Location{Registry: "reg.example.com", Base: "team"}
	ecr := ociregistry.Location{Registry: "123456789012.dkr.ecr.us-east-1.amazonaws.com", Base: "team"}
	harbor := ociregistry.Location{Registry: "harbor.example.com", Base: "library"}
	tests := []struct {
		name     string
		err      error
		loc      []ociregistry.Location
		msg, rec string
	}{
		{
			name: "unauthorized",
			err:  response(http.MethodHead, "https://reg.example.com/v2/team/packs/x/manifests/1.0.0", 401, "UNAUTHORIZED", "authentication required"),
			loc:  []ociregistry.Location{team},
			msg:  "unauthorized: reg.example.com/team/packs/x: authentication required",
			rec:  "Run `packyard registry login reg.example.com` (or check the user and password you logged in with).",
		},
		{
			name: "unauthorized without a body",
			err:  response(http.MethodGet, "https://reg.example.com/v2/", 401, "", ""),
			msg:  "unauthorized: reg.example.com: Unauthorized",
			rec:  "Run `packyard registry login reg.example.com` (or check the user and password you logged in with).",
		},
		{
			name: "denied",
			err:  response(http.MethodPut, "https://reg.example.com/v2/team/packs/x/manifests/1.0.0", 403, "DENIED", "requested access to the resource is denied"),
			loc:  []ociregistry.Location{team},
			msg:  "denied: reg.example.com/team/packs/x: requested access to the resource is denied",
			rec:  "The account you logged in to reg.example.com with may not do this: ask the registry's administrator for access, or log in as another user with `packyard registry login reg.example.com`.",
		},
		{
			name: "immutable pack version",
			err:  response(http.MethodPut, "https://reg.example.com/v2/team/packs/x/manifests/1.0.0", 403, "DENIED", "team/packs/x:1.0.0 is a pack version and already holds sha256:aa; pack versions are immutable on this registry"),
			loc:  []ociregistry.Location{team},
			msg:  "pack version is immutable: reg.example.com/team/packs/x: team/packs/x:1.0.0 is a pack version and already holds sha256:aa; pack versions are immutable on this registry",
			rec:  "Publish the change as a new version: the registry keeps each pack version as it was first pushed.",
		},
		{
			name: "ECR repository missing",
			err:  response(http.MethodPost, "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/team/packs/x/blobs/uploads/", 404, "NAME_UNKNOWN", "The repository with name 'team/packs/x' does not exist in the registry with id '123456789012'"),
			loc:  []ociregistry.Location{ecr},
			msg:  "repository not found: 123456789012.dkr.ecr.us-east-1.amazonaws.com/team/packs/x: The repository with name 'team/packs/x' does not exist in the registry with id '123456789012'",
			rec:  "ECR creates no repository on push: create team/packs/x, team/spectro-packs/archive/x, team/spectro-packs/archive (aws ecr create-repository --repository-name NAME), then push again.",
		},
		{
			name: "ECR repository missing, location unknown",
			err:  response(http.MethodPut, "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/a/b/spectro-packs/archive/x/manifests/1.0.0", 404, "NAME_UNKNOWN", "no such repository"),
			msg:  "repository not found: 123456789012.dkr.ecr.us-east-1.amazonaws.com/a/b/spectro-packs/archive/x: no such repository",
			rec:  "ECR creates no repository on push: create a/b/packs/x, a/b/spectro-packs/archive/x, a/b/spectro-packs/archive (aws ecr create-repository --repository-name NAME), then push again.",
		},
		{
			name: "ECR base archive repository missing",
			err:  response(http.MethodPut, "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/team/spectro-packs/archive/manifests/sha256:aa", 404, "NAME_UNKNOWN", "no such repository"),
			loc:  []ociregistry.Location{ecr},
			msg:  "repository not found: 123456789012.dkr.ecr.us-east-1.amazonaws.com/team/spectro-packs/archive: no such repository",
			rec:  "ECR creates no repository on push: create team/spectro-packs/archive (aws ecr create-repository --repository-name NAME), then push again.",
		},
		{
			name: "Harbor project missing",
			err:  response(http.MethodPost, "https://harbor.example.com/v2/library/packs/x/blobs/uploads/", 404, "NOT_FOUND", "project library not found"),
			loc:  []ociregistry.Location{harbor},
			msg:  "repository not found: harbor.example.com/library/packs/x: project library not found",
			rec:  `Harbor pushes only into existing projects: create the project "library" in Harbor (or push below one with -r harbor.example.com/PROJECT), then push again.`,
		},
		{
			name: "other registry, repository missing on push",
			err:  response(http.MethodPut, "https://zot.example.com/v2/team/packs/x/manifests/1.0.0", 404, "NAME_UNKNOWN", "repository name not known to registry"),
			msg:  "repository not found: zot.example.com/team/packs/x: repository name not known to registry",
			rec:  `The registry does not create repositories on push: create team/packs/x (on Harbor, the project "team"; on ECR, the repository itself), then push again.`,
		},
		{
			name: "not found on read",
			err:  response(http.MethodGet, "https://reg.example.com/v2/team/packs/x/tags/list", 404, "NAME_UNKNOWN", "repository name not known to registry"),
			loc:  []ociregistry.Location{team},
			msg:  "not found: reg.example.com/team/packs/x: repository name not known to registry",
			rec:  "Check the name and the registry; `packyard pack ls -r reg.example.com/team` lists the packs there.",
		},
		{
			name: "deletes disabled",
			err:  response(http.MethodDelete, "https://reg.example.com/v2/team/packs/x/manifests/sha256:aa", 405, "UNSUPPORTED", "The operation is unsupported."),
			msg:  "not supported by the registry: reg.example.com/team/packs/x: The operation is unsupported.",
			rec:  "The registry does not allow this operation (deletes are often disabled); ask its administrator.",
		},
		{
			name: "multi-line message",
			err:  response(http.MethodGet, "https://reg.example.com/v2/team/packs/x/tags/list", 500, "UNKNOWN", "upstream failed:\n  connect: timeout\r\n"),
			msg:  "pushing reg.example.com: reg.example.com/team/packs/x: upstream failed: connect: timeout (status 500)",
		},
		{
			name: "unexpected status, with what was being done",
			err: fmt.Errorf("fetching layer values.yaml: %w",
				response(http.MethodGet, "https://reg.example.com/v2/team/packs/x/blobs/sha256:aa", 500, "UNKNOWN", "disk on fire")),
			msg: "fetching layer values.yaml: pushing reg.example.com: reg.example.com/team/packs/x: disk on fire (status 500)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, rec := explained(t, tt.err, tt.loc...)
			if msg != tt.msg {
				t.Errorf("message\n got %s\nwant %s", msg, tt.msg)
			}
			if rec != tt.rec {
				t.Errorf("recommendation\n got %s\nwant %s", rec, tt.rec)
			}
			var er *errcode.ErrorResponse
			if !errors.As(remoteError(tt.err, tt.loc...), &er) {
				t.Error("errors.As no longer finds the *errcode.ErrorResponse")
			}
		})
	}
}

func TestRemoteErrorPackErrors(t *testing.T) {
	ve := fmt.Errorf("pushing: %w", &ociregistry.VersionExistsError{Repository: "reg.example.com/packs/x", Tag: "1.0.0", Existing: "sha256:aa", New: "sha256:bb"})
	msg, rec := explained(t, ve)
	if msg != "pushing: reg.example.com/packs/x:1.0.0 already holds sha256:aa, not sha256:bb" || !strings.Contains(rec, "--force") {
		t.Errorf("version exists: %q, %q", msg, rec)
	}
	if !errors.Is(remoteError(ve), ociregistry.ErrVersionExists) {
		t.Error("ErrVersionExists lost")
	}

	le := &packer.LintError{Report: &packer.Report{Dir: "packs/x", Findings: []packer.Finding{{Severity: packer.SeverityError, File: "pack.json", Field: "layer", Message: `unknown layer "addons"`}}}}
	msg, rec = explained(t, le)
	if msg != `pack packs/x has a lint error: pack.json: error: layer: unknown layer "addons"` || rec != "Run `packyard pack lint packs/x` to see every problem and its fix." {
		t.Errorf("lint error: %q, %q", msg, rec)
	}

	nocred := fmt.Errorf("HEAD %q: %w", "http://reg.example.com/v2/x/manifests/1", auth.ErrBasicCredentialNotFound)
	msg, rec = explained(t, nocred, ociregistry.Location{Registry: "reg.example.com"})
	if msg != "unauthorized: reg.example.com asks for a user and password, and no login is saved for it" || rec != "Run `packyard registry login reg.example.com`." {
		t.Errorf("no credential: %q, %q", msg, rec)
	}

	// Errors it does not know pass through untouched; nil stays nil.
	other := errors.New("disk full")
	if got := remoteError(other); got != other { //nolint:errorlint // the same error value, not one wrapping it
		t.Errorf("remoteError(other) = %v", got)
	}
	if remoteError(nil) != nil {
		t.Error("remoteError(nil) is not nil")
	}
}

// ping reaches a server through a packyard client configured as given.
func ping(t *testing.T, opts ociregistry.Options, host string) error {
	t.Helper()
	opts.Credentials = credentials.NewMemoryStore()
	c, err := ociregistry.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	loc := ociregistry.Location{Registry: host}
	reg, err := c.Registry(loc)
	if err != nil {
		t.Fatal(err)
	}
	return reg.Ping(t.Context())
}

func v2OK() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
}

func TestRemoteErrorTLSUnknownAuthority(t *testing.T) {
	srv := httptest.NewTLSServer(v2OK())
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "https://")
	err := ping(t, ociregistry.Options{}, host)
	if err == nil {
		t.Fatal("a self-signed server was trusted")
	}
	msg, rec := explained(t, err)
	if msg != host+": the TLS certificate is signed by an unknown authority" {
		t.Errorf("message %q", msg)
	}
	if !strings.Contains(rec, "--ca-file") || !strings.Contains(rec, "--insecure") {
		t.Errorf("recommendation %q names neither --ca-file nor --insecure", rec)
	}

	// The advice works: with the server's CA, the same ping succeeds.
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ping(t, ociregistry.Options{CAFile: caFile}, host); err != nil {
		t.Errorf("with --ca-file: %v", err)
	}
}

func TestRemoteErrorPlainHTTPServer(t *testing.T) {
	srv := httptest.NewServer(v2OK())
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	err := ping(t, ociregistry.Options{}, host)
	if !errors.Is(err, http.ErrSchemeMismatch) {
		t.Fatalf("HTTPS to a plain HTTP server: %v, want http.ErrSchemeMismatch", err)
	}
	msg, rec := explained(t, err)
	if msg != host+" answers in plain HTTP, not HTTPS" {
		t.Errorf("message %q", msg)
	}
	if rec != "The registry talks plain HTTP: pass --plain-http." {
		t.Errorf("recommendation %q", rec)
	}
}

func TestRemoteErrorConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	err = ping(t, ociregistry.Options{PlainHTTP: true}, host)
	if err == nil {
		t.Fatal("a closed port answered")
	}
	msg, rec := explained(t, err, ociregistry.Location{Registry: host})
	if msg != "cannot connect to "+host+": connection refused" {
		t.Errorf("message %q", msg)
	}
	if want := "Nothing answers at " + host + ": check the address and port, and that the registry runs."; rec != want {
		t.Errorf("recommendation %q, want %q", rec, want)
	}
}

func TestRemoteErrorCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := fmt.Errorf("pushing: %w", ctx.Err())
	if got := remoteError(err); got != err { //nolint:errorlint // the same error value, not one wrapping it
		t.Errorf("a canceled push became %v", got)
	}
}
