package ociregistry_test

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/packyard/packyard/internal/hostileregistry"
	"github.com/packyard/packyard/internal/testfs"
	"github.com/packyard/packyard/internal/testregistry"
	"github.com/packyard/packyard/internal/testtar"
	"github.com/packyard/packyard/pkg/mediatypes"
	"github.com/packyard/packyard/pkg/ociregistry"
	"github.com/packyard/packyard/pkg/packer"
)

// blobGets lists the GETs of blob d, with what each sent.
func blobGets(reg *hostileregistry.Registry, d ocispec.Descriptor) []hostileregistry.Request {
	var out []hostileregistry.Request
	for _, r := range reg.Requests() {
		if r.Method == "GET" && strings.HasSuffix(r.Path, "/blobs/"+d.Digest.String()) {
			out = append(out, r)
		}
	}
	return out
}

// rangedBigNative is a hostile registry that answers range requests,
// serving the native pack with a layer big.yaml, big enough to cut.
func rangedBigNative(t *testing.T) (*hostileregistry.Registry, ocispec.Descriptor) {
	t.Helper()
	reg := hostileregistry.New(t)
	reg.ServeRanges()
	p := putNative(t, reg)
	big := withAnnotations(reg.Put(mediatypes.PackFile, []byte(bigValues)), mediatypes.AnnotationTitle, "big.yaml")
	p.m.Layers = append(p.m.Layers, big)
	putManifest(t, reg, p.repo, p.m)
	return reg, big
}

// pullHostilePack pulls the hostile pack into e's target.
func pullHostilePack(t *testing.T, reg *hostileregistry.Registry, e hostileEnv, encoding string) error {
	t.Helper()
	_, _, err := newClient(t).Pull(t.Context(), hostileLoc(reg), ociregistry.PackRef{Name: hostileName, Version: hostileVersion},
		e.target, ociregistry.PullOptions{Encoding: encoding})
	return err
}

// A connection that fails in the middle of a layer, on a registry that
// answers range requests, costs the rest of the layer, not the pull: the
// download goes on from where it stopped.
func TestPullResumesCutDownloads(t *testing.T) {
	ociregistry.SetResumeWait(t, 0)
	t.Run("native layer", func(t *testing.T) {
		reg, big := rangedBigNative(t)
		// Cut twice: at a third, and a third of the way through the rest.
		reg.Fault(hostileregistry.Fault{Method: "GET", Path: "/blobs/" + big.Digest.String(), CloseAfter: big.Size / 3, Times: 2})
		e := newHostileEnv(t)
		if err := pullHostilePack(t, reg, e, mediatypes.EncodingNative); err != nil {
			t.Fatalf("pull through cut connections: %v", err)
		}
		want := map[string]string{"pack.json": hostilePackJSON, "values.yaml": hostileValues, "big.yaml": bigValues}
		if got := testfs.Tree(t, e.target); !maps.Equal(got, want) {
			t.Errorf("pulled files differ from the pack's: %d files, want %d", len(got), len(want))
		}
		reg.Server.Close() // every answer's count is final
		gets := blobGets(reg, big)
		if len(gets) != 3 {
			t.Fatalf("the layer was fetched %d times, want 3: %+v", len(gets), gets)
		}
		third := big.Size / 3
		wantRanges := []string{"", fmt.Sprintf("bytes=%d-%d", third, big.Size-1), fmt.Sprintf("bytes=%d-%d", 2*third, big.Size-1)}
		var sent int64
		for i, g := range gets {
			if g.Range != wantRanges[i] {
				t.Errorf("fetch %d asked for range %q, want %q", i+1, g.Range, wantRanges[i])
			}
			sent += g.Sent
		}
		if sent != big.Size {
			t.Errorf("the registry sent %d bytes of the layer in all, want its %d once", sent, big.Size)
		}
	})
	t.Run("palette archive", func(t *testing.T) {
		reg := hostileregistry.New(t)
		reg.ServeRanges()
		p := putPalette(t, reg, testtar.File(hostileTop+"/big.yaml", bigValues))
		reg.Fault(hostileregistry.Fault{Method: "GET", Path: "/blobs/" + p.archive.Digest.String(), CloseAfter: p.archive.Size / 2, Times: 1})
		e := newHostileEnv(t)
		if err := pullHostilePack(t, reg, e, mediatypes.EncodingPalette); err != nil {
			t.Fatalf("pull through a cut connection: %v", err)
		}
		if got := testfs.Tree(t, e.target)["big.yaml"]; got != bigValues {
			t.Errorf("big.yaml pulled with %d bytes, want %d", len(got), len(bigValues))
		}
		if gets := blobGets(reg, p.archive); len(gets) != 2 || gets[1].Range == "" {
			t.Errorf("the archive was fetched as %+v, want twice, the second time its rest", gets)
		}
	})
}

// Resuming is bounded, keeps the error's kind when it ends, and never
// trusts what a resumed answer sends.
func TestPullResumeFails(t *testing.T) {
	ociregistry.SetResumeWait(t, 0)
	for _, tc := range []struct {
		name  string
		fault func(reg *hostileregistry.Registry, big ocispec.Descriptor)
		gets  int
		in    string
	}{
		{"every connection cut", func(reg *hostileregistry.Registry, big ocispec.Descriptor) {
			reg.Fault(hostileregistry.Fault{Method: "GET", Path: "/blobs/" + big.Digest.String(), CloseAfter: 1000})
		}, 1 + ociregistry.MaxResumes, "ends after"},
		{"the range refused", func(reg *hostileregistry.Registry, big ocispec.Descriptor) {
			reg.Fault(hostileregistry.Fault{Method: "GET", Path: "/blobs/" + big.Digest.String(), CloseAfter: big.Size / 2, Times: 1})
			reg.Fault(hostileregistry.Fault{Method: "GET", Path: "/blobs/" + big.Digest.String(), Status: 416})
		}, 2, "ends after"},
		{"other bytes in the range", func(reg *hostileregistry.Registry, big ocispec.Descriptor) {
			half := big.Size / 2
			reg.Fault(hostileregistry.Fault{Method: "GET", Path: "/blobs/" + big.Digest.String(), CloseAfter: half, Times: 1})
			reg.Fault(hostileregistry.Fault{Method: "GET", Path: "/blobs/" + big.Digest.String(), Body: []byte(strings.Repeat("x", int(big.Size-half)))})
		}, 2, "big.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg, big := rangedBigNative(t)
			tc.fault(reg, big)
			e := newHostileEnv(t)
			err := pullHostilePack(t, reg, e, mediatypes.EncodingNative)
			if !errors.Is(err, packer.ErrUnsafeContent) || !strings.Contains(err.Error(), tc.in) {
				t.Fatalf("pull: %v; want ErrUnsafeContent saying %q", err, tc.in)
			}
			t.Log(err)
			if gets := blobGets(reg, big); len(gets) != tc.gets {
				t.Errorf("the layer was fetched %d times, want %d", len(gets), tc.gets)
			}
			e.checkClean(t, nil)
		})
	}
}

// The distribution registry answers range requests: a pull from it goes
// on after a connection cut in the middle of every blob's first answer.
func TestPullResumesFromDistribution(t *testing.T) {
	ociregistry.SetResumeWait(t, 0)
	reg := testregistry.New(t)
	var mu sync.Mutex
	cut := map[string]bool{}
	host, _ := interceptingProxy(t, reg.Handler(), func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		first := r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") && r.Header.Get("Range") == "" && !cut[r.URL.Path]
		cut[r.URL.Path] = true
		mu.Unlock()
		if !first {
			return false
		}
		rec := httptest.NewRecorder()
		reg.Handler().ServeHTTP(rec, r)
		if rec.Code != http.StatusOK || rec.Header().Get("Accept-Ranges") != "bytes" || rec.Body.Len() < 2 {
			t.Errorf("distribution answered %s with %d, Accept-Ranges %q, %d bytes", r.URL.Path, rec.Code, rec.Header().Get("Accept-Ranges"), rec.Body.Len())
			return false
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return true
		}
		defer func() { _ = conn.Close() }()
		_, _ = fmt.Fprintf(rw, "HTTP/1.1 200 OK\r\n")
		h := rec.Header().Clone()
		h.Set("Content-Length", fmt.Sprint(rec.Body.Len()))
		_ = h.Write(rw)
		_, _ = fmt.Fprintf(rw, "\r\n")
		_, _ = rw.Write(rec.Body.Bytes()[:rec.Body.Len()/2])
		_ = rw.Flush()
		return true
	})
	loc := mustLocation(t, host+"/team")
	c := newClient(t)
	src := "../../testdata/packs/kubewatch-3.5.0"
	_ = mustPush(t, c, src, loc, packer.FormatBoth)
	for _, enc := range []string{mediatypes.EncodingNative, mediatypes.EncodingPalette} {
		out := filepath.Join(t.TempDir(), "out")
		if _, _, err := c.Pull(t.Context(), loc, ociregistry.PackRef{Name: "kubewatch", Version: "3.5.0"}, out, ociregistry.PullOptions{Encoding: enc}); err != nil {
			t.Fatalf("pull %s through cut connections: %v", enc, err)
		}
		testfs.SameTree(t, src, out)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(cut) < 5 {
		t.Errorf("only %d blobs were cut", len(cut))
	}
}

// A copy between registries goes on after a cut connection too.
func TestCopyResumesCutDownloads(t *testing.T) {
	ociregistry.SetResumeWait(t, 0)
	reg, big := rangedBigNative(t)
	reg.Fault(hostileregistry.Fault{Method: "GET", Path: "/blobs/" + big.Digest.String(), CloseAfter: big.Size / 2, Times: 1})
	dst := testregistry.New(t)
	dstLoc := mustLocation(t, dst.Host+"/mirror")
	c := newClient(t)
	ref := ociregistry.PackRef{Name: hostileName, Version: hostileVersion}
	if _, err := c.Copy(t.Context(), hostileLoc(reg), ref, dstLoc, c, ociregistry.CopyOptions{Encoding: mediatypes.EncodingNative}); err != nil {
		t.Fatalf("copy through a cut connection: %v", err)
	}
	e := newHostileEnv(t)
	if _, _, err := c.Pull(t.Context(), dstLoc, ref, e.target, ociregistry.PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := testfs.Tree(t, e.target)["big.yaml"]; got != bigValues {
		t.Errorf("the copy's big.yaml has %d bytes, want %d", len(got), len(bigValues))
	}
	if gets := blobGets(reg, big); len(gets) != 2 || gets[1].Range == "" {
		t.Errorf("the layer was fetched as %+v, want twice, the second time its rest", gets)
	}
}
