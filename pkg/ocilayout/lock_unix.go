//go:build unix

package ocilayout

import (
	"os"
	"syscall"
)

// lockDir takes an exclusive lock on the folder itself, so no lock file is
// left in the layout, and returns its release. Other processes taking it
// wait.
func lockDir(dir string) (func(), error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
