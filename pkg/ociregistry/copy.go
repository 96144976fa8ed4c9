package ociregistry

import (
	"context"
	"fmt"

	"oras.land/oras-go/v2/errdef"

	"github.com/packyard/packyard/pkg/mediatypes"
	"github.com/packyard/packyard/pkg/packer"
)

// CopyOptions tune Copy. The zero value copies every encoding the source
// has and refuses to overwrite a version with other content.
type CopyOptions struct {
	// Encoding copies only this encoding (mediatypes.EncodingNative or
	// mediatypes.EncodingPalette); empty means every encoding the source
	// has.
	Encoding string
	// Force overwrites a version that holds other content at dst.
	Force bool
}

// Copy copies a version of a pack (the highest when ref names none) from
// src to dst, every encoding the source has, with the same rules as a
// push: a version already there with the same content is left alone
// (StatusUnchanged), one with other content is refused with a
// *VersionExistsError unless opts.Force, and the manifest goes last.
// Blobs stream from registry to registry without touching the disk; within
// one registry they are mounted from the source repository, not copied.
// dstClient talks to dst; nil means c.
func (c *Client) Copy(ctx context.Context, src Location, ref PackRef, dst Location, dstClient *Client, opts CopyOptions) (*PushResult, error) {
	if dstClient == nil {
		dstClient = c
	}
	switch opts.Encoding {
	case "", mediatypes.EncodingNative, mediatypes.EncodingPalette:
	default:
		return nil, fmt.Errorf("unknown encoding %q: use %s or %s", opts.Encoding, mediatypes.EncodingNative, mediatypes.EncodingPalette)
	}
	found, err := c.findVersion(ctx, src, ref, opts.Encoding)
	if err != nil {
		return nil, err
	}
	res := &PushResult{Source: src.String() + "/" + ref.String(), Name: ref.Name, Version: ref.Version}
	// Every tag is checked before any is pushed, so that a refused encoding
	// publishes no part of the pack.
	type copyArtifact struct {
		f         *Found
		ca        *checkedArtifact
		mountFrom string
	}
	var checked []copyArtifact
	for _, f := range found {
		tag := f.Tag
		if tag == "" || f.Encoding == mediatypes.EncodingNative && res.Version == "" {
			m, err := packer.FetchManifest(ctx, f.Repository, f.Manifest)
			if err != nil {
				return res, fmt.Errorf("%s: %w", f.reference(src), err)
			}
			if tag == "" {
				tag = tagFromManifest(ref.Name, f.Encoding, m)
			}
			if v := m.Annotations[mediatypes.AnnotationPackVersion]; v != "" && f.Encoding == mediatypes.EncodingNative {
				res.Version = v
			}
		}
		if tag == "" {
			return res, fmt.Errorf("%s names no version to tag the copy with; copy %s:VERSION instead: %w", f.reference(src), ref.Name, errdef.ErrMissingReference)
		}
		if res.Version == "" {
			res.Version = tag
		}
		mountFrom := ""
		if src.Registry == dst.Registry {
			mountFrom = f.RepositoryName
		}
		ca, err := dstClient.checkArtifact(ctx, f.Manifest, f.Encoding, ref.Name, tag, dst, PushOptions{Force: opts.Force})
		if err != nil {
			return res, err
		}
		checked = append(checked, copyArtifact{f: f, ca: ca, mountFrom: mountFrom})
	}
	items := make([]pushItem, len(checked))
	for i, a := range checked {
		items[i] = pushItem{src: resumingFetcher{a.f.Repository}, ca: a.ca, mountFrom: a.mountFrom}
	}
	pushed, err := dstClient.pushChecked(ctx, items, dst, PushOptions{Force: opts.Force})
	res.Artifacts = append(res.Artifacts, pushed...)
	if err != nil {
		return res, err
	}
	return res, nil
}
