package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/packyard/packyard/internal/testenv"
)

// registry is a standalone distribution registry process, started for one
// test with its own storage and stopped when the test ends.
type registry struct {
	// Host is the registry's address, 127.0.0.1:PORT.
	Host string
	// Storage is the filesystem storage's root folder.
	Storage string
	// CAFile is the PEM certificate authority that signed the registry's
	// certificate, for a TLS registry.
	CAFile string
	// User and Password are the htpasswd login of a registry with auth.
	User, Password string

	log *testenv.SyncBuffer
}

// registryOptions pick a registry variant. The zero value is a plain HTTP
// registry without auth.
type registryOptions struct {
	// TLS serves HTTPS with a certificate for 127.0.0.1 signed by a CA
	// generated for the test.
	TLS bool
	// Htpasswd protects the registry with an htpasswd file holding one user.
	Htpasswd bool
}

// startRegistry starts bin/tools/registry on a free loopback port, waits
// until /v2/ answers, and stops it at the end of the test.
func startRegistry(t *testing.T, opts registryOptions) *registry {
	t.Helper()
	dir := t.TempDir()
	r := &registry{Storage: filepath.Join(dir, "storage"), log: &testenv.SyncBuffer{}}
	if err := os.Mkdir(r.Storage, 0o755); err != nil {
		t.Fatal(err)
	}
	var extra strings.Builder
	if opts.TLS {
		cert, key := filepath.Join(dir, "registry.pem"), filepath.Join(dir, "registry-key.pem")
		r.CAFile = filepath.Join(dir, "ca.pem")
		writeTestCA(t, r.CAFile, cert, key)
		fmt.Fprintf(&extra, "  tls:\n    certificate: %s\n    key: %s\n", cert, key)
	}
	var auth string
	if opts.Htpasswd {
		r.User, r.Password = "packer", "s3cret-"+rand.Text()
		hash, err := bcrypt.GenerateFromPassword([]byte(r.Password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(r.User+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: packyard-e2e\n    path: %s\n", htpasswd)
	}

	// Another process may take the port between its pick and the
	// registry's listen: try a few ports.
	var lastErr error
	for range 5 {
		r.Host = freeLoopbackAddr(t)
		config := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
%s%s`, r.Storage, r.Host, extra.String(), auth)
		configFile := filepath.Join(dir, "config.yml")
		if err := os.WriteFile(configFile, []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
		if lastErr = r.start(t, configFile, opts.TLS); lastErr == nil {
			return r
		}
	}
	t.Fatalf("starting the registry: %v\nits log:\n%s", lastErr, r.logTail(40))
	return nil
}

func (r *registry) start(t *testing.T, configFile string, useTLS bool) error {
	t.Helper()
	cmd := exec.Command(registryBin, "serve", configFile)
	cmd.Env = append(baseEnv(), "OTEL_TRACES_EXPORTER=none", "OTEL_METRICS_EXPORTER=none", "OTEL_LOGS_EXPORTER=none")
	cmd.Stdout, cmd.Stderr = r.log, r.log
	if err := cmd.Start(); err != nil {
		return err
	}
	// exited is closed when the registry has exited; waitErr says how.
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}

	client := &http.Client{Timeout: 2 * time.Second}
	scheme := "http"
	if useTLS {
		scheme = "https"
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // only probing that it answers
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("the registry exited: %w", waitErr)
		default:
		}
		resp, err := client.Get(scheme + "://" + r.Host + "/v2/")
		if err == nil {
			resp.Body.Close()
			// 200, or 401 with auth: it answers.
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				break
			}
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("/v2/ did not answer within 30s: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("registry log, without its 404s:\n%s", r.logTail(40))
		}
	})
	return nil
}

// logTail is the end of the registry's log, without the 404s of
// existence checks that distribution logs at error level.
func (r *registry) logTail(n int) string {
	var lines []string
	for line := range strings.Lines(r.log.String()) {
		if !strings.Contains(line, "http.response.status=404") {
			lines = append(lines, line)
		}
	}
	return strings.Join(lines[max(0, len(lines)-n):], "")
}

// freeLoopbackAddr returns a loopback address with a port no one listens on
// at the moment.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// writeTestCA writes a self-signed CA certificate to caFile and a
// certificate for 127.0.0.1 that it signed, with its key, to certFile and
// keyFile.
func writeTestCA(t *testing.T, caFile, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "packyard e2e test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, caFile, "CERTIFICATE", caDER)
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
}

func writePEM(t *testing.T, file, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// clientEnv is the environment of the commands one test runs: its own
// docker config (credentials), packyard settings and helm folders, never
// the user's.
type clientEnv struct {
	// DockerConfig is the folder holding config.json.
	DockerConfig string
	vars         []string
}

func newClientEnv(t *testing.T) *clientEnv {
	t.Helper()
	dir := t.TempDir()
	e := &clientEnv{DockerConfig: filepath.Join(dir, "docker")}
	for _, sub := range []string{"docker", "config", "cache", "data", "home"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	e.vars = []string{
		"DOCKER_CONFIG=" + e.DockerConfig,
		"XDG_CONFIG_HOME=" + filepath.Join(dir, "config"),
		"XDG_CACHE_HOME=" + filepath.Join(dir, "cache"),
		"XDG_DATA_HOME=" + filepath.Join(dir, "data"),
		"HOME=" + filepath.Join(dir, "home"),
		// No default registry from the user's environment.
		"PACKYARD_REGISTRY=",
	}
	return e
}

// run runs name in dir with this environment.
func (e *clientEnv) run(t *testing.T, dir, name string, args ...string) result {
	t.Helper()
	return e.runStdin(t, dir, "", name, args...)
}

// runStdin runs name with stdin as its standard input.
func (e *clientEnv) runStdin(t *testing.T, dir, stdin, name string, args ...string) result {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(baseEnv(), e.vars...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee) && ee.Exited():
		res.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s %s: %v\nstderr:\n%s", name, strings.Join(args, " "), err, res.stderr)
	}
	return res
}

func (e *clientEnv) mustRun(t *testing.T, dir, name string, args ...string) result {
	t.Helper()
	res := e.run(t, dir, name, args...)
	if res.code != 0 {
		t.Fatalf("%s %s: exit status %d\nstdout:\n%s\nstderr:\n%s", filepath.Base(name), strings.Join(args, " "),
			res.code, res.stdout, res.stderr)
	}
	return res
}

// packyard runs the binary under test from the repository root.
func (e *clientEnv) packyard(t *testing.T, args ...string) result {
	t.Helper()
	return e.run(t, repoRoot, packyardBin, args...)
}

func (e *clientEnv) mustPackyard(t *testing.T, args ...string) result {
	t.Helper()
	return e.mustRun(t, repoRoot, packyardBin, args...)
}

func (e *clientEnv) oras(t *testing.T, dir string, args ...string) result {
	t.Helper()
	return e.mustRun(t, dir, orasBin, args...)
}

func (e *clientEnv) crane(t *testing.T, args ...string) result {
	t.Helper()
	return e.mustRun(t, repoRoot, craneBin, args...)
}

func (e *clientEnv) helm(t *testing.T, dir string, args ...string) result {
	t.Helper()
	return e.mustRun(t, dir, helmBin, args...)
}

// command is a started process whose output is collected.
func (e *clientEnv) command(ctx context.Context, name string, args ...string) (*exec.Cmd, *testenv.SyncBuffer, *testenv.SyncBuffer) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = repoRoot
	cmd.Env = append(baseEnv(), e.vars...)
	stdout, stderr := &testenv.SyncBuffer{}, &testenv.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	return cmd, stdout, stderr
}

// pushedArtifact is one encoding in what `pack push -o json` printed.
type pushedArtifact struct {
	Encoding   string `json:"encoding"`
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
	Manifest   struct {
		Digest string `json:"digest"`
	} `json:"manifest"`
	Status string `json:"status"`
}

// jsonObjects finds, in the JSON document a command printed, the
// outermost objects that match says are what the test looks for, wherever
// the document nests them.
func jsonObjects(t *testing.T, what, stdout string, match func(map[string]any) bool) []map[string]any {
	t.Helper()
	var doc any
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("%s: stdout is not JSON: %v\n%s", what, err, stdout)
	}
	var out []map[string]any
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			if match(v) {
				out = append(out, v)
				return
			}
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(doc)
	return out
}

// pushedArtifacts finds every pushed artifact in the JSON `pack push -o json`
// printed, wherever the summary nests them: any object with an encoding, a
// status and a manifest.
func pushedArtifacts(t *testing.T, stdout string) []pushedArtifact {
	t.Helper()
	var out []pushedArtifact
	for _, v := range jsonObjects(t, "pack push -o json", stdout, func(v map[string]any) bool {
		_, hasEnc := v["encoding"]
		_, hasStatus := v["status"]
		_, hasManifest := v["manifest"]
		return hasEnc && hasStatus && hasManifest
	}) {
		data, _ := json.Marshal(v)
		var a pushedArtifact
		if err := json.Unmarshal(data, &a); err != nil {
			t.Fatalf("pushed artifact %s: %v", data, err)
		}
		out = append(out, a)
	}
	return out
}

// manifestDigest resolves a reference to its manifest digest with crane.
func (e *clientEnv) manifestDigest(t *testing.T, ref string, extra ...string) string {
	t.Helper()
	return strings.TrimSpace(e.crane(t, append([]string{"digest", ref}, extra...)...).stdout)
}

// tags lists a repository's tags with crane; a repository the registry
// does not know has none.
func (e *clientEnv) tags(t *testing.T, repo string, extra ...string) []string {
	t.Helper()
	res := e.run(t, repoRoot, craneBin, append([]string{"ls", repo}, extra...)...)
	if res.code != 0 {
		if strings.Contains(res.stderr, "NAME_UNKNOWN") {
			return nil
		}
		t.Fatalf("crane ls %s: exit status %d\n%s", repo, res.code, res.stderr)
	}
	return strings.Fields(res.stdout)
}
