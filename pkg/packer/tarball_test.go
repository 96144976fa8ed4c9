package packer

import (
	"bytes"
	"crypto/rand"
	"io"
	"testing"

	"github.com/klauspost/compress/gzip"
)

// A pooled gzip writer, even one given back in the middle of a stream,
// writes the same bytes as a new one: archives stay reproducible.
func TestPooledGzipWriterSameBytes(t *testing.T) {
	data := append(bytes.Repeat([]byte("values: yaml\n"), 5000), rand.Text()...)
	var want bytes.Buffer
	fresh, _ := gzip.NewWriterLevel(&want, gzip.DefaultCompression)
	if _, err := fresh.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := fresh.Close(); err != nil {
		t.Fatal(err)
	}

	// Abandoned half-way, with other content.
	zw := newGzipWriter(io.Discard)
	if _, err := zw.Write([]byte(rand.Text() + rand.Text())); err != nil {
		t.Fatal(err)
	}
	putGzipWriter(zw)
	for range 3 {
		var got bytes.Buffer
		zw := newGzipWriter(&got)
		if _, err := zw.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		putGzipWriter(zw)
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("a pooled writer wrote %d bytes unlike a new one's %d", got.Len(), want.Len())
		}
	}
}
