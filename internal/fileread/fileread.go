// Package fileread reads small files whose size packyard does not control,
// never past a bound.
package fileread

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Limited reads the whole file at name, failing rather than reading past
// limit bytes, so a hostile or runaway file (a link to /dev/zero, say)
// cannot exhaust memory.
func Limited(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", filepath.Base(name), limit)
	}
	return data, nil
}
