package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/crypto/bcrypt"

	"github.com/packyard/packyard/internal/testcert"
	"github.com/packyard/packyard/internal/testenv"
)

// running is a registry served on a loopback port until the test ends.
type running struct {
	URL string
	// Server is the registry, for tests that reach into it.
	Server *Server
	Logs   *testenv.SyncBuffer
	cancel context.CancelFunc
	done   chan error
	// read counts the bytes the server has read from its connections.
	read *atomic.Int64
	once sync.Once
}

// countingListener counts the bytes read from the connections it accepts.
type countingListener struct {
	net.Listener
	read *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{Conn: c, read: l.read}, nil
}

type countingConn struct {
	net.Conn
	read *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

func start(t *testing.T, opts ConfigOptions, level slog.Level) *running {
	t.Helper()
	if opts.File == "" && opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	cfg, err := LoadConfig(opts)
	if err != nil {
		t.Fatal(err)
	}
	logs := &testenv.SyncBuffer{}
	srv, err := New(t.Context(), cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: level})))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{URL: "http://" + ln.Addr().String(), Server: srv, Logs: logs, cancel: cancel, done: make(chan error, 1), read: &atomic.Int64{}}
	ln = countingListener{Listener: ln, read: r.read}
	if cfg.HTTP.TLS.Certificate != "" {
		r.URL = "https://" + ln.Addr().String()
	}
	go func() { r.done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	r.once.Do(func() { r.wait(t) })
}

func (r *running) wait(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok && err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("the server did not stop")
	}
}

func get(t *testing.T, c *http.Client, method, url string) (int, string) {
	t.Helper()
	if c == nil {
		c = http.DefaultClient
	}
	req, _ := http.NewRequest(method, url, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestDefaultConfig(t *testing.T) {
	t.Setenv("REGISTRY_HTTP_SECRET", "")
	dir := t.TempDir()
	cfg, err := LoadConfig(ConfigOptions{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Storage.Type() != "filesystem" || cfg.Storage.Parameters()["rootdirectory"] != dir {
		t.Errorf("storage %s %v, want filesystem in %s", cfg.Storage.Type(), cfg.Storage.Parameters(), dir)
	}
	if cfg.HTTP.Addr != DefaultAddr || len(cfg.HTTP.Secret) != 64 || cfg.Catalog.MaxEntries != 1000 {
		t.Errorf("addr %q, secret %q, catalog entries %d", cfg.HTTP.Addr, cfg.HTTP.Secret, cfg.Catalog.MaxEntries)
	}
	other, _ := LoadConfig(ConfigOptions{DataDir: dir})
	if other.HTTP.Secret == cfg.HTTP.Secret {
		t.Error("two registries got the same random secret")
	}
}

func TestConfigEnvironmentOverrides(t *testing.T) {
	t.Setenv("REGISTRY_HTTP_SECRET", "shared-secret")
	t.Setenv("REGISTRY_HTTP_ADDR", "127.0.0.1:6000")
	t.Setenv("REGISTRY_STORAGE_DELETE_ENABLED", "false")
	cfg, err := LoadConfig(ConfigOptions{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.Secret != "shared-secret" || cfg.HTTP.Addr != "127.0.0.1:6000" {
		t.Errorf("secret %q, addr %q: the environment was not applied", cfg.HTTP.Secret, cfg.HTTP.Addr)
	}
	if cfg.Storage["delete"]["enabled"] != false {
		t.Errorf("delete: %v", cfg.Storage["delete"])
	}
	// --addr is stronger than the environment.
	cfg, err = LoadConfig(ConfigOptions{DataDir: t.TempDir(), Addr: "127.0.0.1:7000"})
	if err != nil || cfg.HTTP.Addr != "127.0.0.1:7000" {
		t.Errorf("addr %q, %v", cfg.HTTP.Addr, err)
	}
}

func TestBadConfiguration(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if _, err := LoadConfig(ConfigOptions{File: filepath.Join(dir, "missing.yml")}); err == nil || !strings.Contains(err.Error(), "missing.yml") {
		t.Errorf("missing file: %v", err)
	}
	bad := write("bad.yml", "version: 0.1\nstorage: [\n")
	if _, err := LoadConfig(ConfigOptions{File: bad}); err == nil || !strings.Contains(err.Error(), "bad.yml") {
		t.Errorf("unparsable file: %v", err)
	}
	// distribution panics on an unknown storage driver: an error here.
	unknown := write("unknown.yml", "version: 0.1\nstorage:\n  nosuchdriver: {}\nhttp:\n  addr: 127.0.0.1:0\n")
	cfg, err := LoadConfig(ConfigOptions{File: unknown})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "nosuchdriver") {
		t.Errorf("unknown driver: %v", err)
	}
}

func TestHealthAndRegistryAPI(t *testing.T) {
	r := start(t, ConfigOptions{}, slog.LevelInfo)
	if code, body := get(t, nil, http.MethodGet, r.URL+"/health"); code != 200 || strings.TrimSpace(body) != `{"status":"UP"}` {
		t.Errorf("/health: %d %q", code, body)
	}
	if code, _ := get(t, nil, http.MethodGet, r.URL+"/v2/"); code != 200 {
		t.Errorf("/v2/: %d", code)
	}
	// A client's existence check that finds nothing is not a server error.
	if code, _ := get(t, nil, http.MethodHead, r.URL+"/v2/team/packs/none/manifests/1.0.0"); code != 404 {
		t.Errorf("HEAD of a missing manifest: %d", code)
	}
	logs := r.Logs.String()
	if strings.Contains(logs, "level=ERROR") {
		t.Errorf("a 404 was logged as an error:\n%s", logs)
	}
	if !strings.Contains(logs, "method=HEAD path=/v2/team/packs/none/manifests/1.0.0 status=404") {
		t.Errorf("no access log line for the HEAD:\n%s", logs)
	}
	if strings.Contains(logs, "response completed") {
		t.Errorf("distribution's long response line at info level:\n%s", logs)
	}
}

// An upload in flight when the server is told to stop completes; the
// server stops after it.
func TestGracefulShutdown(t *testing.T) {
	r := start(t, ConfigOptions{}, slog.LevelInfo)
	resp, err := http.Post(r.URL+"/v2/team/blob/blobs/uploads/", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	location := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusAccepted || location == "" {
		t.Fatalf("starting an upload: %d", resp.StatusCode)
	}
	if !strings.HasPrefix(location, "http") {
		location = r.URL + location
	}
	data := bytes.Repeat([]byte("packyard"), 1<<16)
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPut, location+"&digest="+digest.FromBytes(data).String(), pr)
	req.ContentLength = int64(len(data))
	result := make(chan int, 1)
	before := r.read.Load()
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			result <- 0
			return
		}
		resp.Body.Close()
		result <- resp.StatusCode
	}()
	if _, err := pw.Write(data[:1000]); err != nil {
		t.Fatal(err)
	}
	// Once the server has read the request's header and body bytes, the
	// upload is in its handler.
	for deadline := time.Now().Add(10 * time.Second); r.read.Load()-before < 1000; {
		if time.Now().After(deadline) {
			t.Fatal("the server did not read the upload's first bytes")
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.cancel() // the server starts shutting down with the upload half sent
	time.Sleep(200 * time.Millisecond)
	select {
	case err := <-r.done:
		t.Fatalf("the server stopped with a request in flight: %v", err)
	default:
	}
	if _, err := pw.Write(data[1000:]); err != nil {
		t.Fatal(err)
	}
	_ = pw.Close()
	if code := <-result; code != http.StatusCreated {
		t.Errorf("the upload in flight ended with %d, want 201", code)
	}
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
		close(r.done)
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not stop after the upload")
	}
}

func TestHtpasswdFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	hash, _ := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	path := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(path, []byte("alice:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("REGISTRY_AUTH", "htpasswd")
	t.Setenv("REGISTRY_AUTH_HTPASSWD_REALM", "packyard")
	t.Setenv("REGISTRY_AUTH_HTPASSWD_PATH", path)
	r := start(t, ConfigOptions{}, slog.LevelInfo)
	if code, _ := get(t, nil, http.MethodGet, r.URL+"/v2/"); code != http.StatusUnauthorized {
		t.Errorf("anonymous /v2/: %d, want 401", code)
	}
	req, _ := http.NewRequest(http.MethodGet, r.URL+"/v2/", nil)
	req.SetBasicAuth("alice", "s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("alice's /v2/: %d", resp.StatusCode)
	}
	if code, _ := get(t, nil, http.MethodGet, r.URL+"/health"); code != 200 {
		t.Errorf("/health needs no login: %d", code)
	}
	if strings.Contains(r.Logs.String(), "s3cret") {
		t.Error("the password reached the log")
	}
}

func TestTLSFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM := testcert.SelfSigned(t)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("REGISTRY_HTTP_TLS_CERTIFICATE", certFile)
	t.Setenv("REGISTRY_HTTP_TLS_KEY", keyFile)
	r := start(t, ConfigOptions{}, slog.LevelInfo)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: testcert.Pool(t, certPEM), MinVersion: tls.VersionTLS12}}}
	if code, _ := get(t, c, http.MethodGet, r.URL+"/v2/"); code != 200 {
		t.Errorf("/v2/ over TLS: %d", code)
	}
	if resp, err := http.Get(r.URL + "/v2/"); err == nil {
		resp.Body.Close()
		t.Error("a client without the CA trusted the self-signed certificate")
	}
}

func TestTLSHalfConfigured(t *testing.T) {
	t.Setenv("REGISTRY_HTTP_TLS_CERTIFICATE", filepath.Join(t.TempDir(), "cert.pem"))
	cfg, err := LoadConfig(ConfigOptions{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(t.Context(), ln); err == nil || !strings.Contains(err.Error(), "REGISTRY_HTTP_TLS_KEY") {
		t.Errorf("certificate without key: %v", err)
	}
}

func TestDebugServerMetrics(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	debugAddr := ln.Addr().String()
	_ = ln.Close()
	r := start(t, ConfigOptions{DebugAddr: debugAddr}, slog.LevelError)
	if status, _ := get(t, nil, http.MethodGet, r.URL+"/v2/"); status != http.StatusOK {
		t.Fatalf("GET /v2/: %d", status)
	}
	status, body := get(t, nil, http.MethodGet, "http://"+debugAddr+"/metrics")
	if status != http.StatusOK || !strings.Contains(body, `registry_http_requests_total{code="200",handler="base",method="get"}`) {
		t.Fatalf("GET /metrics: %d\n%.2000s", status, body)
	}
	if status, _ := get(t, nil, http.MethodGet, "http://"+debugAddr+"/debug/pprof/"); status != http.StatusOK {
		t.Fatalf("GET /debug/pprof/: %d", status)
	}
	// The registry's own address serves neither.
	if status, _ := get(t, nil, http.MethodGet, r.URL+"/metrics"); status != http.StatusNotFound {
		t.Fatalf("GET /metrics on the registry's address: %d", status)
	}
}
