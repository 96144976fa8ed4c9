package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/packyard/packyard/pkg/ociregistry"
)

// progressRows is how many artifacts the display shows at once; the rest
// count in its total line.
const progressRows = 8

// progress draws the bytes each pack artifact has moved, redrawn a few
// times a second, on a terminal only. A nil *progress draws nothing.
type progress struct {
	w    io.Writer
	verb string

	mu    sync.Mutex
	order []string
	items map[string]*progressItem
	lines int

	stop chan struct{}
	done chan struct{}
}

type progressItem struct {
	label       string
	total, done int64
}

// newProgress starts a display on w when w is a terminal, and returns nil
// otherwise (scripts, pipes, tests).
func newProgress(w io.Writer, verb string) *progress {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	p := &progress{w: w, verb: verb, items: map[string]*progressItem{}, stop: make(chan struct{}), done: make(chan struct{})}
	go p.loop()
	return p
}

// Func is the hook to give the library, nil for a nil display.
func (p *progress) Func() ociregistry.ProgressFunc {
	if p == nil {
		return nil
	}
	return p.add
}

func (p *progress) add(e ociregistry.ProgressEvent) {
	key := e.Name + " " + e.Version + " " + e.Encoding
	p.mu.Lock()
	defer p.mu.Unlock()
	it, ok := p.items[key]
	if !ok {
		label := e.Name + " " + e.Version
		if e.Encoding != "" {
			label += " (" + e.Encoding + ")"
		}
		it = &progressItem{label: label}
		p.items[key] = it
		p.order = append(p.order, key)
	}
	it.total += e.Total
	it.done += e.Done
}

func (p *progress) loop() {
	defer close(p.done)
	t := time.NewTicker(150 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.draw()
		}
	}
}

// draw rewrites the display in place: the artifacts still moving first,
// then a total line.
func (p *progress) draw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.order) == 0 {
		return
	}
	var active []*progressItem
	var total, done int64
	for _, k := range p.order {
		it := p.items[k]
		total += it.total
		done += it.done
		if it.done < it.total {
			active = append(active, it)
		}
	}
	sort.SliceStable(active, func(i, j int) bool { return active[i].total-active[i].done > active[j].total-active[j].done })
	if len(active) > progressRows {
		active = active[:progressRows]
	}
	ew := &errWriter{w: p.w}
	if p.lines > 0 {
		ew.printf("\x1b[%dF\x1b[J", p.lines)
	}
	for _, it := range active {
		ew.printf("  %-48s %s\n", it.label, progressBytes(it.done, it.total))
	}
	ew.printf("%s %d %s: %s\n", p.verb, len(p.order), pluralWord(len(p.order), "artifact"), progressBytes(done, total))
	p.lines = len(active) + 1
}

// Stop ends the display and erases it, so that results print on a clean
// screen.
func (p *progress) Stop() {
	if p == nil {
		return
	}
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lines > 0 {
		_, _ = fmt.Fprintf(p.w, "\x1b[%dF\x1b[J", p.lines)
		p.lines = 0
	}
}

func progressBytes(done, total int64) string {
	if total <= 0 {
		return humanBytes(done)
	}
	return fmt.Sprintf("%s / %s %3d%%", humanBytes(done), humanBytes(total), done*100/total)
}

func pluralWord(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
