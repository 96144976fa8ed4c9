package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/packyard/packyard/internal/testfs"
)

// Two packyard servers on one storage folder, as replicas behind a load
// balancer share object storage: a pack pushed to one is pulled from the
// other, and the pack catalog of each lists it.
func TestServeScaleOut(t *testing.T) {
	env := newClientEnv(t)
	// The catalog re-reads storage every second to see the other's pushes.
	a, b := serveReplicas(t, env, "1s")

	env.mustRun(t, repoRoot, packyardBin, "pack", "push", filepath.Join(repoRoot, "examples", "hello-chart"), "-r", a.Host+"/team", "--plain-http")

	pulled := filepath.Join(t.TempDir(), "pulled")
	env.mustRun(t, repoRoot, packyardBin, "pack", "pull", "hello-chart:0.1.0", pulled, "-r", b.Host+"/team", "--plain-http")
	testfs.SameTree(t, filepath.Join(repoRoot, "examples", "hello-chart"), pulled)

	for _, s := range []*served{a, b} {
		var body string
		deadline := time.Now().Add(15 * time.Second)
		for {
			body = getBody(t, "http://"+s.Host+"/api/v1/packs?name=hello-chart")
			if strings.Contains(body, `"hello-chart"`) && strings.Contains(body, `"0.1.0"`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the catalog of %s does not list hello-chart 0.1.0 after 15s:\n%s", s.Host, body)
			}
			time.Sleep(200 * time.Millisecond)
		}
		ls := env.mustRun(t, repoRoot, packyardBin, "pack", "ls", "-r", s.Host+"/team", "--plain-http")
		if !strings.Contains(ls.stdout, "hello-chart") || !strings.Contains(ls.stdout, "0.1.0") {
			t.Errorf("pack ls on %s:\n%s", s.Host, ls.stdout)
		}
	}
}

func getBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

// serveReplicas starts two `packyard serve` replicas on one storage folder,
// as behind a load balancer: they share the storage and the secret that
// signs upload state. catalogRefresh, when set, is how often each catalog
// re-reads the storage.
func serveReplicas(t *testing.T, env *clientEnv, catalogRefresh string) (a, b *served) {
	t.Helper()
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %q
  delete:
    enabled: true
http:
  secret: shared-between-replicas
`, filepath.Join(t.TempDir(), "shared"))
	if catalogRefresh != "" {
		config += fmt.Sprintf(`middleware:
  registry:
    - name: packyard
      options:
        catalogrefresh: %s
`, catalogRefresh)
	}
	file := filepath.Join(t.TempDir(), "registry.yml")
	if err := os.WriteFile(file, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return serve(t, env.vars, "--config", file), serve(t, env.vars, "--config", file)
}
