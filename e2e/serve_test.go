package e2e

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/packyard/packyard/internal/testenv"
	"github.com/packyard/packyard/internal/testfs"
)

// served is a `packyard serve` process.
type served struct {
	Host   string
	cmd    *exec.Cmd
	logs   *testenv.SyncBuffer
	exited chan error
	// stopped says stop saw the process exit.
	stopped bool
}

// serve starts `packyard serve` with args on a free loopback port and
// waits for /health.
func serve(t *testing.T, env []string, args ...string) *served {
	t.Helper()
	host := freeLoopbackAddr(t)
	return serveCommand(t, env, host, append([]string{packyardBin, "serve", "--addr", host}, args...)...)
}

// serveCommand starts argv, a command that runs `packyard serve` listening
// on host (itself, or through a wrapper such as unshare), and waits for
// /health.
func serveCommand(t *testing.T, env []string, host string, argv ...string) *served {
	t.Helper()
	s := &served{Host: host, logs: &testenv.SyncBuffer{}, exited: make(chan error, 1)}
	s.cmd = exec.Command(argv[0], argv[1:]...)
	s.cmd.Env = append(baseEnv(), env...)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.exited <- s.cmd.Wait() }()
	t.Cleanup(func() {
		if !s.stopped {
			_ = s.cmd.Process.Kill()
			if err := <-s.exited; err != nil && !strings.Contains(err.Error(), "killed") {
				t.Logf("%s: %v", strings.Join(argv, " "), err)
			}
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-s.exited:
			s.stopped = true // the cleanup must not wait for the exit again
			t.Fatalf("%s exited: %v\n%s", strings.Join(argv, " "), err, s.logs.String())
		default:
		}
		resp, err := http.Get("http://" + s.Host + "/health")
		if err == nil {
			resp.Body.Close()
			// A TLS server answers plain HTTP with 400: it is up.
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusBadRequest {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/health did not answer: %v\n%s", err, s.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and returns the exit error.
func (s *served) stop(t *testing.T) error {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.exited:
		s.stopped = true
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("packyard serve did not stop on SIGTERM\n%s", s.logs.String())
	}
	return nil
}

// The registry `packyard serve` runs holds what packyard, oras and crane
// push, keeps it across a restart, and stops cleanly on SIGTERM.
func TestServe(t *testing.T) {
	env := newClientEnv(t)
	data := filepath.Join(t.TempDir(), "data")
	s := serve(t, env.vars, "--data", data)
	reg := s.Host + "/demo"

	res := env.run(t, repoRoot, packyardBin, append(append([]string{"pack", "push"}, examplePacks(t)...), "-r", reg, "--plain-http")...)
	if res.code != 0 || !strings.Contains(res.stdout, "3 pushed") {
		t.Fatalf("push: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	// oras pulls the native pack's files.
	out := t.TempDir()
	if r := env.run(t, out, orasBin, "pull", "--plain-http", reg+"/packs/hello-chart:0.1.0", "-o", out); r.code != 0 {
		t.Fatalf("oras pull: %s", r.stderr)
	}
	testfs.SameTree(t, filepath.Join(repoRoot, "examples", "hello-chart"), out)
	// crane sees the repositories.
	if r := env.run(t, repoRoot, craneBin, "catalog", "--insecure", s.Host); r.code != 0 || !strings.Contains(r.stdout, "demo/spectro-packs/archive/hello-chart") {
		t.Errorf("crane catalog: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if err := s.stop(t); err != nil {
		t.Errorf("packyard serve exited with %v on SIGTERM\n%s", err, s.logs.String())
	}
	logs := s.logs.String()
	if strings.Contains(logs, "level=ERROR") {
		t.Errorf("errors logged:\n%s", logs)
	}
	if !strings.Contains(logs, "shutting down") {
		t.Errorf("no word of the shutdown:\n%s", logs)
	}

	// The content is in the data folder, and a new process serves it.
	s = serve(t, env.vars, "--data", data, "--log-format", "json")
	reg = s.Host + "/demo"
	pulled := filepath.Join(t.TempDir(), "hello-manifests")
	if r := env.run(t, repoRoot, packyardBin, "pack", "pull", "hello-manifests:1.0.0", pulled, "-r", reg, "--plain-http", "--format", "palette"); r.code != 0 {
		t.Fatalf("pull after restart: %s", r.stderr)
	}
	testfs.SameTree(t, filepath.Join(repoRoot, "examples", "hello-manifests"), pulled)
	if err := s.stop(t); err != nil {
		t.Error(err)
	}
	first, _, _ := strings.Cut(s.logs.String(), "\n")
	if !strings.HasPrefix(first, "{") {
		t.Errorf("--log-format json logged %q", first)
	}
}

// A configuration that cannot work stops `packyard serve` at once with a
// clear error, not a panic.
func TestServeBadConfiguration(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "registry.yml")
	if err := os.WriteFile(cfg, []byte("version: 0.1\nstorage:\n  nosuchdriver: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, packyardBin, "serve", "--config", cfg, "--addr", freeLoopbackAddr(t))
	cmd.Env = baseEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v\n%s", err, stderr.String())
	}
	msg := stderr.String()
	if !strings.Contains(msg, "Error:") || !strings.Contains(msg, "nosuchdriver") || strings.Contains(msg, "goroutine") {
		t.Errorf("stderr:\n%s", msg)
	}
}

// Pack versions on `packyard serve` are immutable: a forced push of changed
// content and a delete are refused with the reason, unless the server
// allows overwrites.
func TestServeImmutablePackVersions(t *testing.T) {
	env := newClientEnv(t)
	data := filepath.Join(t.TempDir(), "data")
	s := serve(t, env.vars, "--data", data)
	reg := s.Host + "/demo"
	pack := testfs.Copy(t, filepath.Join(repoRoot, "examples", "hello-chart"))
	env.mustRun(t, repoRoot, packyardBin, "pack", "push", pack, "-r", reg, "--plain-http")

	values := filepath.Join(pack, "values.yaml")
	old, err := os.ReadFile(values)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(values, append(old, []byte("\n# changed\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	res := env.run(t, repoRoot, packyardBin, "pack", "push", pack, "-r", reg, "--plain-http", "--force")
	if res.code == 0 || !strings.Contains(res.stderr, "pack version is immutable") || !strings.Contains(res.stderr, "new version") {
		t.Fatalf("forced push of changed content: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	res = env.run(t, repoRoot, packyardBin, "pack", "delete", "hello-chart:0.1.0", "-r", reg, "--plain-http")
	if res.code == 0 || !strings.Contains(res.stderr, "pack version is immutable") {
		t.Fatalf("delete: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	// What was first pushed is still there, whole.
	pulled := filepath.Join(t.TempDir(), "pulled")
	env.mustRun(t, repoRoot, packyardBin, "pack", "pull", "hello-chart:0.1.0", pulled, "-r", reg, "--plain-http")
	testfs.SameTree(t, filepath.Join(repoRoot, "examples", "hello-chart"), pulled)
	if err := s.stop(t); err != nil {
		t.Fatal(err)
	}

	// With overwrites allowed, --force replaces the version.
	s = serve(t, env.vars, "--data", data, "--allow-overwrite")
	reg = s.Host + "/demo"
	env.mustRun(t, repoRoot, packyardBin, "pack", "push", pack, "-r", reg, "--plain-http", "--force")
	pulled = filepath.Join(t.TempDir(), "pulled")
	env.mustRun(t, repoRoot, packyardBin, "pack", "pull", "hello-chart:0.1.0", pulled, "-r", reg, "--plain-http")
	testfs.SameTree(t, pack, pulled)
	env.mustRun(t, repoRoot, packyardBin, "pack", "delete", "hello-chart:0.1.0", "-r", reg, "--plain-http")
}

// `packyard serve gc` collects garbage in a stopped registry's storage and
// leaves every pack whole, the Palette base manifest included.
func TestServeGC(t *testing.T) {
	env := newClientEnv(t)
	data := filepath.Join(t.TempDir(), "data")
	s := serve(t, env.vars, "--data", data)
	reg := s.Host + "/demo"
	env.mustRun(t, repoRoot, packyardBin, append(append([]string{"pack", "push"}, examplePacks(t)...), "-r", reg, "--plain-http")...)
	// The Palette base manifest is the archive's manifest, untagged.
	archive := strings.TrimSpace(env.mustRun(t, repoRoot, craneBin, "digest", "--insecure", reg+"/spectro-packs/archive/hello-chart:0.1.0").stdout)
	if err := s.stop(t); err != nil {
		t.Fatal(err)
	}
	res := env.mustRun(t, repoRoot, packyardBin, "serve", "gc", "--data", data)
	if !strings.Contains(res.stdout, "eligible for deletion") {
		t.Fatalf("dry run said:\n%s", res.stdout)
	}
	env.mustRun(t, repoRoot, packyardBin, "serve", "gc", "--data", data, "--delete", "--delete-untagged", "-q")

	s = serve(t, env.vars, "--data", data)
	reg = s.Host + "/demo"
	for _, format := range []string{"native", "palette"} {
		pulled := filepath.Join(t.TempDir(), format)
		env.mustRun(t, repoRoot, packyardBin, "pack", "pull", "hello-chart:0.1.0", pulled, "-r", reg, "--plain-http", "--format", format)
		testfs.SameTree(t, filepath.Join(repoRoot, "examples", "hello-chart"), pulled)
	}
	env.mustRun(t, repoRoot, craneBin, "manifest", "--insecure", reg+"/spectro-packs/archive@"+archive)
}

// `make run`'s script serves, publishes the examples, and lists, inspects
// and pulls them back unchanged.
func TestMakeRunScript(t *testing.T) {
	tmp := t.TempDir()
	env := append(baseEnv(),
		"PACKYARD="+packyardBin,
		"RUN_ADDR="+freeLoopbackAddr(t),
		"RUN_DATA="+filepath.Join(tmp, "registry"),
		"RUN_OUT="+filepath.Join(tmp, "pulled"),
		"RUN_KEEP=0",
	)
	res := run(t, repoRoot, env, filepath.Join(repoRoot, "hack", "run.sh"))
	if res.code != 0 {
		t.Fatalf("hack/run.sh: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	for _, want := range []string{"3 pushed", "hello-chart", "pack.json:", "no differences"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("hack/run.sh output lacks %q:\n%s", want, res.stdout)
		}
	}
	// Run again on the same data: the packs are there already, unchanged.
	res = run(t, repoRoot, env, filepath.Join(repoRoot, "hack", "run.sh"))
	if res.code != 0 || !strings.Contains(res.stdout, "3 unchanged") {
		t.Fatalf("second run: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
}
