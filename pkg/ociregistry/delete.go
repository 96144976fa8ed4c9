package ociregistry

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"

	"github.com/packyard/packyard/pkg/mediatypes"
)

// DeleteOptions tune Delete. The zero value deletes every encoding of the
// version.
type DeleteOptions struct {
	// Encoding deletes only this encoding (mediatypes.EncodingNative or
	// mediatypes.EncodingPalette); empty means both.
	Encoding string
}

// Deleted is a manifest Delete removed.
type Deleted struct {
	Encoding   string             `json:"encoding"`
	Repository string             `json:"repository"`
	Tag        string             `json:"tag,omitempty"`
	Manifest   ocispec.Descriptor `json:"manifest"`
}

// Reference is the deleted artifact's full reference.
func (d Deleted) Reference(loc Location) string {
	if d.Tag == "" {
		return loc.Registry + "/" + d.Repository + "@" + d.Manifest.Digest.String()
	}
	return loc.Registry + "/" + d.Repository + ":" + d.Tag
}

// Delete deletes a version of a pack: its manifest, by digest, in the
// repository of each encoding that holds it. ref must name a version or a
// digest: Delete never picks one. Registries delete by digest, so every tag
// of the manifest goes with it; the blobs stay until the registry's
// garbage collection. A registry that does not allow deletes gives an
// error wrapping errdef.ErrUnsupported. What was deleted before an error
// is returned with it.
func (c *Client) Delete(ctx context.Context, loc Location, ref PackRef, opts DeleteOptions) ([]Deleted, error) {
	switch opts.Encoding {
	case "", mediatypes.EncodingNative, mediatypes.EncodingPalette:
	default:
		return nil, fmt.Errorf("unknown encoding %q: use %s or %s", opts.Encoding, mediatypes.EncodingNative, mediatypes.EncodingPalette)
	}
	if ref.Version == "" && ref.Digest == "" {
		return nil, fmt.Errorf("deleting %s: name the version to delete, as in %s:1.0.0: %w", ref, ref.Name, errdef.ErrMissingReference)
	}
	found, err := c.findVersion(ctx, loc, ref, opts.Encoding)
	if err != nil {
		return nil, err
	}
	var deleted []Deleted
	for _, f := range found {
		err := f.Repository.Delete(ctx, f.Manifest)
		switch {
		case err == nil:
			deleted = append(deleted, Deleted{Encoding: f.Encoding, Repository: f.RepositoryName, Tag: f.Tag, Manifest: f.Manifest})
		case httpStatus(err, http.StatusMethodNotAllowed) || errors.Is(err, errdef.ErrUnsupported):
			return deleted, fmt.Errorf("%s does not allow deleting manifests (%s): %w: %w", loc.Registry, f.reference(loc), errdef.ErrUnsupported, err)
		default:
			return deleted, fmt.Errorf("deleting %s: %w", f.reference(loc), err)
		}
	}
	return deleted, nil
}
