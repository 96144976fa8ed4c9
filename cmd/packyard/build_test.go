package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/packyard/packyard/pkg/packer"
)

// Two packs that would share a tag in one layout are refused before either
// is built, so a failed call leaves nothing behind.
func TestBuildRefusesTagClashBeforeWriting(t *testing.T) {
	out := filepath.Join(t.TempDir(), "layout")
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"pack", "build", "../../examples/hello-manifests", "../../examples/custom-ubuntu-os", "-o", out}, &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit code %d, want 1; stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), `both want tag "1.0.0"`) || !strings.Contains(stderr.String(), "separate layouts") {
		t.Errorf("stderr does not explain the clash:\n%s", stderr.String())
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("layout folder exists after a refused build: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(out))
	if len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
}

func TestBuildJSONAndUnpack(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "layout")
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"pack", "build", "../../examples/hello-chart", "-o", out, "--json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("build exit %d: %s", code, stderr.String())
	}
	var results []packer.BuildResult
	if err := json.Unmarshal(stdout.Bytes(), &results); err != nil {
		t.Fatalf("build --json output: %v\n%s", err, stdout.String())
	}
	if len(results) != 1 || results[0].Name != "hello-chart" || results[0].Native == nil || results[0].Palette == nil {
		t.Fatalf("build result: %+v", results)
	}

	// The palette tag holds the Palette encoding; asking it for the native
	// one is an error that says so.
	stdout.Reset()
	stderr.Reset()
	code := run(t.Context(), []string{"pack", "unpack", out + ":0.1.0-palette", filepath.Join(dir, "x"), "--format", "native"}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "holds the palette encoding, not the native one") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr.String())
	}

	stdout.Reset()
	stderr.Reset()
	target := filepath.Join(dir, "unpacked")
	if code := run(t.Context(), []string{"pack", "unpack", out + ":0.1.0", target, "--json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("unpack exit %d: %s", code, stderr.String())
	}
	var res packer.UnpackResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if res.Encoding != "native" || res.Manifest.Digest != results[0].Native.Manifest.Digest || len(res.Manifest.Annotations) != 0 {
		t.Errorf("unpack result %+v", res)
	}

	// A file where the folder should go gets its own message, not advice
	// to force.
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	stderr.Reset()
	code = run(t.Context(), []string{"pack", "unpack", out, file, "--force"}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "is a file") || strings.Contains(stderr.String(), "--force") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr.String())
	}
}
