package ociregistry_test

import (
	"strings"
	"testing"

	"github.com/packyard/packyard/internal/testregistry"
	"github.com/packyard/packyard/pkg/ociregistry"
	"github.com/packyard/packyard/pkg/packer"
)

// byKind counts the requests logged since the last call, by method and
// kind of path (blobs, blobs/uploads, manifests, tags), and forgets them.
func (l *requestLog) byKind() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	count := map[string]int{}
	for _, r := range l.requests {
		method, path, _ := strings.Cut(r, " ")
		kind := "other"
		for _, k := range []string{"/blobs/uploads/", "/blobs/", "/manifests/", "/tags/"} {
			if strings.Contains(path, k) {
				kind = strings.Trim(k, "/")
				break
			}
		}
		count[method+" "+kind]++
	}
	l.requests = nil
	return count
}

func sum(c map[string]int) int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// A push sends only the requests it needs: one look at each tag, small
// blobs uploaded without asking, mounts into the base repository without
// asking, and no look for a manifest it is about to push. An unchanged
// re-push sends one request per tag, and one for the base manifest.
func TestPushRequestCount(t *testing.T) {
	host, log := proxy(t, testregistry.New(t), 0)
	loc, err := ociregistry.ParseLocation(host + "/team")
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t)
	src := "../../testdata/packs/kubewatch-3.5.0"

	if _, err := c.PushDir(t.Context(), src, loc, ociregistry.PushOptions{Format: packer.FormatPalette}); err != nil {
		t.Fatal(err)
	}
	// HEAD tag; config and archive POST+PUT; manifest PUT; base: two
	// mounts and the manifest PUT.
	got := log.byKind()
	if want := 9; sum(got) != want || got["HEAD blobs"] != 0 || got["POST blobs/uploads"] != 4 || got["PUT manifests"] != 2 {
		t.Errorf("palette push sent %d requests, want %d: %v", sum(got), want, got)
	}
	// The next pack mounts the empty config from the base repository: one
	// request less.
	if _, err := c.PushDir(t.Context(), "../../testdata/packs/hello-universe-1.3.1", loc, ociregistry.PushOptions{Format: packer.FormatPalette}); err != nil {
		t.Fatal(err)
	}
	if got := log.byKind(); sum(got) != 8 || got["PUT blobs/uploads"] != 1 {
		t.Errorf("second palette push sent %d requests, want 8: %v", sum(got), got)
	}

	if _, err := c.PushDir(t.Context(), src, loc, ociregistry.PushOptions{Format: packer.FormatPalette}); err != nil {
		t.Fatal(err)
	}
	if got := log.byKind(); sum(got) != 2 || got["HEAD manifests"] != 2 {
		t.Errorf("unchanged palette push sent %v, want the tag's and the base manifest's HEAD", got)
	}

	// The native artifact of kubewatch has five distinct blobs (its config
	// is its pack.json layer): a HEAD of each tag, five uploads, one
	// manifest PUT.
	if _, err := c.PushDir(t.Context(), src, loc, ociregistry.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	got = log.byKind()
	if got["HEAD blobs"] != 0 || got["PUT manifests"] != 1 || got["HEAD manifests"] != 3 {
		t.Errorf("native push requests: %v", got)
	}
}
