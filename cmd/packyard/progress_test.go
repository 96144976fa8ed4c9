package main

import (
	"bytes"
	"testing"

	"github.com/packyard/packyard/pkg/ociregistry"
)

// Off a terminal there is no display at all, and its methods are no-ops.
func TestProgressOffTerminal(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, "pushing")
	if p != nil {
		t.Fatal("a progress display on a buffer")
	}
	if p.Func() != nil {
		t.Error("a nil display gives a hook")
	}
	p.Stop()
	if buf.Len() != 0 {
		t.Errorf("wrote %q", buf.String())
	}
}

func TestProgressDraw(t *testing.T) {
	var buf bytes.Buffer
	p := &progress{w: &buf, verb: "pushing", items: map[string]*progressItem{}}
	hook := p.add
	hook(ociregistry.ProgressEvent{Name: "a", Version: "1.0.0", Encoding: "native", Total: 2048})
	hook(ociregistry.ProgressEvent{Name: "a", Version: "1.0.0", Encoding: "native", Done: 1024})
	hook(ociregistry.ProgressEvent{Name: "b", Version: "2.0.0", Encoding: "palette", Total: 10, Done: 10})
	p.draw()
	want := "  a 1.0.0 (native)                                 1.0 KiB / 2.0 KiB  50%\n" +
		"pushing 2 artifacts: 1.0 KiB / 2.0 KiB  50%\n"
	if buf.String() != want {
		t.Errorf("first draw:\n%q\nwant:\n%q", buf.String(), want)
	}
	buf.Reset()
	hook(ociregistry.ProgressEvent{Name: "a", Version: "1.0.0", Encoding: "native", Done: 1024})
	p.draw()
	want = "\x1b[2F\x1b[J" + "pushing 2 artifacts: 2.0 KiB / 2.0 KiB 100%\n"
	if buf.String() != want {
		t.Errorf("second draw:\n%q\nwant:\n%q", buf.String(), want)
	}
}
