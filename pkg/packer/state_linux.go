//go:build linux

package packer

import (
	"io/fs"
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
		mtime: time.Unix(st.Mtim.Unix()), ctime: time.Unix(st.Ctim.Unix()),
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
	switch int64(st.Type) & 0xffffffff {
	case 0x6969, // NFS
		0x517b,     // SMB
		0xff534d42, // CIFS
		0xfe534d42, // SMB2
		0x65735546, // FUSE
		0x01021997, // 9P
		0x00c36400, // Ceph
		0x5346414f, // AFS
		0x6b414653, // kAFS
		0x73757245, // Coda
		0x564c:     // NCP
		return false
	}
	return true
}
