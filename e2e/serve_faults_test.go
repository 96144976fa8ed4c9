package e2e

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/packyard/packyard/internal/testenv"
	"github.com/packyard/packyard/internal/testfs"
)

// This file puts `packyard serve` through faults: killed with SIGKILL in the
// middle of pushes, out of disk space, and raced by many clients pushing
// one version. Whatever happens, no pack version is visible half-pushed,
// what was stored stays whole, and the client's next push completes.

// kill ends the server with SIGKILL, as a crash or the OOM killer does.
func (s *served) kill(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.exited:
		s.stopped = true
		if err == nil {
			t.Fatalf("packyard serve had exited before the kill\n%s", s.logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("packyard serve did not die on SIGKILL\n%s", s.logs.String())
	}
}

// writeBulkPack writes a pack named name, version 1.0.0, into dir: a valid
// Helm chart archive of about size bytes of incompressible content drawn
// from seed, stored without compression, and the pack's small files. It
// returns the pack's folder.
func writeBulkPack(t *testing.T, dir, name string, size int64, seed uint64) string {
	t.Helper()
	pack := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Join(pack, "charts"), 0o755); err != nil {
		t.Fatal(err)
	}
	chart := "charts/" + name + "-1.0.0.tgz"
	files := map[string]string{
		"pack.json": fmt.Sprintf(`{"name": %q, "displayName": "Bulk %s", "version": "1.0.0", "layer": "addon", "addonType": "storage", `+
			`"cloudTypes": ["all"], "charts": [%q]}`, name, name, chart),
		"values.yaml": fmt.Sprintf("pack:\n  namespace: %s\n  content:\n    images: []\ncharts:\n  %s:\n    replicas: 1\n", name, name),
		"README.md":   "# " + name + "\n\nA large pack for the fault tests of packyard serve.\n",
	}
	for rel, content := range files {
		if err := os.WriteFile(filepath.Join(pack, rel), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Create(filepath.Join(pack, filepath.FromSlash(chart)))
	if err != nil {
		t.Fatal(err)
	}
	zw, _ := gzip.NewWriterLevel(f, gzip.NoCompression)
	tw := tar.NewWriter(zw)
	mtime := time.Unix(1700000000, 0)
	add := func(name string, data []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: mtime}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	add(name+"/Chart.yaml", fmt.Appendf(nil, "apiVersion: v2\nname: %s\nversion: 1.0.0\n", name))
	// Helm refuses chart files over 5 MiB.
	rng := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)})
	buf := make([]byte, 4<<20)
	for i := 0; size > 0; i++ {
		b := buf[:min(size, int64(len(buf)))]
		_, _ = rng.Read(b)
		add(fmt.Sprintf("%s/files/blob-%02d.bin", name, i), b)
		size -= int64(len(b))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return pack
}

// holdProxy forwards requests to a registry, and holds the body of the
// first request that hold picks after the number of bytes hold says: the
// registry then has the request's headers and the first part of its body,
// and waits for the rest, until the registry is killed.
type holdProxy struct {
	Host string
	srv  *httptest.Server
	hold func(*http.Request) (int64, bool)
	// held is closed when the picked request's body is held; request
	// says which request it is.
	held    chan struct{}
	request string
	picked  atomic.Bool
	release chan struct{}
	once    sync.Once
}

func startHoldProxy(t *testing.T, backend string, hold func(*http.Request) (int64, bool)) *holdProxy {
	t.Helper()
	p := &holdProxy{hold: hold, held: make(chan struct{}), release: make(chan struct{})}
	target := &url.URL{Scheme: "http", Host: backend}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			// The registry's Location headers lead back to the proxy.
			pr.Out.Host = pr.In.Host
			if pr.In.Body == nil || pr.In.ContentLength <= 0 {
				return
			}
			if n, ok := p.hold(pr.In); ok && p.picked.CompareAndSwap(false, true) {
				p.request = pr.In.Method + " " + pr.In.URL.Path
				pr.Out.Body = &heldBody{ReadCloser: pr.Out.Body, left: n, p: p}
			}
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) {
			// The registry is gone, and so is the client's connection, as
			// it would be without the proxy.
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				_ = conn.Close()
				return
			}
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	p.srv = httptest.NewServer(rp)
	p.Host = strings.TrimPrefix(p.srv.URL, "http://")
	t.Cleanup(p.close)
	return p
}

// close lets a held body go and closes the proxy and its connections, as a
// registry that is gone does: new connections are refused.
func (p *holdProxy) close() {
	p.once.Do(func() {
		close(p.release)
		p.srv.CloseClientConnections()
		p.srv.Close()
	})
}

// waitHeld waits until the proxy holds a body.
func (p *holdProxy) waitHeld(t *testing.T, pushErr *testenv.SyncBuffer) {
	t.Helper()
	select {
	case <-p.held:
	case <-time.After(60 * time.Second):
		t.Fatalf("no request to hold came in 60s; the push said:\n%s", pushErr.String())
	}
}

type heldBody struct {
	io.ReadCloser
	left int64
	p    *holdProxy
	once sync.Once
}

func (b *heldBody) Read(buf []byte) (int, error) {
	if b.left <= 0 {
		b.once.Do(func() { close(b.p.held) })
		<-b.p.release
		return 0, errors.New("the registry is gone")
	}
	if int64(len(buf)) > b.left {
		buf = buf[:b.left]
	}
	n, err := b.ReadCloser.Read(buf)
	b.left -= int64(n)
	return n, err
}

// startBarrierProxy forwards requests to a registry, and holds the ones
// that match until n of them have come, to let them go at once: the
// registry gets them at the same moment. After a minute it lets them go
// anyway, and arrived says how many came.
func startBarrierProxy(t *testing.T, backend string, n int, match func(*http.Request) bool) (host string, arrived func() int) {
	t.Helper()
	target := &url.URL{Scheme: "http", Host: backend}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.Out.Host = pr.In.Host
	}}
	var mu sync.Mutex
	count := 0
	all := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if match(r) {
			mu.Lock()
			if count++; count == n {
				close(all)
			}
			mu.Unlock()
			select {
			case <-all:
			case <-time.After(time.Minute):
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), func() int {
		mu.Lock()
		defer mu.Unlock()
		return count
	}
}

// repoDir is the folder of a repository in the storage folder data.
func repoDir(data, repo string) string {
	return filepath.Join(data, "docker", "registry", "v2", "repositories", filepath.FromSlash(repo))
}

// largestUpload is the size of the largest upload in progress in the
// repository, or -1 when there is none.
func largestUpload(data, repo string) int64 {
	dir := filepath.Join(repoDir(data, repo), "_uploads")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return -1
	}
	largest := int64(-1)
	for _, e := range entries {
		largest = max(largest, 0)
		if fi, err := os.Stat(filepath.Join(dir, e.Name(), "data")); err == nil {
			largest = max(largest, fi.Size())
		}
	}
	return largest
}

// catalogVersions maps each version of the pack name that the catalog of
// the registry at host lists below demo to its encodings.
func catalogVersions(t *testing.T, host, name string) map[string][]string {
	t.Helper()
	var cat struct {
		Packs []struct {
			Name, Base string
			Versions   []struct {
				Version   string
				Encodings []string
			}
		}
	}
	body := getBody(t, "http://"+host+"/api/v1/packs")
	if err := json.Unmarshal([]byte(body), &cat); err != nil {
		t.Fatalf("catalog: %v\n%s", err, body)
	}
	out := map[string][]string{}
	for _, p := range cat.Packs {
		if p.Name == name && p.Base == "demo" {
			for _, v := range p.Versions {
				out[v.Version] = v.Encodings
			}
		}
	}
	return out
}

// manifestBlobs lists the digests of a manifest and of the blobs it
// references.
func (e *clientEnv) manifestBlobs(t *testing.T, ref string) []string {
	t.Helper()
	var m struct {
		Config struct{ Digest string }
		Layers []struct{ Digest string }
	}
	if err := json.Unmarshal(e.fetchManifest(t, ref), &m); err != nil {
		t.Fatalf("%s: %v", ref, err)
	}
	out := []string{e.manifestDigest(t, ref, "--insecure"), m.Config.Digest}
	for _, l := range m.Layers {
		out = append(out, l.Digest)
	}
	return out
}

// gcDryRun runs `packyard serve gc` without --delete on the storage folder
// data, which it must read without an error, and fails the test if it
// would delete any of the blobs keep.
func (e *clientEnv) gcDryRun(t *testing.T, data string, keep []string) {
	t.Helper()
	res := e.run(t, repoRoot, packyardBin, "serve", "gc", "--data", data)
	if res.code != 0 || strings.Contains(strings.ToLower(res.stderr), "error") {
		t.Fatalf("serve gc (dry run) on the storage after the kill: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	for line := range strings.Lines(res.stdout) {
		if !strings.Contains(line, "eligible for deletion") {
			continue
		}
		for _, d := range keep {
			if strings.Contains(line, d) {
				t.Errorf("gc would delete %s, which a tagged pack version needs:\n%s", d, line)
			}
		}
	}
}

// The encodings of a pack, as --format names them.
const (
	encNative  = "native"
	encPalette = "palette"
)

// killPoint is a moment of a push at which the registry is killed.
type killPoint struct {
	name string
	// format is the push's --format.
	format string
	// hold picks the request the registry is killed in, and how many
	// bytes of its body it gets.
	hold func(*http.Request) (int64, bool)
	// partial, when set, is the repository, "native" or "palette", that
	// must hold an upload in progress of at least minUpload bytes when
	// the registry is killed.
	partial   string
	minUpload int64
}

// bulkSize is the size of the chart of the packs pushed when the registry
// is killed.
const bulkSize = 16 << 20

// uploadTo says whether r sends blob content to a repository whose path
// contains repoPart: a PUT or PATCH of an upload, of at least minSize
// bytes.
func uploadTo(r *http.Request, repoPart string, minSize int64) bool {
	return (r.Method == http.MethodPut || r.Method == http.MethodPatch) && strings.Contains(r.URL.Path, "/blobs/uploads/") &&
		strings.Contains(r.URL.Path, repoPart) && r.ContentLength >= minSize
}

var killPoints = []killPoint{
	{
		// The first blob upload has started, and none of its content is
		// there.
		name: "first-upload", format: "both",
		hold: func(r *http.Request) (int64, bool) {
			return 0, uploadTo(r, "/packs/", 1)
		},
		partial: encNative, minUpload: 0,
	},
	{
		// Half of the chart archive is uploaded.
		name: "mid-chart", format: "both",
		hold: func(r *http.Request) (int64, bool) {
			return r.ContentLength / 2, uploadTo(r, "/packs/", 1<<20)
		},
		partial: encNative, minUpload: bulkSize / 4,
	},
	{
		// A Palette-only push, half of the archive uploaded.
		name: "palette-archive", format: "palette",
		hold: func(r *http.Request) (int64, bool) {
			return r.ContentLength / 2, uploadTo(r, "/spectro-packs/archive/", 1<<20)
		},
		partial: encPalette, minUpload: bulkSize / 4,
	},
	{
		// Every blob is uploaded; half of the manifest is sent.
		name: "manifest-put", format: "both",
		hold: func(r *http.Request) (int64, bool) {
			return r.ContentLength / 2, r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/")
		},
	},
	{
		// The native artifact's blobs are uploaded, and half of the
		// archive: the blobs of both encodings go before either manifest,
		// so neither is tagged.
		name: "second-encoding", format: "both",
		hold: func(r *http.Request) (int64, bool) {
			return r.ContentLength / 2, uploadTo(r, "/spectro-packs/archive/", 1<<20)
		},
		partial: encPalette, minUpload: bulkSize / 4,
	},
}

// The registry killed with SIGKILL at several moments of a push leaves no
// pack version half-pushed and visible: after a restart on the same
// storage, the version is neither pulled nor listed (each encoding is
// there whole or not at all), the packs pushed before pull whole and
// unchanged, garbage collection reads the storage without an error, and
// the same push completes, its pull matching the pack byte for byte.
func TestServeKillDuringPush(t *testing.T) {
	env := newClientEnv(t)
	data := filepath.Join(t.TempDir(), "data")
	s := serve(t, env.vars, "--data", data, "--log-level", "warn")
	reg := s.Host + "/demo"
	res := env.mustRun(t, repoRoot, packyardBin, append(append([]string{"pack", "push"}, examplePacks(t)...),
		"-r", reg, "--plain-http", "-o", "json")...)
	before := pushedArtifacts(t, res.stdout)
	if len(before) != 2*len(examplePacks(t)) {
		t.Fatalf("pushed %d artifacts of the examples, want %d:\n%s", len(before), 2*len(examplePacks(t)), res.stdout)
	}
	// keep are the blobs of every tagged version, which gc must keep.
	var keep []string
	for _, a := range before {
		keep = append(keep, env.manifestBlobs(t, reg+"/"+strings.TrimPrefix(a.Repository, "demo/")+":"+a.Tag)...)
	}

	packs := t.TempDir()
	for i, point := range killPoints {
		name := "bulk-" + point.name
		pack := writeBulkPack(t, packs, name, bulkSize, uint64(i+1))
		repos := map[string]string{encNative: "demo/packs/" + name, encPalette: "demo/spectro-packs/archive/" + name}
		formats := []string{encNative, encPalette}
		if point.format != "both" {
			formats = []string{point.format}
		}

		// Push through a proxy that holds the body of the request the
		// registry dies in.
		proxy := startHoldProxy(t, s.Host, point.hold)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		push, _, pushErr := env.command(ctx, packyardBin, "pack", "push", pack, "-r", proxy.Host+"/demo", "--plain-http", "--format", point.format)
		if err := push.Start(); err != nil {
			t.Fatal(err)
		}
		proxy.waitHeld(t, pushErr)
		if point.partial != "" {
			repo := repos[point.partial]
			deadline := time.Now().Add(30 * time.Second)
			for largestUpload(data, repo) < point.minUpload {
				if time.Now().After(deadline) {
					t.Fatalf("%s: no upload of %d bytes in %s after 30s (%s held)", point.name, point.minUpload, repo, proxy.request)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		s.kill(t)
		proxy.close()
		err := push.Wait()
		cancel()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("%s: the push the registry died in (%s held) ended with %v, want exit status 1\n%s", point.name, proxy.request, err, pushErr.String())
		}
		if msg := pushErr.String(); !strings.Contains(msg, "was cut in the middle of a request") && !strings.Contains(msg, "connection refused") {
			t.Errorf("%s: the push the registry died in (%s held) does not say the connection was lost:\n%s", point.name, proxy.request, msg)
		}

		// The storage as the kill left it, the cut upload included (the
		// upload purger deletes it once it is old).
		env.gcDryRun(t, data, keep)
		s = serve(t, env.vars, "--data", data, "--log-level", "warn")
		reg = s.Host + "/demo"
		if point.partial != "" && largestUpload(data, repos[point.partial]) < point.minUpload {
			t.Errorf("%s: the upload the kill cut off is not in %s", point.name, repos[point.partial])
		}

		// No encoding of the version is there.
		for _, enc := range formats {
			out := filepath.Join(t.TempDir(), enc)
			r := env.run(t, repoRoot, packyardBin, "pack", "pull", name+":1.0.0", out, "-r", reg, "--plain-http", "--format", enc)
			switch {
			case r.code == 0:
				t.Errorf("%s: the %s encoding of %s:1.0.0 is visible after the kill", point.name, enc, name)
			case r.code != 1 || !strings.Contains(r.stderr, "not found"):
				t.Errorf("%s: pull --format %s after the kill: exit %d, want 1 and not found\n%s", point.name, enc, r.code, r.stderr)
			}
		}
		if encs, ok := catalogVersions(t, s.Host, name)["1.0.0"]; ok {
			t.Errorf("%s: the catalog lists %s 1.0.0 with %v after the kill", point.name, name, encs)
		}
		if ls := env.mustRun(t, repoRoot, packyardBin, "pack", "ls", "-r", reg, "--plain-http"); strings.Contains(ls.stdout, name) {
			t.Errorf("%s: pack ls lists %s after the kill:\n%s", point.name, name, ls.stdout)
		}
		// The packs pushed before are there, unchanged, and pull whole.
		for _, a := range before {
			ref := reg + "/" + strings.TrimPrefix(a.Repository, "demo/") + ":" + a.Tag
			if got := env.manifestDigest(t, ref, "--insecure"); got != a.Manifest.Digest {
				t.Errorf("%s: %s is %s after the kill, was %s", point.name, ref, got, a.Manifest.Digest)
			}
		}
		example := examplePacks(t)[i%len(examplePacks(t))]
		out := filepath.Join(t.TempDir(), "example")
		env.mustRun(t, repoRoot, packyardBin, "pack", "pull", filepath.Base(example)+":"+exampleVersion(t, example), out,
			"-r", reg, "--plain-http", "--format", formats[i%len(formats)])
		testfs.SameTree(t, abs(example), out)

		// The next push completes, and the pack pulls back unchanged.
		res := env.mustRun(t, repoRoot, packyardBin, "pack", "push", pack, "-r", reg, "--plain-http", "--format", point.format, "-o", "json")
		for _, a := range pushedArtifacts(t, res.stdout) {
			if a.Status != "pushed" {
				t.Errorf("%s: the push after the restart %s the %s encoding, want pushed", point.name, a.Status, a.Encoding)
			}
			keep = append(keep, env.manifestBlobs(t, reg+"/"+strings.TrimPrefix(a.Repository, "demo/")+":"+a.Tag)...)
		}
		for _, enc := range formats {
			out := filepath.Join(t.TempDir(), enc)
			env.mustRun(t, repoRoot, packyardBin, "pack", "pull", name+":1.0.0", out, "-r", reg, "--plain-http", "--format", enc)
			testfs.SameTree(t, pack, out)
		}
		if logs := s.logs.String(); strings.Contains(logs, "panic") {
			t.Fatalf("%s: the restarted registry panicked:\n%s", point.name, logs)
		}
		if t.Failed() {
			t.FailNow()
		}
	}

	// Garbage collection deletes what the kills left, and nothing a pack
	// needs.
	if err := s.stop(t); err != nil {
		t.Fatal(err)
	}
	env.mustRun(t, repoRoot, packyardBin, "serve", "gc", "--data", data, "--delete", "-q")
	s = serve(t, env.vars, "--data", data, "--log-level", "warn")
	reg = s.Host + "/demo"
	for i, point := range killPoints {
		for _, enc := range []string{encNative, encPalette} {
			if point.format != "both" && point.format != enc {
				continue
			}
			out := filepath.Join(t.TempDir(), enc)
			env.mustRun(t, repoRoot, packyardBin, "pack", "pull", "bulk-"+point.name+":1.0.0", out, "-r", reg, "--plain-http", "--format", enc)
			testfs.SameTree(t, filepath.Join(packs, "bulk-"+point.name), out)
		}
		example := examplePacks(t)[i%len(examplePacks(t))]
		out := filepath.Join(t.TempDir(), "example")
		env.mustRun(t, repoRoot, packyardBin, "pack", "pull", filepath.Base(example)+":"+exampleVersion(t, example), out, "-r", reg, "--plain-http")
		testfs.SameTree(t, abs(example), out)
	}
}

// exampleVersion is the version in the pack.json of the pack folder dir.
func exampleVersion(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(abs(dir), "pack.json"))
	if err != nil {
		t.Fatal(err)
	}
	var meta struct{ Version string }
	if err := json.Unmarshal(b, &meta); err != nil {
		t.Fatal(err)
	}
	return meta.Version
}

// requireUserNamespaces fails the test unless this machine lets an
// unprivileged user mount a tmpfs in a user and mount namespace of its
// own.
func requireUserNamespaces(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
		`mount -t tmpfs -o size=1m tmpfs "$1"`, "sh", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("this test needs unprivileged user namespaces, to give the registry a small disk of its own "+
			"(unshare --user --map-root-user --mount, then mount -t tmpfs): %v\n%s", err, out)
	}
}

// A registry whose disk fills up refuses the push that does not fit with
// an error that says so; the pack is not visible, what was stored before
// pulls whole, and the registry takes the pushes that fit, the space of
// the refused upload being free again.
func TestServeFullDisk(t *testing.T) {
	requireUserNamespaces(t)
	env := newClientEnv(t)
	data := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	host := freeLoopbackAddr(t)
	// The registry's storage is a 16 MiB tmpfs, mounted in a mount
	// namespace of the registry's own.
	s := serveCommand(t, env.vars, host, "unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
		`mount -t tmpfs -o size=16m tmpfs "$1" && exec "$2" serve --addr "$3" --data "$1" --log-level warn`,
		"sh", data, packyardBin, host)
	reg := host + "/demo"
	env.mustRun(t, repoRoot, packyardBin, "pack", "push", abs("examples/hello-chart"), "-r", reg, "--plain-http")

	big := writeBulkPack(t, t.TempDir(), "bulk-full", 24<<20, 7)
	for range 2 {
		res := env.run(t, repoRoot, packyardBin, "pack", "push", big, "-r", reg, "--plain-http")
		if res.code != 1 || !strings.Contains(res.stderr, "registry out of space") || !strings.Contains(res.stderr, "storage is full") ||
			strings.Contains(res.stderr, "status 500") {
			t.Fatalf("push of a pack larger than the disk: exit %d, want 1 and an error saying the storage is full\n%s%s", res.code, res.stdout, res.stderr)
		}
	}
	r := env.run(t, repoRoot, packyardBin, "pack", "pull", "bulk-full:1.0.0", filepath.Join(t.TempDir(), "big"), "-r", reg, "--plain-http")
	if r.code != 1 || !strings.Contains(r.stderr, "not found") {
		t.Errorf("pull of the refused pack: exit %d, want 1 and not found\n%s", r.code, r.stderr)
	}
	if v := catalogVersions(t, host, "bulk-full"); len(v) != 0 {
		t.Errorf("the catalog lists the refused pack: %v", v)
	}
	for _, format := range []string{encNative, encPalette} {
		out := filepath.Join(t.TempDir(), format)
		env.mustRun(t, repoRoot, packyardBin, "pack", "pull", "hello-chart:0.1.0", out, "-r", reg, "--plain-http", "--format", format)
		testfs.SameTree(t, abs("examples/hello-chart"), out)
	}
	// A pack that fits is pushed and pulled whole.
	env.mustRun(t, repoRoot, packyardBin, "pack", "push", abs("examples/hello-manifests"), "-r", reg, "--plain-http")
	out := filepath.Join(t.TempDir(), "hello-manifests")
	env.mustRun(t, repoRoot, packyardBin, "pack", "pull", "hello-manifests:1.0.0", out, "-r", reg, "--plain-http", "--format", encPalette)
	testfs.SameTree(t, abs("examples/hello-manifests"), out)
	if logs := s.logs.String(); !strings.Contains(logs, "storage is full") || strings.Contains(logs, "panic") {
		t.Errorf("the registry's log:\n%s", logs)
	}
}

// concurrentPushes runs `pack push` of each of the pack folders at once
// against regs[i%len(regs)], with the extra arguments, and returns how each
// ended.
func (e *clientEnv) concurrentPushes(t *testing.T, regs []string, packs []string, extra ...string) []result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	type running struct {
		cmd            *exec.Cmd
		stdout, stderr *testenv.SyncBuffer
	}
	procs := make([]running, len(packs))
	for i, pack := range packs {
		cmd, stdout, stderr := e.command(ctx, packyardBin, append([]string{"pack", "push", pack, "-r", regs[i%len(regs)], "--plain-http"}, extra...)...)
		procs[i] = running{cmd, stdout, stderr}
	}
	for _, p := range procs {
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	results := make([]result, len(procs))
	for i, p := range procs {
		err := p.cmd.Wait()
		results[i] = result{stdout: p.stdout.String(), stderr: p.stderr.String()}
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee) && ee.Exited():
			results[i].code = ee.ExitCode()
		case err != nil:
			t.Fatalf("push %d: %v\n%s", i, err, results[i].stderr)
		}
	}
	return results
}

// copiesOf copies the pack folder src n times; change, when set, changes
// copy i.
func copiesOf(t *testing.T, src string, n int, change func(dir string, i int)) []string {
	t.Helper()
	dirs := make([]string, n)
	for i := range dirs {
		dirs[i] = filepath.Join(t.TempDir(), filepath.Base(src))
		testfs.CopyTree(t, src, dirs[i])
		if change != nil {
			change(dirs[i], i)
		}
	}
	return dirs
}

// editFile replaces old with new in the file.
func editFile(t *testing.T, file, old, new string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s holds no %q", file, old)
	}
	if err := os.WriteFile(file, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// registryRefusal says whether the registry refused a push because the
// pack version is immutable.
func registryRefusal(r result) bool {
	return r.code == 1 && strings.Contains(r.stderr, "pack version is immutable")
}

// Eight clients pushing one pack version at once to one registry, their
// manifests held back until all eight are sent, so that the registry gets
// them at the same moment: with different content exactly one wins, the
// registry refuses every other as the version is immutable, and the
// version holds the winner's pack in both encodings; with the same content
// every push succeeds.
func TestServeConcurrentPushes(t *testing.T) {
	env := newClientEnv(t)
	s := serve(t, env.vars, "--data", filepath.Join(t.TempDir(), "data"), "--log-level", "warn")
	reg := s.Host + "/demo"
	const clients = 8
	// Each client checks the version's tags first, then uploads, then
	// pushes the native manifest, then the Palette one.
	nativeManifest := func(path string) func(*http.Request) bool {
		return func(r *http.Request) bool { return r.Method == http.MethodPut && r.URL.Path == path }
	}

	t.Run("different content", func(t *testing.T) {
		packs := copiesOf(t, abs("examples/hello-chart"), clients, func(dir string, i int) {
			editFile(t, filepath.Join(dir, "values.yaml"), "replicaCount: 1", fmt.Sprintf("replicaCount: %d", i+1))
		})
		proxy, arrived := startBarrierProxy(t, s.Host, clients, nativeManifest("/v2/demo/packs/hello-chart/manifests/0.1.0"))
		results := env.concurrentPushes(t, []string{proxy + "/demo"}, packs)
		if n := arrived(); n != clients {
			t.Fatalf("%d of the %d clients pushed the manifest", n, clients)
		}
		winner := -1
		for i, r := range results {
			switch {
			case r.code == 0:
				if winner >= 0 {
					t.Fatalf("pushes %d and %d of different content both succeeded:\n%s\n%s", winner, i, results[winner].stdout, r.stdout)
				}
				winner = i
			case !registryRefusal(r):
				t.Errorf("push %d: exit %d, want success or the registry's refusal saying the version is immutable\n%s%s", i, r.code, r.stdout, r.stderr)
			}
		}
		if winner < 0 {
			t.Fatal("no push succeeded")
		}
		for _, format := range []string{encNative, encPalette} {
			out := filepath.Join(t.TempDir(), format)
			env.mustRun(t, repoRoot, packyardBin, "pack", "pull", "hello-chart:0.1.0", out, "-r", reg, "--plain-http", "--format", format)
			testfs.SameTree(t, packs[winner], out)
		}
	})

	t.Run("same content", func(t *testing.T) {
		pack := testfs.Copy(t, abs("examples/hello-manifests"))
		editFile(t, filepath.Join(pack, "pack.json"), `"version": "1.0.0"`, `"version": "1.0.1"`)
		proxy, arrived := startBarrierProxy(t, s.Host, clients, nativeManifest("/v2/demo/packs/hello-manifests/manifests/1.0.1"))
		results := env.concurrentPushes(t, []string{proxy + "/demo"}, slices.Repeat([]string{pack}, clients))
		if n := arrived(); n != clients {
			t.Fatalf("%d of the %d clients pushed the manifest", n, clients)
		}
		for i, r := range results {
			if r.code != 0 {
				t.Errorf("push %d of the same content: exit %d\n%s%s", i, r.code, r.stdout, r.stderr)
			}
		}
		out := filepath.Join(t.TempDir(), "pulled")
		env.mustRun(t, repoRoot, packyardBin, "pack", "pull", "hello-manifests:1.0.1", out, "-r", reg, "--plain-http")
		testfs.SameTree(t, pack, out)
	})
}

// Two replicas on one storage folder, as behind a load balancer: eight
// clients pushing the same content through both all succeed, and once the
// version is there, both replicas refuse every push of other content, even
// forced. (Two first pushes of different content that reach two
// replicas at the same moment can both succeed: the lock that serializes
// them is in one process. docs/deploy.md says so, and how to avoid it.)
func TestServeConcurrentPushesScaleOut(t *testing.T) {
	env := newClientEnv(t)
	a, b := serveReplicas(t, env, "")
	regs := []string{a.Host + "/demo", b.Host + "/demo"}
	const clients = 8

	pack := testfs.Copy(t, abs("examples/hello-chart"))
	for i, r := range env.concurrentPushes(t, regs, slices.Repeat([]string{pack}, clients)) {
		if r.code != 0 {
			t.Errorf("push %d of the same content through %s: exit %d\n%s%s", i, regs[i%2], r.code, r.stdout, r.stderr)
		}
	}
	others := copiesOf(t, pack, clients, func(dir string, i int) {
		editFile(t, filepath.Join(dir, "values.yaml"), "replicaCount: 1", fmt.Sprintf("replicaCount: %d", i+2))
	})
	for i, r := range env.concurrentPushes(t, regs, others, "--force") {
		if !registryRefusal(r) {
			t.Errorf("push %d of other content through %s: exit %d, want a refusal saying the version is immutable\n%s%s", i, regs[i%2], r.code, r.stdout, r.stderr)
		}
	}
	for _, reg := range regs {
		for _, format := range []string{encNative, encPalette} {
			out := filepath.Join(t.TempDir(), format)
			env.mustRun(t, repoRoot, packyardBin, "pack", "pull", "hello-chart:0.1.0", out, "-r", reg, "--plain-http", "--format", format)
			testfs.SameTree(t, pack, out)
		}
	}
}
