// Package server is packyard's registry: the distribution v3 registry,
// embedded in the process on packyard's own HTTP server, with what packyard
// adds on top (a health endpoint, logging through slog, graceful shutdown).
//
// The registry's configuration is distribution's: a configuration file
// (every storage driver and cache distribution supports), or a default that
// keeps packs in a local folder; REGISTRY_* environment variables override
// either, as they do for distribution's own registry and Spectro's registry
// image.
package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"expvar"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/api/errcode"
	"github.com/distribution/distribution/v3/registry/auth"
	"github.com/distribution/distribution/v3/registry/handlers"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/docker/go-metrics"

	// The access controllers and storage drivers a configuration may name.
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"
	_ "github.com/distribution/distribution/v3/registry/auth/silly"
	_ "github.com/distribution/distribution/v3/registry/auth/token"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/azure"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/gcs"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/middleware/cloudfront"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/middleware/redirect"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/middleware/rewrite"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/s3-aws"
)

// Defaults of a registry started without a configuration file.
const (
	// DefaultAddr is where the registry listens: loopback only, so that a
	// registry started to try packyard is not open to the network.
	DefaultAddr = "127.0.0.1:5000"
	// DefaultDrainTimeout is how long a shutdown waits for requests in
	// flight, unless the configuration says otherwise.
	DefaultDrainTimeout = 30 * time.Second
)

// DefaultDataDir is where a registry started without a configuration file
// keeps its content: packyard's folder in the user's data folder
// ($XDG_DATA_HOME, ~/.local/share), or ./packyard-data where there is none.
func DefaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "packyard", "registry")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "packyard", "registry")
	}
	return "packyard-data"
}

// ConfigOptions say where the configuration comes from.
type ConfigOptions struct {
	// File is a distribution configuration file; empty means the default:
	// filesystem storage in DataDir, listening on Addr.
	File string
	// DataDir is the default configuration's storage folder; empty means
	// DefaultDataDir.
	DataDir string
	// Addr, when set, is where the registry listens, whatever the
	// configuration says.
	Addr string
	// DebugAddr, when set, is where the debug server listens (Prometheus
	// metrics at /metrics, pprof, expvar), whatever the configuration
	// says; it turns the metrics on.
	DebugAddr string
	// AllowOverwrite, when set, lets pack versions be overwritten and
	// deleted, whatever the configuration says (the packyard middleware's
	// allowoverwrite option).
	AllowOverwrite bool
}

// LoadConfig reads the registry's configuration: the file, or the default,
// with the REGISTRY_* environment overrides applied. A configuration that
// does not parse is an error naming the file.
func LoadConfig(opts ConfigOptions) (*configuration.Configuration, error) {
	var (
		rd   io.Reader
		name string
	)
	if opts.File != "" {
		f, err := os.Open(opts.File)
		if err != nil {
			return nil, fmt.Errorf("reading the registry configuration: %w", err)
		}
		defer f.Close()
		rd, name = f, opts.File
	} else {
		dir := opts.DataDir
		if dir == "" {
			dir = DefaultDataDir()
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, err
		}
		rd, name = strings.NewReader(defaultConfig(abs)), "the default configuration"
	}
	cfg, err := configuration.Parse(rd)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if opts.Addr != "" {
		cfg.HTTP.Addr = opts.Addr
	}
	if cfg.HTTP.Addr == "" {
		cfg.HTTP.Addr = DefaultAddr
	}
	if opts.DebugAddr != "" {
		cfg.HTTP.Debug.Addr = opts.DebugAddr
		cfg.HTTP.Debug.Prometheus.Enabled = true
	}
	if opts.AllowOverwrite {
		setMiddlewareOption(cfg, "allowoverwrite", true)
	}
	if cfg.HTTP.Secret == "" {
		// Upload state is signed with it. One random secret per process
		// is right for one replica; replicas behind a load balancer must
		// share one (http.secret, REGISTRY_HTTP_SECRET).
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		cfg.HTTP.Secret = hex.EncodeToString(b)
	}
	return cfg, nil
}

// defaultConfig is the configuration of a registry started without a file.
// Deleting is enabled so that `pack delete` works; uploads abandoned for a
// week are purged.
func defaultConfig(dataDir string) string {
	return fmt.Sprintf(`version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: %q
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: true
      age: 168h
      interval: 24h
      dryrun: false
http:
  addr: %q
`, dataDir, DefaultAddr)
}

// metricsRegistered says whether a registry of this process has registered
// distribution's request metrics.
var metricsRegistered atomic.Bool

// Server is a running registry.
type Server struct {
	cfg     *configuration.Configuration
	opts    Options
	app     *handlers.App
	handler http.Handler
	logger  *slog.Logger
	// access authorizes requests to packyard's own endpoints as the
	// registry's access controller does; nil when the registry has none.
	access auth.AccessController

	// namespace and driver are the registry's, as its request handlers use
	// them; packyard's middleware receives them when the registry starts.
	namespace distribution.Namespace
	driver    storagedriver.StorageDriver

	locks    keyLocks
	onChange []func(ctx context.Context, repo string)
	catalog  *catalog
}

// New makes the registry of cfg, logging to logger; distribution's own
// logging goes there too. A configuration distribution refuses (it panics
// on some) is an error.
func New(ctx context.Context, cfg *configuration.Configuration, logger *slog.Logger) (s *Server, err error) {
	if logger == nil {
		logger = slog.Default()
	}
	routeLogrus(logger)
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("the registry configuration is not usable: %v", r)
		}
	}()
	s = &Server{cfg: cfg, logger: logger}
	if s.opts, err = installMiddleware(cfg, s); err != nil {
		return nil, err
	}
	if err := installSpaceMiddleware(cfg); err != nil {
		return nil, err
	}
	if u := &cfg.Validation.Manifests.URLs; len(u.Allow) == 0 && len(u.Deny) == 0 {
		// Non-distributable layers name where their content is; the
		// distribution spec has registries accept such manifests, and
		// distribution refuses every URL unless allowed.
		u.Allow = []string{`^https?://[^#]*$`}
	}
	if s.access, err = newAccessController(cfg.Auth); err != nil {
		return nil, err
	}
	appCfg, err := withAccessController(cfg, s.access)
	if err != nil {
		return nil, err
	}
	if cfg.HTTP.Debug.Prometheus.Enabled && metricsRegistered.Swap(true) {
		// distribution registers its collectors in the process's one
		// Prometheus registry, and a second registration panics: the
		// first registry of the process keeps the request metrics.
		logger.Warn("Prometheus request metrics are already kept by another registry in this process; this one serves them but adds none")
		app := *appCfg
		app.HTTP.Debug.Prometheus.Enabled = false
		s.app = handlers.NewApp(ctx, &app)
	} else {
		s.app = handlers.NewApp(ctx, appCfg)
	}
	if s.namespace == nil {
		return nil, errors.New("the registry started without packyard's middleware")
	}
	if err := s.startCatalog(ctx); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", health)
	mux.HandleFunc("HEAD /health", health)
	mux.Handle("GET /api/v1/packs", s.catalogHandler())
	mux.Handle("/v2/", s.watchSpace(s.v2(s.app)))
	mux.Handle("/", s.app)
	s.handler = mux
	if !cfg.Log.AccessLog.Disabled {
		s.handler = accessLog(logger, s.handler)
	}
	return s, nil
}

// v2 serves the distribution API: packyard's endpoints in it, and
// distribution's, with packyard's part of manifest responses.
func (s *Server) v2(app http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if name, dgst, ok := referrersPath(r.URL.Path); ok {
			s.serveReferrers(w, r, name, dgst)
			return
		}
		if s.serveSpec(w, r, app) {
			return
		}
		if strings.Contains(r.URL.Path, "/manifests/") && (r.Method == http.MethodPut || r.Method == http.MethodDelete) {
			withState(app, w, r)
			return
		}
		app.ServeHTTP(w, r)
	})
}

// referrersPath splits a referrers API path, /v2/NAME/referrers/DIGEST.
func referrersPath(p string) (name, dgst string, ok bool) {
	rest, found := strings.CutPrefix(p, "/v2/")
	if !found {
		return "", "", false
	}
	i := strings.LastIndex(rest, "/referrers/")
	if i <= 0 {
		return "", "", false
	}
	name, dgst = rest[:i], rest[i+len("/referrers/"):]
	if dgst == "" || strings.Contains(dgst, "/") {
		return "", "", false
	}
	return name, dgst, true
}

// authorize says whether r may have access; where it may not, it has
// answered r with the access controller's challenge or refusal.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, access ...auth.Access) bool {
	if s.access == nil {
		return true
	}
	_, err := s.access.Authorized(r, access...)
	if err == nil {
		return true
	}
	var ch auth.Challenge
	if errors.As(err, &ch) {
		ch.SetHeaders(r, w)
		_ = errcode.ServeJSON(w, errcode.ErrorCodeUnauthorized.WithDetail(access))
		return false
	}
	_ = errcode.ServeJSON(w, errcode.ErrorCodeDenied)
	return false
}

// Config is the registry's configuration.
func (s *Server) Config() *configuration.Configuration { return s.cfg }

// Handler serves the registry's HTTP API and packyard's endpoints.
func (s *Server) Handler() http.Handler { return s.handler }

func health(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"status":"UP"}`+"\n")
}

// ListenAndServe listens where the configuration says and serves until ctx
// ends, then shuts down gracefully: it stops accepting connections and
// waits up to the drain timeout for requests in flight, which the
// registry completes or abandons without a trace (an upload not completed
// stays invisible, and is purged).
func (s *Server) ListenAndServe(ctx context.Context) error {
	network := s.cfg.HTTP.Net
	if network == "" {
		network = "tcp"
	}
	ln, err := net.Listen(network, s.cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", s.cfg.HTTP.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends, as ListenAndServe does.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	tlsConfig, err := s.tlsConfig()
	if err != nil {
		_ = ln.Close()
		return err
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       5 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	stopDebug, err := s.serveDebug(ctx)
	if err != nil {
		_ = ln.Close()
		return err
	}
	defer stopDebug()
	scheme := "http"
	if tlsConfig != nil {
		srv.TLSConfig = tlsConfig
		ln = tls.NewListener(ln, tlsConfig)
		scheme = "https"
	}
	s.logger.Info("registry listening", "addr", ln.Addr().String(), "scheme", scheme, "storage", s.cfg.Storage.Type())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	drain := s.cfg.HTTP.DrainTimeout
	if drain <= 0 {
		drain = DefaultDrainTimeout
	}
	s.logger.Info("shutting down: waiting for requests in flight", "timeout", drain)
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	err = srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		s.logger.Warn("requests still in flight at the end of the drain timeout were cut off")
		_ = srv.Close()
		err = nil
	}
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	s.stopCatalog()
	_ = s.app.Shutdown()
	return err
}

// serveDebug starts the debug server the configuration asks for
// (http.debug.addr): Prometheus metrics when http.debug.prometheus is
// enabled, pprof and expvar. stop shuts it down.
func (s *Server) serveDebug(ctx context.Context) (stop func(), err error) {
	d := s.cfg.HTTP.Debug
	if d.Addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", d.Addr)
	if err != nil {
		return nil, fmt.Errorf("listening on the debug address %s: %w", d.Addr, err)
	}
	mux := http.NewServeMux()
	if d.Prometheus.Enabled {
		path := d.Prometheus.Path
		if path == "" {
			path = "/metrics"
		}
		mux.Handle(path, metrics.Handler())
	}
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/debug/vars", expvar.Handler())
	mux.HandleFunc("GET /health", health)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	s.logger.Info("debug server listening", "addr", ln.Addr().String(), "metrics", d.Prometheus.Enabled)
	go func() { _ = srv.Serve(ln) }()
	return func() { _ = srv.Close() }, nil
}

// tlsConfig is the TLS configuration the registry's configuration asks
// for, or nil for plain HTTP.
func (s *Server) tlsConfig() (*tls.Config, error) {
	t := s.cfg.HTTP.TLS
	if t.Certificate == "" && t.Key == "" {
		if t.LetsEncrypt.CacheFile != "" {
			return nil, errors.New("http.tls.letsencrypt is not supported by packyard serve; give http.tls.certificate and http.tls.key")
		}
		return nil, nil
	}
	if t.Certificate == "" || t.Key == "" {
		return nil, errors.New("http.tls needs both certificate and key (REGISTRY_HTTP_TLS_CERTIFICATE, REGISTRY_HTTP_TLS_KEY)")
	}
	cert, err := tls.LoadX509KeyPair(t.Certificate, t.Key)
	if err != nil {
		return nil, fmt.Errorf("loading the TLS certificate %s and key %s: %w", t.Certificate, t.Key, err)
	}
	min := uint16(tls.VersionTLS12)
	switch t.MinimumTLS {
	case "", "tls1.2":
	case "tls1.3":
		min = tls.VersionTLS13
	default:
		return nil, fmt.Errorf("http.tls.minimumtls %q is not supported: use tls1.2 or tls1.3", t.MinimumTLS)
	}
	if len(t.ClientCAs) > 0 {
		return nil, errors.New("http.tls.clientcas is not supported by packyard serve")
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: min, NextProtos: []string{"h2", "http/1.1"}}, nil
}

// accessLog logs every request at info level, as distribution's access log
// does.
func accessLog(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rw, r)
		logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", rw.status),
			slog.Int64("bytes", rw.bytes),
			slog.Duration("duration", time.Since(start)),
			slog.String("remote", r.RemoteAddr),
		)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	w.wrote = true
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// ReadFrom keeps the response writer's fast path for blob downloads.
func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	w.wrote = true
	n, err := io.Copy(w.ResponseWriter, r)
	w.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
