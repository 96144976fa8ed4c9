package packer

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"
)

// fileState is what the file system says of a file besides its File
// entry: which file it is, and when its content and its metadata last
// changed.
type fileState struct {
	dev, ino     uint64
	mtime, ctime time.Time
	known        bool
}

// stateSettle is how long before a pack is loaded its files must have last
// changed for StateKey to trust their times: a file written twice within
// its file system's timestamp granularity can keep the same times.
var stateSettle = 2 * time.Second

// StateKey identifies the state of the pack folder's files as the file
// system reported it when the pack was loaded, without reading them: every
// file's path, kind, mode, size and link target, its device and inode, and
// the times its content and its metadata last changed. Any write to a
// file, any file added, removed, renamed or linked elsewhere changes the
// key: the change time of a file is set by the system at every change and
// cannot be set back. ok is false where the key cannot be trusted: on a
// system whose file information has no inode or change time; on network
// and FUSE file systems, whose change times may be cached or made up; when
// a file changed less than two seconds before the pack was loaded (or
// after, by the clock); or when Dir, a link, now leads to another folder
// than the one loaded.
//
// Build output is a function of the files' content, which StateKey does
// not read: a caller may remember what it built from a folder under its
// state key, and use it again while the key stays the same.
func (p *Pack) StateKey() (key digest.Digest, ok bool) {
	if len(p.states) != len(p.Files) || !p.trusted {
		return "", false
	}
	if root, err := filepath.EvalSymlinks(p.Dir); err != nil || root != p.root {
		return "", false
	}
	settled := p.loaded.Add(-stateSettle)
	b := []byte("packyard pack state\x00")
	for i, f := range p.Files {
		s := p.states[i]
		if !s.known || !s.mtime.Before(settled) || !s.ctime.Before(settled) {
			return "", false
		}
		b = fmt.Appendf(b, "%q %s %o %d %q %d %d %d %d\n", f.Path, f.Kind, f.Mode, f.Size, f.Target,
			s.dev, s.ino, s.mtime.UnixNano(), s.ctime.UnixNano())
	}
	return digest.FromBytes(b), true
}
