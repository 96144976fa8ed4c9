package packer

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/opencontainers/go-digest"

	"github.com/packyard/packyard/internal/ctxio"
	"github.com/packyard/packyard/internal/iobuf"
)

// Limits of Unpack, against decompression bombs.
const (
	// DefaultMaxUnpackSize is the most bytes Unpack writes unless told
	// otherwise.
	DefaultMaxUnpackSize int64 = 8 << 30
	// DefaultMaxUnpackEntries is the most files, folders and links Unpack
	// creates unless told otherwise.
	DefaultMaxUnpackEntries = 200_000
)

// extractor writes the entries of one or more layers into a fresh folder,
// refusing anything that could escape it. It creates no symbolic link until
// every other entry is written, so no write can go through one, and checks
// each link against the folder that becomes the pack.
type extractor struct {
	// ctx is the operation's context; extraction stops when it ends.
	ctx        context.Context
	root       string
	maxBytes   int64
	maxEntries int

	bytes   int64
	entries map[string]File
	links   []linkEntry
}

// maxLinkTarget is the longest link name or target Unpack accepts, the
// kernel's path limit.
const maxLinkTarget = 4095

type linkEntry struct {
	layer, name, rel, target string
}

func newExtractor(root string, maxBytes int64, maxEntries int) *extractor {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxUnpackSize
	}
	if maxEntries <= 0 {
		maxEntries = DefaultMaxUnpackEntries
	}
	return &extractor{ctx: context.Background(), root: root, maxBytes: maxBytes, maxEntries: maxEntries, entries: map[string]File{}}
}

// safeName checks an entry name from an artifact and returns it cleaned,
// relative, with forward slashes. "" means the root itself.
func safeName(name string) (string, error) {
	switch {
	case strings.ContainsRune(name, 0):
		return "", errors.New("the name holds a NUL byte")
	case strings.Contains(name, `\`):
		return "", errors.New("the name holds a backslash")
	case strings.HasPrefix(name, "/") || filepath.VolumeName(name) != "" || len(name) > 1 && name[1] == ':':
		return "", errors.New("the name is an absolute path")
	}
	if slices.Contains(strings.Split(name, "/"), "..") {
		return "", errors.New(`the name holds "..", which leads out of the target folder`)
	}
	c := path.Clean(name)
	if c == "." {
		return "", nil
	}
	if len(c) > 1 && c[1] == ':' || filepath.VolumeName(c) != "" {
		// "./C:x" cleans to a drive-relative name.
		return "", errors.New("the name is an absolute path")
	}
	return c, nil
}

func (x *extractor) unsafe(layer, name, reason string) error {
	return unsafeEntry(layer, name, reason)
}

func unsafeEntry(layer, name, reason string) error {
	return &UnsafeEntryError{Layer: layer, Entry: name, Reason: reason}
}

// claim records an entry at rel, refusing duplicates, entries below a link
// and too many entries.
func (x *extractor) claim(layer, name, rel string, kind FileKind) error {
	if prev, ok := x.entries[rel]; ok {
		if prev.Kind == KindDir && kind == KindDir {
			return nil
		}
		return x.unsafe(layer, name, "a second entry for "+rel+" (duplicate names are refused)")
	}
	for d := path.Dir(rel); d != "."; d = path.Dir(d) {
		if prev, ok := x.entries[d]; ok && prev.Kind != KindDir {
			return x.unsafe(layer, name, fmt.Sprintf("it lies below %s, which is a %s", d, prev.Kind))
		}
	}
	// A link over a folder that already holds entries needs no search:
	// mkdirs recorded the folder, so the duplicate check above refused it.
	if len(x.entries) >= x.maxEntries {
		return kindf(ErrTooLarge, "layer %s: more than %d entries", layer, x.maxEntries)
	}
	x.entries[rel] = File{Path: rel, Kind: kind}
	return nil
}

func (x *extractor) full(rel string) string { return filepath.Join(x.root, filepath.FromSlash(rel)) }

// mkdirs creates the folders leading to rel, recording them.
func (x *extractor) mkdirs(layer, name, rel string) error {
	var missing []string
	for d := path.Dir(rel); d != "."; d = path.Dir(d) {
		if _, ok := x.entries[d]; ok {
			break
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := x.claim(layer, name, missing[i], KindDir); err != nil {
			return err
		}
		if err := os.Mkdir(x.full(missing[i]), 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	return nil
}

func (x *extractor) dir(layer, name, rel string) error {
	if rel == "" {
		return nil
	}
	if err := x.mkdirs(layer, name, rel); err != nil {
		return err
	}
	if err := x.claim(layer, name, rel, KindDir); err != nil {
		return err
	}
	if err := os.Mkdir(x.full(rel), 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

// claimFile makes the folders above rel, a regular file to be written,
// and claims rel for it.
func (x *extractor) claimFile(layer, name, rel string) error {
	if rel == "" {
		return x.unsafe(layer, name, "a file cannot replace the target folder")
	}
	if err := x.mkdirs(layer, name, rel); err != nil {
		return err
	}
	return x.claim(layer, name, rel, KindRegular)
}

// file writes one regular file of at most the remaining byte budget.
func (x *extractor) file(layer, name, rel string, exec bool, r io.Reader) error {
	if err := x.claimFile(layer, name, rel); err != nil {
		return err
	}
	mode := fs.FileMode(0o644)
	if exec {
		mode = 0o755
	}
	f, err := os.OpenFile(x.full(rel), os.O_WRONLY|os.O_CREATE|os.O_EXCL|noFollow, mode)
	if err != nil {
		return err
	}
	budget := x.maxBytes - x.bytes
	n, err := iobuf.Copy(f, io.LimitReader(ctxio.Reader{Ctx: x.ctx, R: r}, budget+1))
	x.bytes += n
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("layer %s: writing %s: %w", layer, rel, err)
	}
	if n > budget {
		return kindf(ErrTooLarge, "layer %s: unpacking past %d bytes at %s", layer, x.maxBytes, rel)
	}
	return nil
}

// place moves a verified file of size bytes, staged outside the root on
// the same file system, to rel, with the checks and accounting of file.
func (x *extractor) place(layer, name, rel, staged string, size int64) error {
	if err := x.claimFile(layer, name, rel); err != nil {
		return err
	}
	if size > x.maxBytes-x.bytes {
		return kindf(ErrTooLarge, "layer %s: unpacking past %d bytes at %s", layer, x.maxBytes, rel)
	}
	x.bytes += size
	// Rename replaces what is there, where file's O_EXCL fails: no entry
	// at rel was claimed, but on a file system that ignores case another
	// name may be the same file.
	full := x.full(rel)
	if _, err := os.Lstat(full); !errors.Is(err, fs.ErrNotExist) {
		if err == nil {
			return x.unsafe(layer, name, "a second entry for "+rel+" (the file system does not tell their names apart)")
		}
		return err
	}
	if err := os.Rename(staged, full); err != nil {
		return fmt.Errorf("layer %s: moving %s into place: %w", layer, rel, err)
	}
	return nil
}

// hardLink makes rel a second name of a regular file extracted earlier.
func (x *extractor) hardLink(layer, name, rel, target string) error {
	trel, err := safeName(target)
	if err != nil {
		return x.unsafe(layer, name, "hard link target: "+err.Error())
	}
	if f, ok := x.entries[trel]; !ok || f.Kind != KindRegular {
		return x.unsafe(layer, name, fmt.Sprintf("hard link to %q, which is not a file extracted before it", target))
	}
	if err := x.mkdirs(layer, name, rel); err != nil {
		return err
	}
	if err := x.claim(layer, name, rel, KindRegular); err != nil {
		return err
	}
	return os.Link(x.full(trel), x.full(rel))
}

func (x *extractor) symlink(layer, name, rel, target string) error {
	if rel == "" {
		return x.unsafe(layer, name, "a link cannot replace the target folder")
	}
	if target == "" || strings.ContainsRune(target, 0) {
		return x.unsafe(layer, name, "the link has no valid target")
	}
	if len(target) > maxLinkTarget || len(rel) > maxLinkTarget {
		return x.unsafe(layer, name, fmt.Sprintf("the link's name or target is longer than %d bytes", maxLinkTarget))
	}
	// Links are kept in memory until every file is written: count them
	// against the size limit like file content.
	if x.bytes += int64(len(rel) + len(target)); x.bytes > x.maxBytes {
		return kindf(ErrTooLarge, "layer %s: unpacking past %d bytes at %s", layer, x.maxBytes, rel)
	}
	if path.IsAbs(target) || filepath.IsAbs(target) || filepath.VolumeName(target) != "" {
		return x.unsafe(layer, name, fmt.Sprintf("link to the absolute path %q", target))
	}
	if err := x.mkdirs(layer, name, rel); err != nil {
		return err
	}
	if err := x.claim(layer, name, rel, KindSymlink); err != nil {
		return err
	}
	e := x.entries[rel]
	e.Target = target
	x.entries[rel] = e
	x.links = append(x.links, linkEntry{layer: layer, name: name, rel: rel, target: target})
	return nil
}

// finishLinks creates the recorded links once every other entry exists,
// after checking that each resolves inside base, the folder that becomes
// the pack ("" for the root).
func (x *extractor) finishLinks(base string) error {
	lookup := func(p string) (File, bool) {
		f, ok := x.entries[path.Join(base, p)]
		return f, ok
	}
	for _, l := range x.links {
		inBase := l.rel
		if base != "" {
			if !under(l.rel, base) {
				return x.unsafe(l.layer, l.name, "the link lies outside the pack folder")
			}
			inBase = strings.TrimPrefix(l.rel, base+"/")
		}
		if _, err := resolveLinks(inBase, lookup); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return x.unsafe(l.layer, l.name, fmt.Sprintf("link to %q: %v", l.target, err))
		}
	}
	for _, l := range x.links {
		if err := os.Symlink(filepath.FromSlash(l.target), x.full(l.rel)); err != nil {
			return err
		}
	}
	return nil
}

// untar extracts a tar or gzip'd tar stream. With prefix set, every entry
// must be the prefix folder or lie inside it, as oras requires of folder
// layers. It reads the stream to its end, so the caller can verify its
// digest, and checks the uncompressed tar against tarDigest when given.
func (x *extractor) untar(layer, prefix string, r io.Reader, tarDigest digest.Digest) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var tr io.Reader = br
	var zr *gzip.Reader
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		var err error
		if zr, err = gzip.NewReader(br); err != nil {
			return x.unsafe(layer, "", "gzip: "+err.Error())
		}
		zr.Multistream(false)
		tr = zr
	}
	var verifier digest.Verifier
	if tarDigest != "" {
		if err := tarDigest.Validate(); err != nil {
			return x.unsafe(layer, "", "content digest annotation: "+err.Error())
		}
		verifier = tarDigest.Verifier()
		tr = io.TeeReader(tr, verifier)
	}
	t := tar.NewReader(tr)
	for {
		if err := x.ctx.Err(); err != nil {
			return err
		}
		hdr, err := t.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return x.unsafe(layer, "", "reading tar: "+err.Error())
		}
		if err := x.entry(layer, prefix, hdr, t); err != nil {
			return err
		}
	}
	// Read what follows the end-of-archive marker so digests cover it all.
	if _, err := io.Copy(io.Discard, io.LimitReader(tr, x.maxBytes)); err != nil {
		return x.unsafe(layer, "", "reading past the end of the tar: "+err.Error())
	}
	if zr != nil {
		if _, err := io.Copy(io.Discard, br); err != nil {
			return err
		}
	}
	if verifier != nil && !verifier.Verified() {
		return x.unsafe(layer, "", "the unpacked tar does not match its content digest annotation")
	}
	return nil
}

func (x *extractor) entry(layer, prefix string, hdr *tar.Header, r io.Reader) error {
	name := hdr.Name
	rel, err := safeName(name)
	if err != nil {
		return x.unsafe(layer, name, err.Error())
	}
	if prefix != "" && rel != prefix && !under(rel, prefix) {
		return x.unsafe(layer, name, fmt.Sprintf("the entry lies outside its layer's folder %q", prefix))
	}
	switch hdr.Typeflag {
	case tar.TypeReg:
		if hdr.Size > x.maxBytes-x.bytes {
			return kindf(ErrTooLarge, "layer %s: entry %q (%d bytes) takes the pack past the %d-byte limit", layer, name, hdr.Size, x.maxBytes)
		}
		return x.file(layer, name, rel, hdr.Mode&0o111 != 0, r)
	case tar.TypeDir:
		return x.dir(layer, name, rel)
	case tar.TypeSymlink:
		return x.symlink(layer, name, rel, hdr.Linkname)
	case tar.TypeLink:
		return x.hardLink(layer, name, rel, hdr.Linkname)
	case tar.TypeXGlobalHeader:
		return nil
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return x.unsafe(layer, name, "device files and pipes are refused")
	default:
		return x.unsafe(layer, name, fmt.Sprintf("unsupported tar entry type %q", hdr.Typeflag))
	}
}
