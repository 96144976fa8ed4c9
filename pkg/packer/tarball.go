package packer

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/packyard/packyard/internal/iobuf"
)

// epoch is the modification time of every entry packyard writes, so that
// archives do not depend on when files were touched.
var epoch = time.Unix(0, 0).UTC()

// tarEntry is one entry of a tar packyard writes: name is its path in the
// archive, src its path in the pack.
type tarEntry struct {
	name string
	src  string
	file File
}

// normalMode is the mode packyard records: 0755 for folders and for files
// anyone may execute, 0644 for other files.
func normalMode(f File) int64 {
	if f.Kind == KindDir || f.Mode&0o111 != 0 {
		return 0o755
	}
	return 0o644
}

// writeTar writes entries, in order, as a reproducible tar: fixed owner,
// times and modes, no user or group names, no extended attributes.
func writeTar(ctx context.Context, w io.Writer, dir string, entries []tarEntry) error {
	tw := tar.NewWriter(w)
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr := &tar.Header{Name: e.name, ModTime: epoch, Mode: normalMode(e.file)}
		switch e.file.Kind {
		case KindDir:
			hdr.Typeflag, hdr.Name = tar.TypeDir, e.name+"/"
		case KindSymlink:
			hdr.Typeflag, hdr.Linkname, hdr.Mode = tar.TypeSymlink, filepath.ToSlash(e.file.Target), 0o777
		case KindRegular:
			hdr.Typeflag, hdr.Size = tar.TypeReg, e.file.Size
		default:
			return fmt.Errorf("%s: a %s cannot be part of a pack", e.src, e.file.Kind)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("%s: %w", e.src, err)
		}
		if e.file.Kind == KindRegular {
			if err := copyFile(tw, filepath.Join(dir, filepath.FromSlash(e.src)), e.file.Size); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

// copyFile copies exactly size bytes of a file, failing if the file has
// changed size since the inventory was taken.
func copyFile(w io.Writer, name string, size int64) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := iobuf.Copy(w, io.LimitReader(f, size))
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if n != size {
		return fmt.Errorf("%s changed while the pack was being built (%d bytes, was %d)", name, n, size)
	}
	var one [1]byte
	if m, _ := f.Read(one[:]); m > 0 {
		return fmt.Errorf("%s grew while the pack was being built", name)
	}
	return nil
}

// gzipWriters keeps gzip writers between builds: each holds most of a
// megabyte of compressor state, which a catalog of small packs would
// otherwise allocate once per pack.
var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(io.Discard, gzip.DefaultCompression)
	return zw
}}

// newGzipWriter returns a gzip writer with no name and no time in its
// header, so the same input always gives the same bytes. Once closed, it
// goes back with putGzipWriter.
func newGzipWriter(w io.Writer) *gzip.Writer {
	zw := gzipWriters.Get().(*gzip.Writer)
	zw.Reset(w) // the header of a new writer: no name, no time
	return zw
}

// putGzipWriter gives back a writer newGzipWriter returned, closed or not.
func putGzipWriter(zw *gzip.Writer) {
	zw.Reset(io.Discard)
	gzipWriters.Put(zw)
}
