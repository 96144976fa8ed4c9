package ociregistry_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/packyard/packyard/internal/hostileregistry"
	"github.com/packyard/packyard/internal/testregistry"
	"github.com/packyard/packyard/pkg/mediatypes"
	"github.com/packyard/packyard/pkg/ociregistry"
	"github.com/packyard/packyard/pkg/packer"
)

// bigNative serves the native pack with a big.yaml layer, large enough
// that a body cut in its middle is cut in the middle of an upload too, on
// a registry that does not answer range requests.
func bigNative(t *testing.T) (*hostileregistry.Registry, ocispec.Descriptor) {
	t.Helper()
	reg := hostileregistry.New(t)
	p := putNative(t, reg)
	big := withAnnotations(reg.Put(mediatypes.PackFile, []byte(bigValues)), mediatypes.AnnotationTitle, "big.yaml")
	p.m.Layers = append(p.m.Layers, big)
	putManifest(t, reg, p.repo, p.m)
	return reg, big
}

// A copy whose source fails while its bytes stream into the destination
// fails with a *SourceError that names the source and the blob, never the
// destination's upload; and nothing of the version is visible at the
// destination.
func TestCopyHostileSource(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault func(big ocispec.Descriptor) hostileregistry.Fault
		// unsafe says the error is packer.ErrUnsafeContent; otherwise it
		// is the source's answer.
		unsafe bool
		want   string
	}{
		{"connection cut, no range answers", func(big ocispec.Descriptor) hostileregistry.Fault {
			return hostileregistry.Fault{Method: "GET", CloseAfter: big.Size / 2}
		}, true, "the content ends after"},
		{"other bytes of the same length", func(big ocispec.Descriptor) hostileregistry.Fault {
			return hostileregistry.Fault{Method: "GET", Body: []byte(strings.Repeat("x", int(big.Size)))}
		}, true, "the content does not match its digest"},
		{"more bytes announced", func(big ocispec.Descriptor) hostileregistry.Fault {
			return hostileregistry.Fault{Method: "GET", Append: []byte("more: 1\n")}
		}, true, "where the descriptor says"},
		{"more bytes, length not announced", func(big ocispec.Descriptor) hostileregistry.Fault {
			return hostileregistry.Fault{Method: "GET", Append: []byte("more: 1\n"), Chunked: true}
		}, true, "the content is longer than"},
		{"blob missing", func(big ocispec.Descriptor) hostileregistry.Fault {
			return hostileregistry.Fault{Status: 404}
		}, false, "not found"},
		{"blob denied", func(big ocispec.Descriptor) hostileregistry.Fault {
			return hostileregistry.Fault{Status: 403}
		}, false, "403"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg, big := bigNative(t)
			f := tc.fault(big)
			f.Path = "/blobs/" + big.Digest.String()
			reg.Fault(f)
			dst := testregistry.New(t)
			dstLoc := mustLocation(t, dst.Host+"/mirror")
			c := newClient(t)
			ref := ociregistry.PackRef{Name: hostileName, Version: hostileVersion}
			_, err := c.Copy(t.Context(), hostileLoc(reg), ref, dstLoc, c, ociregistry.CopyOptions{})
			var se *ociregistry.SourceError
			if !errors.As(err, &se) {
				t.Fatalf("copy: %v; want a *SourceError", err)
			}
			t.Log(err)
			msg := err.Error()
			for _, want := range []string{reg.Host + "/team/packs/evil:1.0.0", big.Digest.String() + " (big.yaml)", tc.want} {
				if !strings.Contains(msg, want) {
					t.Errorf("the error does not say %q", want)
				}
			}
			if strings.Contains(msg, dst.Host) {
				t.Errorf("the error names the destination, %s", dst.Host)
			}
			if se.Blob.Digest != big.Digest {
				t.Errorf("SourceError.Blob is %s, want %s", se.Blob.Digest, big.Digest)
			}
			if got := errors.Is(err, packer.ErrUnsafeContent); got != tc.unsafe {
				t.Errorf("errors.Is(err, ErrUnsafeContent) = %v, want %v", got, tc.unsafe)
			}
			var er *errcode.ErrorResponse
			if !tc.unsafe && !errors.Is(err, errdef.ErrNotFound) && (!errors.As(err, &er) || er.URL.Host != reg.Host) {
				t.Errorf("the error's response is not the source's: %v", er)
			}
			for _, enc := range []string{mediatypes.EncodingNative, mediatypes.EncodingPalette} {
				if _, err := c.Resolve(t.Context(), dstLoc, ref, enc); !errors.Is(err, errdef.ErrNotFound) {
					t.Errorf("the destination's %s artifact after the failed copy: %v, want not found", enc, err)
				}
			}
		})
	}

	t.Run("version missing", func(t *testing.T) {
		reg, _ := bigNative(t)
		dst := testregistry.New(t)
		c := newClient(t)
		_, err := c.Copy(t.Context(), hostileLoc(reg), ociregistry.PackRef{Name: hostileName, Version: "9.9.9"}, mustLocation(t, dst.Host), c, ociregistry.CopyOptions{})
		var se *ociregistry.SourceError
		if !errors.As(err, &se) || !errors.Is(err, errdef.ErrNotFound) || se.Source != reg.Host+"/team" || strings.Contains(err.Error(), dst.Host) {
			t.Errorf("copy of a missing version: %v (%#v); want a *SourceError of %s/team, not found", err, se, reg.Host)
		}
	})
}

// Inspect and export check each answer against what they asked for, as a
// pull does, and name what they fetched.
func TestInspectExportCheckAnswers(t *testing.T) {
	ref := ociregistry.PackRef{Name: hostileName, Version: hostileVersion}
	t.Run("inspect, manifest with another media type", func(t *testing.T) {
		reg := hostileregistry.New(t)
		p := putNative(t, reg)
		reg.Fault(hostileregistry.Fault{Method: "GET", Path: "/manifests/" + p.manifest.Digest.String(), ContentType: "text/html"})
		_, err := newClient(t).Inspect(t.Context(), hostileLoc(reg), ref)
		if !errors.Is(err, packer.ErrUnsafeContent) || !strings.Contains(err.Error(), `sends the manifest as "text/html"`) {
			t.Errorf("inspect: %v; want ErrUnsafeContent about the manifest's media type", err)
		}
	})
	t.Run("inspect, config of another length", func(t *testing.T) {
		reg := hostileregistry.New(t)
		p := putNative(t, reg)
		reg.Fault(hostileregistry.Fault{Method: "GET", Path: "/blobs/" + p.m.Config.Digest.String(), Append: []byte(" ")})
		_, err := newClient(t).Inspect(t.Context(), hostileLoc(reg), ref)
		if !errors.Is(err, packer.ErrUnsafeContent) || !strings.Contains(err.Error(), "pack.json config") {
			t.Errorf("inspect: %v; want ErrUnsafeContent naming the pack.json config", err)
		}
	})
	t.Run("export, layer of another length", func(t *testing.T) {
		reg := hostileregistry.New(t)
		p := putNative(t, reg)
		reg.Fault(hostileregistry.Fault{Method: "GET", Path: "/blobs/" + p.values.Digest.String(), Append: []byte("b: 2\n")})
		err := newClient(t).Export(t.Context(), hostileLoc(reg), []ociregistry.PackRef{ref}, io.Discard)
		if !errors.Is(err, packer.ErrUnsafeContent) || !strings.Contains(err.Error(), p.values.Digest.String()) ||
			!strings.Contains(err.Error(), "sends 10 bytes where the descriptor says 5") {
			t.Errorf("export: %v; want ErrUnsafeContent naming the values.yaml blob", err)
		}
	})
	t.Run("export resumes a cut download", func(t *testing.T) {
		ociregistry.SetResumeWait(t, 0)
		reg, big := rangedBigNative(t)
		reg.Fault(hostileregistry.Fault{Method: "GET", Path: "/blobs/" + big.Digest.String(), CloseAfter: big.Size / 2, Times: 1})
		if err := newClient(t).Export(t.Context(), hostileLoc(reg), []ociregistry.PackRef{ref}, io.Discard); err != nil {
			t.Fatalf("export through a cut connection: %v", err)
		}
		if gets := blobGets(reg, big); len(gets) != 2 || gets[1].Range == "" {
			t.Errorf("the layer was fetched as %+v, want twice, the second time its rest", gets)
		}
	})
}

// A destination that fails an upload is the destination's fault, not the
// source's, however the bytes were flowing.
func TestCopyDestinationFails(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(w http.ResponseWriter, r *http.Request)
	}{
		{"upload denied", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"errors":[{"code":"DENIED","message":"no uploads here"}]}`))
		}},
		{"connection closed in the middle of the upload", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.CopyN(io.Discard, r.Body, 1000)
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				_ = conn.Close()
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg, big := bigNative(t)
			dst := testregistry.New(t)
			host, _ := interceptingProxy(t, dst.Handler(), func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method != http.MethodPut || !strings.Contains(r.URL.Path, "/blobs/uploads/") || r.URL.Query().Get("digest") != big.Digest.String() {
					return false
				}
				tc.fail(w, r)
				return true
			})
			c := newClient(t)
			_, err := c.Copy(t.Context(), hostileLoc(reg), ociregistry.PackRef{Name: hostileName, Version: hostileVersion}, mustLocation(t, host+"/mirror"), c, ociregistry.CopyOptions{})
			var se *ociregistry.SourceError
			if err == nil || errors.As(err, &se) || !strings.Contains(err.Error(), host) {
				t.Errorf("copy to a failing destination: %v; want the destination's error", err)
			}
		})
	}
}

// The Palette base manifest of a copy is read from the destination, where
// the copy has just put the artifact: the source is not read again once the
// tag is pushed.
func TestCopyBaseFromDestination(t *testing.T) {
	reg := hostileregistry.New(t)
	p := putPalette(t, reg)
	dst := testregistry.New(t)
	c := newClient(t)
	ref := ociregistry.PackRef{Name: hostileName, Version: hostileVersion}
	dstLoc := mustLocation(t, dst.Host+"/mirror")
	if _, err := c.Copy(t.Context(), hostileLoc(reg), ref, dstLoc, c, ociregistry.CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := reg.Count("GET", "/manifests/"+p.manifest.Digest.String()); n != 1 {
		t.Errorf("the source's manifest was fetched %d times, want once", n)
	}
	base, err := c.Repository(dstLoc, dstLoc.PaletteBaseRepository())
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := base.Exists(t.Context(), p.manifest); err != nil || !ok {
		t.Errorf("the base manifest is not at the destination: %v, %v", ok, err)
	}
}
