package mediatypes_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoDependencies keeps the package importable by anyone: it may use the
// standard library and the OCI image-spec's Go types, nothing else.
func TestNoDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	allowed := map[string]bool{
		"github.com/packyard/packyard/pkg/mediatypes":      true,
		"github.com/opencontainers/image-spec/specs-go":    true,
		"github.com/opencontainers/image-spec/specs-go/v1": true,
		"github.com/opencontainers/go-digest":              true,
	}
	for _, dep := range strings.Fields(string(out)) {
		if !allowed[dep] {
			t.Errorf("pkg/mediatypes depends on %s; it may import only the standard library and image-spec", dep)
		}
	}
}
