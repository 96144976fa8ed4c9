// Package e2e drives the packyard binary, built once for the whole run, and
// checks what it makes with real third-party clients (oras, tar) installed
// at pinned versions by hack/tools.sh.
package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/packyard/packyard/internal/testenv"
)

// Build information stamped into the binary under test.
const (
	testVersion = "v9.8.7-e2e"
	testCommit  = "0123456789ab"
	testDate    = "2024-05-06T07:08:09Z"
)

var (
	// repoRoot is the repository's top folder.
	repoRoot string
	// packyardBin is the binary under test.
	packyardBin string
	// orasBin is the oras CLI that hack/tools.sh installs.
	orasBin string
	// craneBin, helmBin and registryBin are crane, helm and the standalone
	// distribution registry, installed by hack/tools.sh too.
	craneBin, helmBin, registryBin string
)

// e2eTools are the tools hack/tools.sh installs for these tests.
var e2eTools = []string{"oras", "crane", "helm", "registry"}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	var err error
	repoRoot, err = testenv.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "packyard-e2e-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer func() {
		if err := os.RemoveAll(tmp); err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
		}
	}()

	packyardBin = filepath.Join(tmp, "packyard")
	ldflags := fmt.Sprintf("-X main.version=%s -X main.commit=%s -X main.date=%s", testVersion, testCommit, testDate)
	build := exec.Command("go", "build", "-ldflags", ldflags, "-o", packyardBin, "./cmd/packyard")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: building packyard: %v\n%s", err, out)
		return 1
	}

	toolsDir := os.Getenv("TOOLS_DIR")
	if toolsDir == "" {
		toolsDir = filepath.Join(repoRoot, "bin", "tools")
	} else if !filepath.IsAbs(toolsDir) {
		// hack/tools.sh, run from the root, reads it from there.
		toolsDir = filepath.Join(repoRoot, toolsDir)
	}
	orasBin = filepath.Join(toolsDir, "oras")
	craneBin = filepath.Join(toolsDir, "crane")
	helmBin = filepath.Join(toolsDir, "helm")
	registryBin = filepath.Join(toolsDir, "registry")
	// The script skips a tool that is installed at its pinned version, so
	// this costs a moment once the tools are there.
	tools := exec.Command("bash", append([]string{filepath.Join(repoRoot, "hack", "tools.sh")}, e2eTools...)...)
	tools.Dir = repoRoot
	tools.Env = append(os.Environ(), "TOOLS_DIR="+toolsDir)
	start := time.Now()
	if out, err := tools.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: hack/tools.sh %s: %v\n%s", strings.Join(e2eTools, " "), err, out)
		return 1
	} else if time.Since(start) > 5*time.Second {
		// Say what took the time.
		fmt.Fprintf(os.Stderr, "%s", out)
	}
	return m.Run()
}

// result is what a finished command printed and how it exited.
type result struct {
	stdout, stderr string
	code           int
}

// run runs a command in dir and returns its output and exit code. It fails
// the test when the command cannot start or is killed.
func run(t *testing.T, dir string, env []string, name string, args ...string) result {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(baseEnv(), env...)
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

// baseEnv is the environment commands inherit, without SOURCE_DATE_EPOCH:
// the tests expect builds without a creation time unless they set one.
func baseEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "SOURCE_DATE_EPOCH=")
	})
}

// mustRun runs a command that must exit 0.
func mustRun(t *testing.T, dir string, env []string, name string, args ...string) result {
	t.Helper()
	res := run(t, dir, env, name, args...)
	if res.code != 0 {
		t.Fatalf("%s %s: exit status %d\nstdout:\n%s\nstderr:\n%s", filepath.Base(name), strings.Join(args, " "),
			res.code, res.stdout, res.stderr)
	}
	return res
}

// packyard runs the binary under test from the repository root.
func packyard(t *testing.T, args ...string) result {
	t.Helper()
	return run(t, repoRoot, nil, packyardBin, args...)
}

func mustPackyard(t *testing.T, args ...string) result {
	t.Helper()
	return mustRun(t, repoRoot, nil, packyardBin, args...)
}

// oras runs the oras CLI in dir.
func oras(t *testing.T, dir string, args ...string) result {
	t.Helper()
	return mustRun(t, dir, nil, orasBin, args...)
}

// examplePacks are the pack folders under examples/, relative to the root.
func examplePacks(t *testing.T) []string {
	t.Helper()
	return packDirs(t, "examples")
}

// allPacks are the example packs and the community packs of testdata.
func allPacks(t *testing.T) []string {
	t.Helper()
	return append(examplePacks(t), packDirs(t, filepath.Join("testdata", "packs"))...)
}

func packDirs(t *testing.T, parent string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(repoRoot, parent))
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join(parent, e.Name()))
		}
	}
	if len(dirs) == 0 {
		t.Fatalf("no packs in %s", parent)
	}
	return dirs
}

// abs makes a path relative to the repository root absolute.
func abs(rel string) string {
	if filepath.IsAbs(rel) {
		return rel
	}
	return filepath.Join(repoRoot, rel)
}
