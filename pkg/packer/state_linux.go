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
