// Package testregistry runs a real distribution registry in the test
// process, in memory, as distribution's and helm's own tests do.
package testregistry

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory" // the storage driver the registry uses
	"github.com/sirupsen/logrus"
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
