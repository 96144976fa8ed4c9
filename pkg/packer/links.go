package packer

import (
	"errors"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// errLinkOutside is a path that a symbolic link leads out of its root.
var errLinkOutside = errors.New("a symbolic link on the way leads out of the pack folder")

// maxLinkHops bounds how many links one resolution follows, as the kernel
// does, so that loops end.
const maxLinkHops = 40

// resolveLinks resolves rel, relative to a root, the way the kernel would:
// component by component, a ".." taking back the last resolved component,
// a symbolic link replaced by its target read from the link's own folder.
// lookup returns the entry at a resolved path. It returns the entry rel
// ends at, errLinkOutside when any step leaves the root, and fs.ErrNotExist
// when a component is missing (after checking that the rest of the path,
// read literally, would not leave the root either). The root itself
// resolves to a folder entry with an empty path.
func resolveLinks(rel string, lookup func(string) (File, bool)) (File, error) {
	var stack []string
	todo := components(rel)
	for hops := 0; len(todo) > 0; {
		c := todo[0]
		todo = todo[1:]
		if c == ".." {
			if len(stack) == 0 {
				return File{}, errLinkOutside
			}
			stack = stack[:len(stack)-1]
			continue
		}
		p := path.Join(append(stack, c)...)
		f, ok := lookup(p)
		if !ok || len(todo) > 0 && f.Kind != KindDir && f.Kind != KindSymlink {
			// What follows a missing folder, or a file taken for one, cannot
			// be resolved; a ".." there could lead anywhere (on a file system
			// that ignores case, the "missing" folder may be a link that
			// exists under another case), so it is refused.
			if slices.Contains(todo, "..") {
				return File{}, errLinkOutside
			}
			return File{Path: p}, fs.ErrNotExist
		}
		if f.Kind == KindSymlink {
			if hops++; hops > maxLinkHops {
				return f, errors.New("too many levels of symbolic links")
			}
			if path.IsAbs(f.Target) || filepath.IsAbs(f.Target) || filepath.VolumeName(f.Target) != "" {
				return f, errLinkOutside
			}
			todo = append(components(filepath.ToSlash(f.Target)), todo...)
			continue
		}
		stack = append(stack, c)
	}
	if len(stack) == 0 {
		return File{Kind: KindDir}, nil
	}
	f, _ := lookup(path.Join(stack...))
	return f, nil
}

// components splits a slash path, dropping empty and "." parts but keeping
// "..".
func components(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s != "" && s != "." {
			out = append(out, s)
		}
	}
	return out
}

// resolve follows rel through the pack's symbolic links, which must stay
// inside the pack, and returns the inventory entry it ends at.
func (p *Pack) resolve(rel string) (File, error) {
	return resolveLinks(rel, p.File)
}
