// Package bench holds the registry benchmarks: the built packyard binary
// against the oras CLI and the documented `tar czf` + `oras push` loop, on
// one standalone distribution registry process on loopback, installed at a
// pinned version by hack/tools.sh; and `packyard serve` against that
// registry program, taking turns on the same storage. Figures are in
// docs/benchmarks.md.
//
// The package has benchmarks only; `go test` without -bench builds nothing
// and starts nothing.
package bench

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/packyard/packyard/internal/testenv"
)

var (
	// repoRoot is the repository's top folder.
	repoRoot string
	// tmpRoot holds everything the run writes: the binary, the registry's
	// storage, the client's configuration. It is removed at the end.
	tmpRoot string
	// packyardBin, orasBin and registryBin are the programs compared and
	// the registry they talk to.
	packyardBin, orasBin, registryBin string
	// clientEnv is the environment of every client command: its own docker
	// config and home, never the user's.
	clientEnv []string

	setupOnce sync.Once
	setupErr  error

	// reg is the one registry process of the run, started by the first
	// benchmark that needs it and stopped when the run ends.
	reg     *registry
	regOnce sync.Once
	regErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if reg != nil {
		reg.stop()
	}
	if tmpRoot != "" {
		_ = os.RemoveAll(tmpRoot)
	}
	os.Exit(code)
}

// setup builds packyard and finds the tools, once per run.
func setup(b *testing.B) {
	b.Helper()
	setupOnce.Do(func() { setupErr = doSetup() })
	if setupErr != nil {
		b.Fatal(setupErr)
	}
}

func doSetup() error {
	var err error
	if repoRoot, err = testenv.RepoRoot(); err != nil {
		return err
	}
	if tmpRoot, err = os.MkdirTemp("", "packyard-bench-*"); err != nil {
		return err
	}
	packyardBin = filepath.Join(tmpRoot, "packyard")
	build := exec.Command("go", "build", "-trimpath", "-o", packyardBin, "./cmd/packyard")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building packyard: %w\n%s", err, out)
	}
	toolsDir := os.Getenv("TOOLS_DIR")
	if toolsDir == "" {
		toolsDir = filepath.Join(repoRoot, "bin", "tools")
	} else if !filepath.IsAbs(toolsDir) {
		toolsDir = filepath.Join(repoRoot, toolsDir)
	}
	orasBin = filepath.Join(toolsDir, "oras")
	registryBin = filepath.Join(toolsDir, "registry")
	for _, bin := range []string{orasBin, registryBin} {
		if _, err := os.Stat(bin); err != nil {
			return fmt.Errorf("%w: run `make e2e-tools` (hack/tools.sh oras registry) first", err)
		}
	}
	home := filepath.Join(tmpRoot, "home")
	for _, sub := range []string{"docker", "config", "cache", "data"} {
		if err := os.MkdirAll(filepath.Join(home, sub), 0o700); err != nil {
			return err
		}
	}
	clientEnv = append(slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "SOURCE_DATE_EPOCH=") || strings.HasPrefix(kv, "PACKYARD_REGISTRY=")
	}),
		"DOCKER_CONFIG="+filepath.Join(home, "docker"),
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"),
		"XDG_CACHE_HOME="+filepath.Join(home, "cache"),
		"XDG_DATA_HOME="+filepath.Join(home, "data"),
		"HOME="+home,
	)
	return nil
}

// serverKind is a program that serves the registry API.
type serverKind string

const (
	// distributionServer is the standalone distribution registry
	// (`registry serve CONFIG`).
	distributionServer serverKind = "distribution"
	// packyardServer is `packyard serve --config CONFIG`: the same
	// registry, embedded, with packyard's additions.
	packyardServer serverKind = "packyard"
)

// registry is a registry process, the standalone distribution registry or
// `packyard serve`, with filesystem storage in a folder, on a loopback
// port. Both read the same configuration file: warn level, no access log.
type registry struct {
	// Kind is the program serving.
	Kind serverKind
	// Host is 127.0.0.1:PORT.
	Host string
	// DebugHost, when not empty, is the debug server's 127.0.0.1:PORT:
	// pprof at /debug/pprof/ (both programs serve it at http.debug.addr).
	DebugHost string
	// Storage is the filesystem storage's root folder.
	Storage string

	cmd    *exec.Cmd
	exited chan struct{}
	log    *os.File
}

// serverOptions say how to start a registry process.
type serverOptions struct {
	// Kind is the program to start; the zero value is distribution.
	Kind serverKind
	// Dir holds the storage (Dir/storage), the configuration file and
	// the log (Dir/KIND.log, appended to).
	Dir string
	// Debug starts the debug server (pprof) on another loopback port.
	Debug bool
}

// sharedRegistry starts the run's registry on first use.
func sharedRegistry(b *testing.B) *registry {
	b.Helper()
	setup(b)
	regOnce.Do(func() { reg, regErr = startRegistry() })
	if regErr != nil {
		b.Fatal(regErr)
	}
	return reg
}

func startRegistry() (*registry, error) {
	return startServer(serverOptions{Kind: distributionServer, Dir: filepath.Join(tmpRoot, "registry")})
}

// startServer starts a registry process as opts say and waits until it
// answers /v2/.
func startServer(opts serverOptions) (*registry, error) {
	kind := opts.Kind
	if kind == "" {
		kind = distributionServer
	}
	r := &registry{Kind: kind, Storage: filepath.Join(opts.Dir, "storage")}
	if err := os.MkdirAll(r.Storage, 0o755); err != nil {
		return nil, err
	}
	var err error
	// The registry logs each 404 of a client's existence check at error
	// level: keep its log in a file, read only when it fails.
	if r.log, err = os.OpenFile(filepath.Join(opts.Dir, string(kind)+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
		return nil, err
	}
	var lastErr error
	for range 5 { // another process may take the port first
		if r.Host, err = freeLoopbackAddr(); err != nil {
			break
		}
		debug := ""
		if opts.Debug {
			if r.DebugHost, err = freeLoopbackAddr(); err != nil {
				break
			}
			debug = fmt.Sprintf("  debug:\n    addr: %s\n", r.DebugHost)
		}
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
%s`, r.Storage, r.Host, debug)
		configFile := filepath.Join(opts.Dir, "config.yml")
		if err = os.WriteFile(configFile, []byte(config), 0o644); err != nil {
			break
		}
		if lastErr = r.start(configFile); lastErr == nil {
			return r, nil
		}
	}
	_ = r.log.Close()
	if err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("starting %s: %w", kind, lastErr)
}

func (r *registry) start(configFile string) error {
	switch r.Kind {
	case packyardServer:
		// packyard's log level is its flag's; the configuration's
		// accesslog.disabled turns its access log off.
		r.cmd = exec.Command(packyardBin, "serve", "--config", configFile, "--log-level", "warn")
	default:
		r.cmd = exec.Command(registryBin, "serve", configFile)
	}
	r.cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none", "OTEL_METRICS_EXPORTER=none", "OTEL_LOGS_EXPORTER=none")
	r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
	if err := r.cmd.Start(); err != nil {
		return err
	}
	r.exited = make(chan struct{})
	var waitErr error
	go func() { waitErr = r.cmd.Wait(); close(r.exited) }()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-r.exited:
			return fmt.Errorf("%s exited: %w", r.Kind, waitErr)
		default:
		}
		resp, err := client.Get("http://" + r.Host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			r.kill()
			return fmt.Errorf("/v2/ did not answer within 30s: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop stops the process (SIGTERM, then SIGKILL after 5s) and closes its
// log.
func (r *registry) stop() {
	r.kill()
	_ = r.log.Close()
}

func (r *registry) kill() {
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(5 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.exited
	}
}

func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

// usage is what one command cost: its wall time, the CPU time it and the
// processes it waited for used, and the CPU time the registry used
// meanwhile.
type usage struct {
	Wall, CPU, RegistryCPU time.Duration
	// PeakMiB is the command's peak resident memory (of its largest
	// process, for a script).
	PeakMiB float64
}

// run runs a command in dir with the client environment, and fails the
// benchmark unless it exits 0. It returns the command's stdout.
func run(b *testing.B, dir, name string, args ...string) []byte {
	b.Helper()
	out, _ := runUsage(b, dir, name, args...)
	return out
}

// runUsage runs a command like run and says what it cost.
func runUsage(b *testing.B, dir, name string, args ...string) ([]byte, usage) {
	b.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = clientEnv
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	reg0 := registryCPU()
	start := time.Now()
	err := cmd.Run()
	u := usage{Wall: time.Since(start), RegistryCPU: registryCPU() - reg0}
	if err != nil {
		b.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(name), strings.Join(args, " "), err,
			tail(stdout.String()), tail(stderr.String()))
	}
	u.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		u.PeakMiB = float64(ru.Maxrss) / 1024 // KiB on Linux
	}
	return stdout.Bytes(), u
}

// timed runs a command like run and says what it cost.
func timed(b *testing.B, dir, name string, args ...string) usage {
	b.Helper()
	_, u := runUsage(b, dir, name, args...)
	return u
}

// registryCPU is the CPU time the run's shared registry has used so far.
func registryCPU() time.Duration {
	if reg == nil {
		return 0
	}
	return reg.cpu()
}

// cpu is the CPU time the process has used so far, read from
// /proc/PID/stat (utime and stime, in clock ticks of 10 ms).
func (r *registry) cpu() time.Duration {
	if r.cmd == nil || r.cmd.Process == nil {
		return 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", r.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	_, rest, ok := strings.Cut(string(data), ") ")
	if !ok {
		return 0
	}
	// rest starts at field 3 (state); utime and stime are fields 14 and 15.
	fields := strings.Fields(rest)
	if len(fields) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

func tail(s string) string {
	if len(s) > 4000 {
		return "..." + s[len(s)-4000:]
	}
	return s
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}
