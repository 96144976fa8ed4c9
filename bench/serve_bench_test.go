package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/packyard/packyard/internal/benchpack"
)

const (
	// pullClients is how many clients pull at once.
	pullClients = 32
	// pullRounds is how many rounds each server serves, alternating.
	pullRounds = 5
	// pullWarmup is how long the clients pull before a round's
	// measurement starts: connections are open and the server's heap has
	// grown when it does.
	pullWarmup = time.Second
	// pullWindow is how long a round measures.
	pullWindow = 10 * time.Second
)

// pullAccept is the Accept header of a manifest request, as oras sends it.
var pullAccept = ocispec.MediaTypeImageManifest + ", " + ocispec.MediaTypeImageIndex + ", " +
	"application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json"

// pullRef is a manifest the clients pull, by tag.
type pullRef struct{ repo, tag string }

// pullResult is what one round measured.
type pullResult struct {
	kind      serverKind
	window    time.Duration
	bytes     int64 // manifest and blob bytes received
	requests  int64 // manifest and blob GETs completed
	manifests int64
	serverCPU time.Duration
}

func (r pullResult) mbps() float64 { return float64(r.bytes) / 1e6 / r.window.Seconds() }
func (r pullResult) rps() float64  { return float64(r.requests) / r.window.Seconds() }

// cpuPerGB is the server's CPU seconds per GB served.
func (r pullResult) cpuPerGB() float64 { return r.serverCPU.Seconds() / (float64(r.bytes) / 1e9) }

func (r pullResult) String() string {
	return fmt.Sprintf("%.1f MB/s, %.0f req/s (%d manifests, %d requests, %.1f MB in %v), server CPU %v (%.2f cores, %.2f CPU-s/GB)",
		r.mbps(), r.rps(), r.manifests, r.requests, float64(r.bytes)/1e6, r.window.Round(time.Millisecond),
		r.serverCPU, r.serverCPU.Seconds()/r.window.Seconds(), r.cpuPerGB())
}

// BenchmarkServePullThroughput measures what packyard's additions to the
// registry cost when packs are pulled: 32 concurrent clients pull packs
// from `packyard serve` and from a standalone distribution registry, on the
// same filesystem storage, with the same configuration file (warn level,
// no access log). The servers take turns, one at a time, each for
// pullRounds rounds of pullWindow, alternating to cancel the drift of a
// busy machine; the medians are compared. Each pull GETs the manifest by
// tag, then each blob, verifying every digest while streaming.
// Goal: packyard's MB/s at least 0.95x distribution's.
//
// The standalone registry traces every request with OpenTelemetry (sampled
// at 100% by distribution's registry.NewRegistry, and each span encoded as
// JSON for its debug log even at warn level); packyard embeds the
// registry's handlers without it. Server CPU per GB, logged, says where
// the difference goes.
//
// PACKYARD_BENCH_PPROF=DIR saves a CPU profile of each round's server
// (pprof from its debug address) in DIR.
func BenchmarkServePullThroughput(b *testing.B) {
	setup(b)
	dir, refs := pullSeeded(b)
	profiles := os.Getenv("PACKYARD_BENCH_PPROF")
	if profiles != "" {
		must(b, os.MkdirAll(profiles, 0o755))
	}
	transport := &http.Transport{
		MaxIdleConns:        pullClients,
		MaxIdleConnsPerHost: pullClients,
		DisableCompression:  true,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport}

	results := map[serverKind][]pullResult{}
	var pairs []float64 // packyard/distribution MB/s of each pair of rounds
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k := range 2 * pullRounds {
			kind := []serverKind{distributionServer, packyardServer}[k%2]
			res := pullRound(b, client, serverOptions{Kind: kind, Dir: dir, Debug: true}, refs, profiles, k/2+1)
			transport.CloseIdleConnections()
			if testing.Verbose() {
				b.Logf("round %d %-12s %v", k/2+1, kind, res)
			}
			results[kind] = append(results[kind], res)
			if kind == packyardServer {
				d := results[distributionServer]
				pairs = append(pairs, res.mbps()/d[len(d)-1].mbps())
			}
		}
	}
	b.StopTimer()

	med := func(kind serverKind, f func(pullResult) float64) float64 {
		var v []float64
		for _, r := range results[kind] {
			v = append(v, f(r))
		}
		return medianFloat(v)
	}
	dMB, pMB := med(distributionServer, pullResult.mbps), med(packyardServer, pullResult.mbps)
	dReq, pReq := med(distributionServer, pullResult.rps), med(packyardServer, pullResult.rps)
	dCPU, pCPU := med(distributionServer, pullResult.cpuPerGB), med(packyardServer, pullResult.cpuPerGB)
	ratio := pMB / dMB
	// Without -v the testing package keeps the first 10 lines of a
	// benchmark's log: one line per server, then the summary.
	for _, kind := range []serverKind{distributionServer, packyardServer} {
		var mb, req, cores []string
		for _, r := range results[kind] {
			mb = append(mb, fmt.Sprintf("%.1f", r.mbps()))
			req = append(req, fmt.Sprintf("%.0f", r.rps()))
			cores = append(cores, fmt.Sprintf("%.2f", r.serverCPU.Seconds()/r.window.Seconds()))
		}
		b.Logf("%-12s rounds: MB/s %s; req/s %s; server CPU (cores) %s", kind,
			strings.Join(mb, " "), strings.Join(req, " "), strings.Join(cores, " "))
	}
	b.ReportMetric(dMB, "distribution-MB/s")
	b.ReportMetric(pMB, "packyard-MB/s")
	b.ReportMetric(dReq, "distribution-req/s")
	b.ReportMetric(pReq, "packyard-req/s")
	b.ReportMetric(dCPU, "distribution-CPU-s/GB")
	b.ReportMetric(pCPU, "packyard-CPU-s/GB")
	b.ReportMetric(ratio, "packyard/distribution")
	b.Logf("pull, %d clients, medians of %d rounds of %v each: distribution %.1f MB/s, %.0f req/s, server %.2f CPU-s/GB; "+
		"packyard serve %.1f MB/s, %.0f req/s, server %.2f CPU-s/GB; packyard/distribution = %.3f "+
		"(requests %.3f, server CPU per GB %.3f, median of the %d pairs' ratios %.3f), goal >= 0.95: %s",
		pullClients, len(results[packyardServer]), pullWindow, dMB, dReq, dCPU, pMB, pReq, pCPU, ratio,
		pReq/dReq, pCPU/dCPU, len(pairs), medianFloat(pairs), met(ratio >= 0.95))
}

func medianFloat(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

// pullSeed is the pull benchmark's storage, seeded once per run: the
// testing package may call a benchmark function more than once.
var pullSeed struct {
	once sync.Once
	dir  string
	refs []pullRef
}

// pullSeeded seeds a filesystem storage folder once per run and returns
// the folder holding it (DIR/storage) and the manifests to pull: 20 packs
// of 20 KB to 5 MB (16.8 MB), in both encodings, and one pack whose chart
// is a 32 MiB blob, native only.
func pullSeeded(b *testing.B) (string, []pullRef) {
	b.Helper()
	pullSeed.once.Do(func() {
		start := time.Now()
		dir := filepath.Join(tmpRoot, "serve-pull")
		refs := seedPull(b, dir)
		pullSeed.dir, pullSeed.refs = dir, refs
		b.Logf("seeded %d manifests (%.1f MB of storage) in %v with packyard pack push",
			len(refs), float64(benchpack.DirSize(b, filepath.Join(dir, "storage")))/1e6, time.Since(start).Round(time.Millisecond))
	})
	if pullSeed.dir == "" {
		b.Fatal("seeding the pull benchmark failed earlier")
	}
	return pullSeed.dir, pullSeed.refs
}

func seedPull(b *testing.B, dir string) []pullRef {
	b.Helper()
	const base = "serve"
	packs := benchpack.Catalog(b, filepath.Join(dir, "packs"), 20)
	big, _ := benchpack.Pack(b, filepath.Join(dir, "packs"), "big-pack", benchpack.ChartSize)
	r, err := startServer(serverOptions{Kind: distributionServer, Dir: dir})
	must(b, err)
	defer r.stop()
	args := []string{"pack", "push"}
	var refs []pullRef
	for _, p := range packs {
		args = append(args, p.Dir)
		refs = append(refs,
			pullRef{base + "/packs/" + p.Name, p.Version},
			pullRef{base + "/spectro-packs/archive/" + p.Name, p.Version})
	}
	run(b, repoRoot, packyardBin, append(args, remote(r, base)...)...)
	run(b, repoRoot, packyardBin, append([]string{"pack", "push", "--format", "native", big}, remote(r, base)...)...)
	refs = append(refs, pullRef{base + "/packs/big-pack", "1.0.0"})
	must(b, os.RemoveAll(filepath.Join(dir, "packs")))
	return refs
}

// pullCounters are a round's running totals, shared by its clients.
type pullCounters struct {
	bytes, requests, manifests atomic.Int64
}

// pullRound starts the server opts name on the seeded storage, lets the
// clients pull for pullWarmup, then measures pullWindow, and stops it.
func pullRound(b *testing.B, client *http.Client, opts serverOptions, refs []pullRef, profiles string, round int) pullResult {
	b.Helper()
	srv, err := startServer(opts)
	must(b, err)
	defer srv.stop()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		c       pullCounters
		wg      sync.WaitGroup
		errOnce sync.Once
		pullErr error
	)
	for w := range pullClients {
		wg.Go(func() {
			buf := make([]byte, 256<<10)
			for j := w * len(refs) / pullClients; ctx.Err() == nil; j++ {
				if _, err := pullOne(ctx, client, srv.Host, refs[j%len(refs)], &c, buf); err != nil && ctx.Err() == nil {
					errOnce.Do(func() { pullErr = err; cancel() })
					return
				}
			}
		})
	}

	time.Sleep(pullWarmup)
	var profile chan error
	if profiles != "" {
		profile = make(chan error, 1)
		file := filepath.Join(profiles, fmt.Sprintf("%s-%d.pprof", opts.Kind, round))
		go func() { profile <- saveProfile(srv.DebugHost, file, pullWindow-time.Second) }()
	}
	bytes0, req0, man0, cpu0 := c.bytes.Load(), c.requests.Load(), c.manifests.Load(), srv.cpu()
	start := time.Now()
	select {
	case <-time.After(pullWindow):
	case <-ctx.Done():
	}
	res := pullResult{
		kind:      opts.Kind,
		window:    time.Since(start),
		bytes:     c.bytes.Load() - bytes0,
		requests:  c.requests.Load() - req0,
		manifests: c.manifests.Load() - man0,
		serverCPU: srv.cpu() - cpu0,
	}
	cancel()
	wg.Wait()
	if pullErr != nil {
		b.Fatalf("pulling from %s: %v", opts.Kind, pullErr)
	}
	if profile != nil {
		if err := <-profile; err != nil {
			b.Logf("profiling %s: %v", opts.Kind, err)
		}
	}
	return res
}

// pullOne pulls ref: its manifest by tag, then each blob, each checked
// against its digest and size as it streams. It returns how long the
// manifest GET took.
func pullOne(ctx context.Context, client *http.Client, host string, ref pullRef, c *pullCounters, buf []byte) (time.Duration, error) {
	start := time.Now()
	body, err := get(ctx, client, "http://"+host+"/v2/"+ref.repo+"/manifests/"+ref.tag, pullAccept, func(resp *http.Response) ([]byte, error) {
		data, err := io.ReadAll(io.LimitReader(&countingReader{r: resp.Body, n: &c.bytes}, 4<<20))
		if err != nil {
			return nil, err
		}
		if want := resp.Header.Get("Docker-Content-Digest"); want != digest.FromBytes(data).String() {
			return nil, fmt.Errorf("the manifest's digest is %s, Docker-Content-Digest says %q", digest.FromBytes(data), want)
		}
		return data, nil
	})
	if err != nil {
		return 0, fmt.Errorf("%s:%s: %w", ref.repo, ref.tag, err)
	}
	took := time.Since(start)
	c.requests.Add(1)
	c.manifests.Add(1)
	var m ocispec.Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		return took, fmt.Errorf("%s:%s: %w", ref.repo, ref.tag, err)
	}
	if m.MediaType != ocispec.MediaTypeImageManifest || len(m.Layers) == 0 {
		return took, fmt.Errorf("%s:%s: not an image manifest with layers: %s", ref.repo, ref.tag, body)
	}
	for _, d := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		_, err := get(ctx, client, "http://"+host+"/v2/"+ref.repo+"/blobs/"+d.Digest.String(), "", func(resp *http.Response) ([]byte, error) {
			v := d.Digest.Verifier()
			n, err := io.CopyBuffer(v, &countingReader{r: resp.Body, n: &c.bytes}, buf)
			if err != nil {
				return nil, err
			}
			if n != d.Size || !v.Verified() {
				return nil, fmt.Errorf("%d bytes that do not match %s (%d bytes)", n, d.Digest, d.Size)
			}
			return nil, nil
		})
		if err != nil {
			return took, fmt.Errorf("%s@%s: %w", ref.repo, d.Digest, err)
		}
		c.requests.Add(1)
	}
	return took, nil
}

// get GETs url and reads a 200 response with read.
func get(ctx context.Context, client *http.Client, url, accept string, read func(*http.Response) ([]byte, error)) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, msg)
	}
	return read(resp)
}

// countingReader adds what it reads to n as it reads it, so that a round's
// window counts the bytes received within it.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// saveProfile saves a CPU profile of d from the pprof of the debug server
// at host to file.
func saveProfile(host, file string, d time.Duration) error {
	if host == "" {
		return errors.New("the server has no debug address")
	}
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", host, int(d.Seconds())))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof: %s", resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
