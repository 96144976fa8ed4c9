// Package testtar builds tar and gzip archives for tests, hostile ones
// included: names, links and types are written as given, unchecked.
package testtar

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"testing"
)

// Entry is one entry of an archive.
type Entry struct {
	Name string
	// Type is a tar type flag: tar.TypeReg, TypeDir, TypeSymlink,
	// TypeLink, TypeChar, TypeBlock, TypeFifo...
	Type byte
	Body string
	// Link is the target of a symbolic or hard link.
	Link string
	Mode int64
	// Zeros, when set, makes a regular file of that many zero bytes,
	// streamed (Body is ignored).
	Zeros int64
}

// File is a regular file holding body.
func File(name, body string) Entry {
	return Entry{Name: name, Type: tar.TypeReg, Body: body, Mode: 0o644}
}

// Dir is a folder; its name ends with "/" as tar writes them.
func Dir(name string) Entry { return Entry{Name: name, Type: tar.TypeDir, Mode: 0o755} }

// Symlink is a symbolic link to target.
func Symlink(name, target string) Entry {
	return Entry{Name: name, Type: tar.TypeSymlink, Link: target, Mode: 0o777}
}

// HardLink is a hard link to target.
func HardLink(name, target string) Entry {
	return Entry{Name: name, Type: tar.TypeLink, Link: target, Mode: 0o644}
}

// Special is an entry of another type: a device or a FIFO.
func Special(name string, typ byte) Entry { return Entry{Name: name, Type: typ, Mode: 0o644} }

// Zeros is a regular file of size zero bytes.
func Zeros(name string, size int64) Entry {
	return Entry{Name: name, Type: tar.TypeReg, Zeros: size, Mode: 0o644}
}

// Tar writes entries, in order, into a PAX tar.
func Tar(t testing.TB, entries ...Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.Name, Typeflag: e.Type, Linkname: e.Link, Mode: e.Mode, Format: tar.FormatPAX}
		if e.Type == tar.TypeReg {
			hdr.Size = int64(len(e.Body))
			if e.Zeros > 0 {
				hdr.Size = e.Zeros
			}
		}
		if e.Type == tar.TypeChar || e.Type == tar.TypeBlock {
			hdr.Devmajor, hdr.Devminor = 1, 3
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("%s: %v", e.Name, err)
		}
		var err error
		switch {
		case e.Type != tar.TypeReg:
		case e.Zeros > 0:
			_, err = io.CopyN(tw, zeros{}, e.Zeros)
		default:
			_, err = tw.Write([]byte(e.Body))
		}
		if err != nil {
			t.Fatalf("%s: %v", e.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Gzip compresses data at the best compression, so that files of zeros
// make small bombs.
func Gzip(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
