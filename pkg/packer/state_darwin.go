//go:build darwin

package packer

import (
	"io/fs"
	"strings"
	"syscall"
	"time"
)

func stateOf(info fs.FileInfo) fileState {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return fileState{}
	}
	return fileState{
		dev: uint64(st.Dev), ino: st.Ino,
		mtime: time.Unix(st.Mtimespec.Unix()), ctime: time.Unix(st.Ctimespec.Unix()),
		known: true,
	}
}

// trustedTimes says whether the file system holding dir keeps the change
// times of its files itself: not a network or FUSE file system, whose
// times may be cached for a while or derived from other times.
func trustedTimes(dir string) bool {
	var st syscall.Statfs_t
	if syscall.Statfs(dir, &st) != nil {
		return false
	}
	var name strings.Builder
	for _, c := range st.Fstypename {
		if c == 0 {
			break
		}
		name.WriteByte(byte(c))
	}
	switch n := name.String(); {
	case n == "nfs", n == "smbfs", n == "afpfs", n == "webdav", n == "cifs", strings.Contains(n, "fuse"):
		return false
	}
	return true
}
