package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"oras.land/oras-go/v2/registry/remote/credentials"

	"github.com/packyard/packyard/internal/benchpack"
	"github.com/packyard/packyard/pkg/ociregistry"
	"github.com/packyard/packyard/pkg/packer"
)

const (
	// loadPullers and loadPushers are how many clients pull and push at
	// once during the load test.
	loadPullers = 64
	loadPushers = 8
	// loadDuration is how long the load lasts, unless
	// PACKYARD_BENCH_LOAD_DURATION (a Go duration) says otherwise.
	loadDuration = 60 * time.Second
	// loadFreshEvery: one pull in loadFreshEvery is of a version pushed
	// during the run, once there is one: a push must be readable at once.
	loadFreshEvery = 4
)

// BenchmarkServeLoad puts `packyard serve` under load, on loopback, for
// 60 s: 64 clients pull packs while 8 push new versions, then the load
// stops by itself. Every pulled byte is checked against its digest; every
// pushed version is pulled during the run (a quarter of the pulls are of
// versions pushed during it) and once more after it, and must match the
// manifest its push reported. Goal: zero errors and zero corrupted
// pulls. The latencies of pack pulls (manifest and every blob), of
// manifest GETs alone and of pushes (both encodings, through the Go
// client, each a new version with new content) are reported, p50 and p99.
//
// The storage starts as the pull benchmark's (41 manifests, 67 MB). Each
// pusher pushes one pack of the benchmark catalog (20 KB to 5 MB), again
// and again, as a new version each time with its values.yaml changed, so
// that its Palette archive and values blob are new content.
//
//	go test -run=NONE -bench=BenchmarkServeLoad -benchtime=1x -v ./bench
func BenchmarkServeLoad(b *testing.B) {
	setup(b)
	seeded, seedRefs := pullSeeded(b)
	duration := loadDuration
	if s := os.Getenv("PACKYARD_BENCH_LOAD_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		must(b, err)
		duration = d
	}
	for i := 0; i < b.N; i++ {
		dir := filepath.Join(tmpRoot, fresh("load"))
		must(b, os.MkdirAll(dir, 0o755))
		// The server writes to a copy: the pull benchmark's storage stays
		// as seeded.
		if out, err := exec.Command("cp", "-a", filepath.Join(seeded, "storage"), filepath.Join(dir, "storage")).CombinedOutput(); err != nil {
			b.Fatalf("copying the seeded storage: %v: %s", err, out)
		}
		templates := benchpack.Catalog(b, filepath.Join(dir, "packs"), loadPushers)
		srv, err := startServer(serverOptions{Kind: packyardServer, Dir: dir})
		must(b, err)
		res := runLoad(b, srv, seedRefs, templates, duration)
		srv.stop()
		must(b, os.RemoveAll(dir))
		res.report(b)
	}
}

// loadResult is what one load run measured.
type loadResult struct {
	duration             time.Duration
	pulls, manifests     []time.Duration
	pushes               []time.Duration
	pulledBytes          int64
	freshPulls, verified int
	pushedArtifacts      int
	errs                 []error
	requests             int64
}

// loadState is what the clients of a run share.
type loadState struct {
	mu     sync.Mutex
	fresh  []pullRef          // versions pushed during the run
	pushed map[pullRef]string // their manifest digests, as the push reported
	res    *loadResult
}

func (s *loadState) fail(err error) {
	s.mu.Lock()
	s.res.errs = append(s.res.errs, err)
	s.mu.Unlock()
}

func runLoad(b *testing.B, srv *registry, seedRefs []pullRef, templates []benchpack.CatalogPack, duration time.Duration) *loadResult {
	b.Helper()
	transport := &http.Transport{MaxIdleConns: loadPullers, MaxIdleConnsPerHost: loadPullers, DisableCompression: true}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport}
	pusher, err := ociregistry.New(ociregistry.Options{PlainHTTP: true, Credentials: credentials.NewMemoryStore(), NoCache: true})
	must(b, err)
	loc, err := ociregistry.ParseLocation(srv.Host + "/load")
	must(b, err)

	res := &loadResult{duration: duration}
	st := &loadState{pushed: map[pullRef]string{}, res: res}
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var c pullCounters
	var wg sync.WaitGroup
	for w := range loadPullers {
		wg.Go(func() {
			buf := make([]byte, 256<<10)
			for j := w; ctx.Err() == nil; j++ {
				ref, fresh := seedRefs[j%len(seedRefs)], false
				if j%loadFreshEvery == 0 {
					st.mu.Lock()
					if n := len(st.fresh); n > 0 {
						ref, fresh = st.fresh[(j/loadFreshEvery)%n], true
					}
					st.mu.Unlock()
				}
				start := time.Now()
				manifest, err := pullOne(ctx, client, srv.Host, ref, &c, buf)
				took := time.Since(start)
				if ctx.Err() != nil {
					return // cut short by the end of the run: neither a result nor an error
				}
				st.mu.Lock()
				if err != nil {
					res.errs = append(res.errs, err)
				} else {
					res.pulls = append(res.pulls, took)
					res.manifests = append(res.manifests, manifest)
					if fresh {
						res.freshPulls++
					}
				}
				st.mu.Unlock()
			}
		})
	}
	for w := range loadPushers {
		wg.Go(func() {
			t := templates[w]
			for i := 0; ctx.Err() == nil; i++ {
				version := fmt.Sprintf("2.%d.%d", w, i)
				if err := rewriteLoadPack(t, version); err != nil {
					st.fail(err)
					return
				}
				start := time.Now()
				r, err := pusher.PushDir(ctx, t.Dir, loc, ociregistry.PushOptions{Format: packer.FormatBoth})
				took := time.Since(start)
				if ctx.Err() != nil {
					return // cut short: the version may be partly pushed, which the registry hides
				}
				if err != nil {
					st.fail(fmt.Errorf("pushing %s %s: %w", t.Name, version, err))
					continue
				}
				st.mu.Lock()
				res.pushes = append(res.pushes, took)
				for _, a := range r.Artifacts {
					ref := pullRef{a.Repository, a.Tag}
					st.fresh = append(st.fresh, ref)
					st.pushed[ref] = a.Manifest.Digest.String()
				}
				st.mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.pulledBytes = c.bytes.Load()
	res.requests = c.requests.Load()

	// Every version pushed during the run pulls back intact, as its push
	// said.
	res.pushedArtifacts = len(st.pushed)
	buf := make([]byte, 256<<10)
	var after pullCounters
	for ref, want := range st.pushed {
		if _, err := pullOne(context.Background(), client, srv.Host, ref, &after, buf); err != nil {
			res.errs = append(res.errs, fmt.Errorf("after the run: %w", err))
			continue
		}
		got, err := manifestDigest(client, srv.Host, ref)
		if err != nil {
			res.errs = append(res.errs, fmt.Errorf("after the run: %w", err))
			continue
		}
		if got != want {
			res.errs = append(res.errs, fmt.Errorf("after the run: %s:%s is %s, its push reported %s", ref.repo, ref.tag, got, want))
			continue
		}
		res.verified++
	}
	return res
}

// rewriteLoadPack makes the pack folder of t a new version with new
// content: its pack.json's version and a line of its values.yaml.
func rewriteLoadPack(t benchpack.CatalogPack, version string) error {
	path := filepath.Join(t.Dir, "pack.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var meta map[string]any
	if err := json.Unmarshal(data, &meta); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	meta["version"] = version
	if data, err = json.MarshalIndent(meta, "", "  "); err != nil {
		return err
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return err
	}
	values := fmt.Sprintf("# load test version %s, written %s\npack:\n  namespace: %s\n", version, time.Now().Format(time.RFC3339Nano), t.Name)
	return os.WriteFile(filepath.Join(t.Dir, "values.yaml"), []byte(values), 0o644)
}

// manifestDigest HEADs ref's manifest and returns its digest.
func manifestDigest(client *http.Client, host string, ref pullRef) (string, error) {
	req, err := http.NewRequest(http.MethodHead, "http://"+host+"/v2/"+ref.repo+"/manifests/"+ref.tag, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", pullAccept)
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HEAD %s:%s: %s", ref.repo, ref.tag, resp.Status)
	}
	return resp.Header.Get("Docker-Content-Digest"), nil
}

// quantile is the q-quantile of ds (nearest rank), 0 when ds is empty.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (r *loadResult) report(b *testing.B) {
	b.Helper()
	for _, m := range []struct {
		name string
		ds   []time.Duration
	}{{"pull", r.pulls}, {"manifest", r.manifests}, {"push", r.pushes}} {
		b.ReportMetric(ms(quantile(m.ds, 0.5)), m.name+"-p50-ms")
		b.ReportMetric(ms(quantile(m.ds, 0.99)), m.name+"-p99-ms")
	}
	b.ReportMetric(float64(len(r.pulls))/r.duration.Seconds(), "pulls/s")
	b.ReportMetric(float64(len(r.pushes))/r.duration.Seconds(), "pushes/s")
	b.ReportMetric(float64(r.pulledBytes)/1e6/r.duration.Seconds(), "pull-MB/s")
	b.ReportMetric(float64(len(r.errs)), "errors")
	b.Logf("%d pullers, %d pushers, %v: %d pack pulls (%d of versions pushed during the run; %d requests, %.1f MB, %.1f MB/s), %d pushes (both encodings), %d errors",
		loadPullers, loadPushers, r.duration, len(r.pulls), r.freshPulls, r.requests, float64(r.pulledBytes)/1e6,
		float64(r.pulledBytes)/1e6/r.duration.Seconds(), len(r.pushes), len(r.errs))
	b.Logf("latency p50 / p99 / max: pack pull %v / %v / %v; manifest GET %v / %v / %v; push %v / %v / %v",
		quantile(r.pulls, 0.5).Round(time.Microsecond), quantile(r.pulls, 0.99).Round(time.Microsecond), quantile(r.pulls, 1).Round(time.Microsecond),
		quantile(r.manifests, 0.5).Round(time.Microsecond), quantile(r.manifests, 0.99).Round(time.Microsecond), quantile(r.manifests, 1).Round(time.Microsecond),
		quantile(r.pushes, 0.5).Round(time.Microsecond), quantile(r.pushes, 0.99).Round(time.Microsecond), quantile(r.pushes, 1).Round(time.Microsecond))
	b.Logf("after the run, %d of the %d artifacts pushed during it pulled back intact, as their pushes reported", r.verified, r.pushedArtifacts)
	if r.verified != r.pushedArtifacts {
		b.Errorf("%d of the %d artifacts pushed during the run were not verified after it", r.pushedArtifacts-r.verified, r.pushedArtifacts)
	}
	if len(r.pulls) == 0 || len(r.pushes) == 0 {
		b.Errorf("the run made %d pulls and %d pushes: the load did not happen", len(r.pulls), len(r.pushes))
	}
	if len(r.errs) > 0 {
		var lines []string
		for _, err := range r.errs[:min(len(r.errs), 10)] {
			lines = append(lines, err.Error())
		}
		b.Fatalf("goal zero errors: not met, %d errors; the first:\n%s", len(r.errs), strings.Join(lines, "\n"))
	}
	b.Logf("goal zero errors and zero corrupted pulls: met")
}
