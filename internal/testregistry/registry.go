// Package testregistry runs a real distribution registry in the test
// process, in memory, as distribution's and helm's own tests do.
package testregistry

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distribution/distribution/v3/configuration"
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd" // the access controller WithHtpasswd configures
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory" // the storage driver the registry uses
	"github.com/sirupsen/logrus"
	"golang.org/x/crypto/bcrypt"
)

// Registry is a running in-memory registry.
type Registry struct {
	Server *httptest.Server
	// Host is the registry's host:port, as a reference's registry part.
	Host string
}

// Option changes the registry's configuration.
type Option func(*configuration.Configuration)

// WithDelete lets clients delete manifests and blobs.
func WithDelete() Option {
	return func(c *configuration.Configuration) {
		c.Storage["delete"] = configuration.Parameters{"enabled": true}
	}
}

// WithHtpasswd makes the registry ask for HTTP basic authentication and
// accept only user with password, as a registry configured with an htpasswd
// file does. The file is written in a temporary folder of t.
func WithHtpasswd(t testing.TB, user, password string) Option {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(path, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return func(c *configuration.Configuration) {
		c.Auth = configuration.Auth{"htpasswd": configuration.Parameters{"realm": "packyard-test", "path": path}}
	}
}

// New starts a registry that stops when the test ends.
func New(t testing.TB, opts ...Option) *Registry {
	t.Helper()
	// distribution logs through the global logrus logger; a client's
	// routine existence checks would fill the test output with errors.
	logrus.SetOutput(io.Discard)
	cfg := &configuration.Configuration{
		Storage: configuration.Storage{"inmemory": configuration.Parameters{}},
	}
	cfg.Log.Level = "panic"
	cfg.HTTP.Secret = "packyard-test"
	// Only distribution's config-file parser defaults this; a config built
	// in code would answer every _catalog request with nothing.
	cfg.Catalog.MaxEntries = 1000
	for _, o := range opts {
		o(cfg)
	}
	app := handlers.NewApp(context.Background(), cfg)
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	return &Registry{Server: srv, Host: strings.TrimPrefix(srv.URL, "http://")}
}

// Handler is the registry's HTTP handler, for tests that wrap it.
func (r *Registry) Handler() http.Handler { return r.Server.Config.Handler }
