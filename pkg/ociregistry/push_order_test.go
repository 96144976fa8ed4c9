package ociregistry_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"oras.land/oras-go/v2/errdef"

	"github.com/packyard/packyard/internal/testregistry"
	"github.com/packyard/packyard/pkg/ociregistry"
	"github.com/packyard/packyard/pkg/packer"
)

// A pack pushed in both encodings sends the blobs of both before either
// manifest: a push that fails on the Palette archive's blobs tags nothing,
// not even the native artifact, whose blobs all went through.
func TestPushBlobsOfBothEncodingsBeforeAnyManifest(t *testing.T) {
	const src = "../../testdata/packs/kubewatch-3.5.0"
	reg := testregistry.New(t)
	loc := func(host string) ociregistry.Location { return mustLocation(t, host+"/team") }

	// The order of a push that succeeds.
	host, log := proxy(t, reg, 0)
	if _, err := newClient(t).PushDir(t.Context(), src, loc(host), ociregistry.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	firstManifest, lastBlob := -1, -1
	for i, r := range log.requests {
		method, path, _ := strings.Cut(r, " ")
		switch {
		case method == http.MethodPut && strings.Contains(path, "/manifests/") && firstManifest < 0:
			firstManifest = i
		case strings.Contains(path, "/blobs/") && !strings.HasPrefix(path, "/v2/team/spectro-packs/archive/blobs/"):
			// The base repository's mounts follow the archive's manifest.
			lastBlob = i
		}
	}
	if firstManifest < 0 || lastBlob < 0 || lastBlob > firstManifest {
		t.Errorf("a blob request (#%d) follows the first manifest PUT (#%d):\n%s", lastBlob, firstManifest, strings.Join(log.requests, "\n"))
	}

	// A push whose archive upload is refused leaves no tag.
	refusing, _ := interceptingProxy(t, reg.Handler(), func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPut || !strings.Contains(r.URL.Path, "/spectro-packs/archive/kubewatch/blobs/uploads/") {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"errors":[{"code":"DENIED","message":"uploads refused"}]}`))
		return true
	})
	c := newClient(t)
	other := loc(refusing)
	other.Base = "other"
	_, err := c.PushDir(t.Context(), src, other, ociregistry.PushOptions{Format: packer.FormatBoth})
	if err == nil {
		t.Fatal("the push succeeded with its archive upload refused")
	}
	repo, err := c.Repository(other, other.NativeRepository("kubewatch"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Resolve(t.Context(), "3.5.0"); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("the native tag after a push whose archive failed: %v, want not found", err)
	}
}
