//go:build !unix

package packer

import (
	"errors"
	"io/fs"
	"os"
)

// renameOntoEmpty renames a folder onto dir, which may exist if empty.
// os.Remove fails on a dir that holds files, which keeps them.
func renameOntoEmpty(from, dir string) error {
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.Rename(from, dir)
}
