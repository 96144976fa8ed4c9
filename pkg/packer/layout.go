package packer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"

	"github.com/packyard/packyard/pkg/mediatypes"
	"github.com/packyard/packyard/pkg/ocilayout"
)

// PaletteTagSuffix ends the tag of a Palette archive in an OCI image layout,
// where it sits beside the native artifact that has the plain tag. In a
// registry each encoding has a repository of its own and both use the
// plain tag.
const PaletteTagSuffix = "-palette"

// LayoutTag is the tag an encoding of a pack has in an OCI image layout.
func LayoutTag(encoding, tag string) string {
	if encoding == mediatypes.EncodingPalette {
		return tag + PaletteTagSuffix
	}
	return tag
}

// BuildToLayout builds the pack into the OCI image layout at root and tags
// each encoding (see LayoutTag). A layout that does not exist yet is built
// in a temporary folder beside root and renamed into place when complete;
// in an existing layout the index is updated only after every blob is
// stored, so a failed build leaves no visible pack.
func BuildToLayout(ctx context.Context, p *Pack, root string, opts BuildOptions) (*BuildResult, error) {
	fresh, err := freshLayoutTarget(root)
	if err != nil {
		return nil, err
	}
	dir := root
	if fresh {
		if err := os.MkdirAll(filepath.Dir(filepath.Clean(root)), 0o755); err != nil {
			return nil, err
		}
		dir, err = os.MkdirTemp(filepath.Dir(filepath.Clean(root)), "."+filepath.Base(root)+".build-*")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	}
	l, err := ocilayout.Create(dir)
	if err != nil {
		return nil, err
	}
	if !fresh {
		if err := checkTagOwners(l, p); err != nil {
			return nil, err
		}
	}
	res, err := Build(ctx, p, l, opts)
	if err != nil {
		return nil, err
	}
	for _, a := range res.Artifacts() {
		desc := a.Manifest
		desc.Annotations = map[string]string{
			mediatypes.AnnotationEncoding:    a.Encoding,
			mediatypes.AnnotationPackName:    p.Meta.Name,
			mediatypes.AnnotationPackVersion: p.Meta.Version,
		}
		if err := l.Tag(ctx, desc, LayoutTag(a.Encoding, res.Tag)); err != nil {
			return nil, err
		}
	}
	if fresh {
		if err := os.Chmod(dir, 0o755); err != nil {
			return nil, err
		}
		_ = os.Remove(root) // an empty folder given as the target
		if err := os.Rename(dir, root); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// freshLayoutTarget says whether root is to become a new layout: it does
// not exist or is an empty folder. An existing layout is added to; anything
// else is refused.
func freshLayoutTarget(root string) (bool, error) {
	st, err := os.Stat(root)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if !st.IsDir() {
		return false, kindf(ErrTargetNotFolder, "%s exists and is a file; give a folder for the OCI image layout", root)
	}
	if _, err := os.Stat(filepath.Join(root, ocispec.ImageLayoutFile)); err == nil {
		return false, nil
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return false, err
	}
	if len(entries) > 0 {
		return false, kindf(ErrTargetNotEmpty, "%s holds files but is not an OCI image layout; give a new or empty folder", root)
	}
	return true, nil
}

// checkTagOwners refuses to move a tag of a layout from one pack to
// another: the tags of two packs with the same version would collide.
func checkTagOwners(l *ocilayout.Layout, p *Pack) error {
	for _, m := range l.Manifests() {
		owner := m.Annotations[mediatypes.AnnotationPackName]
		tag := m.Annotations[ocispec.AnnotationRefName]
		if owner == "" || owner == p.Meta.Name {
			continue
		}
		for _, enc := range []string{mediatypes.EncodingNative, mediatypes.EncodingPalette} {
			if tag == LayoutTag(enc, p.Tag()) {
				return fmt.Errorf("layout %s already holds pack %q at tag %q; build %q into another folder: %w",
					l.Root(), owner, tag, p.Meta.Name, errdef.ErrAlreadyExists)
			}
		}
	}
	return nil
}

// SplitLayoutRef splits "PATH[:TAG|@DIGEST]" into the layout path and the
// reference. A colon that is part of the path (a Windows drive, a folder
// name) is kept when no layout exists at the shorter path.
func SplitLayoutRef(s string) (root, ref string) {
	if i := strings.LastIndex(s, "@"); i > 0 {
		if _, err := digest.Parse(s[i+1:]); err == nil {
			return s[:i], s[i+1:]
		}
	}
	if i := strings.LastIndex(s, ":"); i > 0 && !strings.Contains(s[i+1:], "/") {
		if _, err := os.Stat(filepath.Join(s[:i], ocispec.ImageLayoutFile)); err == nil {
			return s[:i], s[i+1:]
		}
		if _, err := os.Stat(s); err != nil {
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// ResolveInLayout finds the manifest of a pack in a layout. ref is a tag, a
// digest, or empty when the layout holds one pack. encoding, when set,
// picks that encoding; otherwise the native artifact is preferred to the
// Palette archive of the same pack.
func ResolveInLayout(ctx context.Context, l *ocilayout.Layout, ref, encoding string) (ocispec.Descriptor, error) {
	if _, err := digest.Parse(ref); err == nil {
		return l.Resolve(ctx, ref)
	}
	if ref != "" {
		var tries []string
		switch encoding {
		case mediatypes.EncodingPalette:
			tries = []string{LayoutTag(mediatypes.EncodingPalette, ref), ref}
		case mediatypes.EncodingNative:
			tries = []string{ref}
		default:
			tries = []string{ref, LayoutTag(mediatypes.EncodingPalette, ref)}
		}
		var mismatch string
		for _, t := range tries {
			d, err := l.Resolve(ctx, t)
			if err == nil {
				if got := d.Annotations[mediatypes.AnnotationEncoding]; encoding != "" && got != "" && got != encoding {
					mismatch = fmt.Sprintf("tag %q of %s holds the %s encoding, not the %s one", t, l.Root(), got, encoding)
					continue
				}
				return d, nil
			}
			if !errors.Is(err, errdef.ErrNotFound) {
				return ocispec.Descriptor{}, err
			}
		}
		if mismatch != "" {
			return ocispec.Descriptor{}, fmt.Errorf("%s (tags: %s): %w", mismatch, strings.Join(layoutTags(l), ", "), errdef.ErrNotFound)
		}
		return ocispec.Descriptor{}, fmt.Errorf("no tag %q in %s (tags: %s): %w", ref, l.Root(), strings.Join(layoutTags(l), ", "), errdef.ErrNotFound)
	}
	// No reference: the layout must hold a single pack.
	var candidates []ocispec.Descriptor
	packs := map[string]bool{}
	for _, m := range l.Manifests() {
		enc := m.Annotations[mediatypes.AnnotationEncoding]
		if encoding != "" && enc != "" && enc != encoding {
			continue
		}
		packs[m.Annotations[mediatypes.AnnotationPackName]+"\x00"+m.Annotations[mediatypes.AnnotationPackVersion]+"\x00"+tagKey(m)] = true
		candidates = append(candidates, m)
	}
	switch {
	case len(candidates) == 0:
		return ocispec.Descriptor{}, fmt.Errorf("%s holds no pack: %w", l.Root(), errdef.ErrNotFound)
	case len(packs) > 1:
		return ocispec.Descriptor{}, fmt.Errorf("%s holds several packs; name one as %s:TAG (tags: %s): %w", l.Root(), l.Root(), strings.Join(layoutTags(l), ", "), errdef.ErrMissingReference)
	}
	slices.SortStableFunc(candidates, func(a, b ocispec.Descriptor) int {
		return encodingRank(a) - encodingRank(b)
	})
	d := candidates[0]
	delete(d.Annotations, ocispec.AnnotationRefName)
	return d, nil
}

// tagKey groups the two encodings of one pack without annotations to go
// by: their tags differ only by PaletteTagSuffix.
func tagKey(m ocispec.Descriptor) string {
	if m.Annotations[mediatypes.AnnotationPackName] != "" {
		return ""
	}
	return strings.TrimSuffix(m.Annotations[ocispec.AnnotationRefName], PaletteTagSuffix)
}

func encodingRank(d ocispec.Descriptor) int {
	if d.Annotations[mediatypes.AnnotationEncoding] == mediatypes.EncodingPalette {
		return 1
	}
	return 0
}

func layoutTags(l *ocilayout.Layout) []string {
	var tags []string
	for _, m := range l.Manifests() {
		if t := m.Annotations[ocispec.AnnotationRefName]; t != "" {
			tags = append(tags, t)
		}
	}
	slices.Sort(tags)
	return tags
}
