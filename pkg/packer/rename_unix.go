//go:build unix

package packer

import "syscall"

// renameOntoEmpty renames a folder onto dir, which may exist if empty. The
// kernel does it in one step and refuses a dir that holds files (os.Rename
// refuses any existing folder, so the system call is used directly).
func renameOntoEmpty(from, dir string) error {
	return syscall.Rename(from, dir)
}
