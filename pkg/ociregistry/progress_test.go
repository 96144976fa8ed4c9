package ociregistry_test

import (
	"path/filepath"
	"sync"
	"testing"

	"github.com/packyard/packyard/internal/testregistry"
	"github.com/packyard/packyard/pkg/mediatypes"
	"github.com/packyard/packyard/pkg/ociregistry"
	"github.com/packyard/packyard/pkg/packer"
)

// tally sums progress events by encoding; it is safe for concurrent use.
type tally struct {
	mu          sync.Mutex
	total, done map[string]int64
	names       map[string]bool
}

func newTally() *tally {
	return &tally{total: map[string]int64{}, done: map[string]int64{}, names: map[string]bool{}}
}

func (t *tally) add(e ociregistry.ProgressEvent) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.total[e.Encoding] += e.Total
	t.done[e.Encoding] += e.Done
	t.names[e.Name+" "+e.Version] = true
}

func TestProgress(t *testing.T) {
	reg := testregistry.New(t)
	c := newClient(t)
	loc, _ := ociregistry.ParseLocation(reg.Host + "/team")
	src := "../../testdata/packs/kubewatch-3.5.0"

	pushed := newTally()
	res, err := c.PushDir(t.Context(), src, loc, ociregistry.PushOptions{Progress: pushed.add})
	if err != nil {
		t.Fatal(err)
	}
	// What a push moves is the manifest, its config and its layers, each
	// counted once.
	sizes := map[string]int64{}
	layers := map[string]int64{}
	for _, a := range res.Artifacts {
		repo, err := c.Repository(loc, a.Repository)
		if err != nil {
			t.Fatal(err)
		}
		m, err := packer.FetchManifest(t.Context(), repo, a.Manifest)
		if err != nil {
			t.Fatal(err)
		}
		size := a.Manifest.Size + m.Config.Size
		for _, l := range m.Layers {
			size += l.Size
			layers[a.Encoding] += l.Size
		}
		sizes[a.Encoding] = size
	}
	for _, enc := range []string{mediatypes.EncodingNative, mediatypes.EncodingPalette} {
		if pushed.total[enc] != sizes[enc] || pushed.done[enc] != sizes[enc] {
			t.Errorf("push of %s: %d of %d bytes reported, want %d of %d", enc, pushed.done[enc], pushed.total[enc], sizes[enc], sizes[enc])
		}
	}
	if len(pushed.names) != 1 || !pushed.names["kubewatch 3.5.0"] {
		t.Errorf("events named %v", pushed.names)
	}

	// An unchanged version moves nothing, and reports nothing.
	again := newTally()
	if _, err := c.PushDir(t.Context(), src, loc, ociregistry.PushOptions{Progress: again.add}); err != nil {
		t.Fatal(err)
	}
	if len(again.names) != 0 {
		t.Errorf("an unchanged push reported %v", again.names)
	}

	// A pull reports every byte it fetches: the manifest and the layers.
	for _, enc := range []string{mediatypes.EncodingNative, mediatypes.EncodingPalette} {
		pulled := newTally()
		ref, _ := ociregistry.ParsePackRef("kubewatch:3.5.0")
		_, f, err := c.Pull(t.Context(), loc, ref, filepath.Join(t.TempDir(), "out"), ociregistry.PullOptions{Encoding: enc, Progress: pulled.add})
		if err != nil {
			t.Fatal(err)
		}
		want := f.Manifest.Size + layers[enc]
		if pulled.total[enc] != want || pulled.done[enc] != want {
			t.Errorf("pull of %s: %d of %d bytes reported, want %d of %d", enc, pulled.done[enc], pulled.total[enc], want, want)
		}
	}
}
