package e2e

import (
	"github.com/packyard/packyard/internal/testfs"

	"path/filepath"
	"testing"
)

// TestRegistryHarness checks the registry variants the other tests use
// with oras alone, so that a failure there points at packyard, not at the
// harness.
func TestRegistryHarness(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts registryOptions
	}{
		{"plain", registryOptions{}},
		{"htpasswd", registryOptions{Htpasswd: true}},
		{"tls", registryOptions{TLS: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := startRegistry(t, tc.opts)
			env := newClientEnv(t)
			tmp := t.TempDir()
			dir := abs(filepath.Join("examples", "hello-manifests"))
			var conn []string
			if tc.opts.TLS {
				conn = []string{"--ca-file", reg.CAFile}
			} else {
				conn = []string{"--plain-http"}
			}
			if tc.opts.Htpasswd {
				res := env.runStdin(t, tmp, "wrong", orasBin, append([]string{"login", reg.Host, "-u", reg.User, "--password-stdin"}, conn...)...)
				if res.code == 0 {
					t.Fatalf("oras login with a wrong password succeeded")
				}
				res = env.runStdin(t, tmp, reg.Password, orasBin, append([]string{"login", reg.Host, "-u", reg.User, "--password-stdin"}, conn...)...)
				if res.code != 0 {
					t.Fatalf("oras login: %s", res.stderr)
				}
			}
			ref := reg.Host + "/harness/values:1"
			env.oras(t, dir, append([]string{"push", ref, "values.yaml"}, conn...)...)
			out := filepath.Join(tmp, "out")
			env.oras(t, tmp, append([]string{"pull", ref, "-o", out}, conn...)...)
			if got, want := testfs.Tree(t, out)["values.yaml"], testfs.Tree(t, dir)["values.yaml"]; got != want {
				t.Errorf("pulled values.yaml %q, want %q", got, want)
			}
		})
	}
}
