// Package iobuf copies content through pooled buffers.
package iobuf

import (
	"io"
	"sync"
)

// bufferSize is the size of the buffer content is copied through:
// large enough that a chart archive takes few system calls.
const bufferSize = 256 << 10

// buffers keeps the buffers of finished copies: a pack of many small
// files would otherwise allocate, and zero, one per file.
var buffers = sync.Pool{New: func() any { b := make([]byte, bufferSize); return &b }}

// Copy copies src to dst through a pooled buffer. Neither side's
// ReadFrom or WriteTo is used: an *os.File's ReadFrom would copy through a
// small buffer of its own when src is not a file.
func Copy(dst io.Writer, src io.Reader) (int64, error) {
	buf := buffers.Get().(*[]byte)
	defer buffers.Put(buf)
	return io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, *buf)
}
