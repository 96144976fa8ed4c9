package iobuf

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// readFromWriter fails the test if its ReadFrom is used.
type readFromWriter struct {
	t *testing.T
	bytes.Buffer
}

func (w *readFromWriter) ReadFrom(io.Reader) (int64, error) {
	w.t.Error("Copy used the writer's ReadFrom")
	return 0, nil
}

func TestCopy(t *testing.T) {
	// Three buffers and a bit, copied three times through pooled buffers.
	data := bytes.Repeat([]byte("0123456789abcdef"), bufferSize/16*3+7)
	for range 3 {
		w := &readFromWriter{t: t}
		n, err := Copy(w, iotest.HalfReader(bytes.NewReader(data)))
		if err != nil || n != int64(len(data)) || !bytes.Equal(w.Bytes(), data) {
			t.Fatalf("copied %d bytes, err %v; equal %v", n, err, bytes.Equal(w.Bytes(), data))
		}
	}
}

func TestCopyError(t *testing.T) {
	boom := errors.New("boom")
	var w bytes.Buffer
	n, err := Copy(&w, io.MultiReader(bytes.NewReader([]byte("abc")), iotest.ErrReader(boom)))
	if !errors.Is(err, boom) || n != 3 || w.String() != "abc" {
		t.Errorf("copied %d bytes (%q), err %v; want 3 and boom", n, w.String(), err)
	}
}
