package ociregistry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/packyard/packyard/pkg/mediatypes"
	"github.com/packyard/packyard/pkg/packer"
)

// ErrCatalogUnavailable: the registry does not list its repositories (the
// _catalog API is refused, missing or not allowed for this account, as on
// ECR without the permission or Harbor for non-admins). Name the packs to
// list instead (ListOptions.Names).
var ErrCatalogUnavailable = errors.New("registry catalog unavailable")

// DefaultListConcurrency is how many requests List makes at once unless
// told otherwise.
const DefaultListConcurrency = 32

// ListOptions tune List. The zero value lists every pack the registry's
// catalog shows below the location.
type ListOptions struct {
	// Names lists only these packs, without reading the catalog. Packs that
	// are not in the registry are left out of the result.
	Names []string
	// Layer keeps only versions whose pack.json layer is this one (os,
	// k8s, cni, csi, addon...). Palette-only versions carry no layer and
	// are left out when it is set.
	Layer string
	// Concurrency is how many requests run at once; zero means
	// DefaultListConcurrency.
	Concurrency int
}

// PackInfo is a pack in a registry and its versions, oldest first.
type PackInfo struct {
	Name     string        `json:"name"`
	Versions []VersionInfo `json:"versions"`
}

// VersionInfo is one version of a pack, with the metadata its native
// manifest's annotations carry. A version with only a Palette archive has
// no metadata, and its Version is its tag.
type VersionInfo struct {
	Version string `json:"version"`
	Tag     string `json:"tag"`
	// Encodings present, native first.
	Encodings []string `json:"encodings"`
	// Digests are the manifest digests, by encoding.
	Digests     map[string]digest.Digest `json:"digests"`
	DisplayName string                   `json:"displayName,omitempty"`
	Layer       string                   `json:"layer,omitempty"`
	AddonType   string                   `json:"addonType,omitempty"`
	CloudTypes  []string                 `json:"cloudTypes,omitempty"`
	Group       string                   `json:"group,omitempty"`
	EOL         string                   `json:"eol,omitempty"`
}

// List lists the packs below loc, their versions and metadata. A packyard
// registry answers in one request, from its pack catalog (CatalogAPIPath);
// other registries, and packyard registries that refuse or cannot yet
// answer it, are read through the OCI API: tags and manifests only, no
// blob. Both give the same result. Pack names come from the registry's
// catalog, or from opts.Names; a registry that refuses its catalog gives
// an error wrapping ErrCatalogUnavailable unless names are given. Packs are
// sorted by name, versions by semantic version.
func (c *Client) List(ctx context.Context, loc Location, opts ListOptions) ([]PackInfo, error) {
	packs, err := c.listFromCatalogAPI(ctx, loc, opts)
	if !errors.Is(err, errNoCatalogAPI) {
		return packs, err
	}
	return c.listFromOCI(ctx, loc, opts)
}

// listFromOCI lists the packs below loc through the OCI distribution API:
// the registry's _catalog (or opts.Names), the tags of each pack
// repository, and each tag's manifest.
func (c *Client) listFromOCI(ctx context.Context, loc Location, opts ListOptions) ([]PackInfo, error) {
	limit := opts.Concurrency
	if limit <= 0 {
		limit = DefaultListConcurrency
	}
	names := slices.Clone(opts.Names)
	// present says which encodings' repositories the catalog shows for a
	// pack; names given by hand are asked for in both.
	var present map[string][]string
	if len(names) == 0 {
		var err error
		present, err = c.catalogPacks(ctx, loc)
		if err != nil {
			return nil, err
		}
		for n := range present {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)

	// The tags of every pack repository, and every manifest.
	type repoJob struct{ name, encoding string }
	var repos []*repoJob
	for _, n := range names {
		encodings := []string{mediatypes.EncodingNative, mediatypes.EncodingPalette}
		if present != nil {
			encodings = present[n]
		}
		for _, enc := range encodings {
			repos = append(repos, &repoJob{name: n, encoding: enc})
		}
	}
	// Each repository's manifests are read as soon as its tags are known,
	// so that the registry is never idle between the two.
	versions := map[string]map[string]*VersionInfo{} // name → tag → version
	var mu sync.Mutex
	// (Wait ends a group's context: the tags' is derived from the
	// manifests', which outlives it.)
	manifestGroup, mctx := errgroup.WithContext(ctx)
	manifestGroup.SetLimit(limit)
	tagGroup, gctx := errgroup.WithContext(mctx)
	tagGroup.SetLimit(max(limit/4, 1)) // each tag list feeds several manifests
	for _, j := range repos {
		tagGroup.Go(func() error {
			repoName := loc.encodingRepository(j.name, j.encoding)
			repo, err := c.Repository(loc, repoName)
			if err != nil {
				return err
			}
			tags, err := Tags(gctx, repo)
			if err != nil {
				return fmt.Errorf("listing the tags of %s/%s: %w", loc.Registry, repoName, err)
			}
			for _, tag := range tags {
				manifestGroup.Go(func() error {
					var v *VersionInfo
					var err error
					if j.encoding == mediatypes.EncodingNative {
						v, err = nativeVersion(mctx, repo, tag)
					} else {
						v, err = paletteVersion(mctx, repo, tag)
					}
					if errors.Is(err, errdef.ErrNotFound) || errors.Is(err, packer.ErrNotPack) {
						return nil // deleted meanwhile, or not a pack
					}
					if err != nil {
						return fmt.Errorf("reading %s/%s:%s: %w", loc.Registry, repoName, tag, err)
					}
					mu.Lock()
					defer mu.Unlock()
					byTag := versions[j.name]
					if byTag == nil {
						byTag = map[string]*VersionInfo{}
						versions[j.name] = byTag
					}
					byTag[tag] = mergeVersion(byTag[tag], v)
					return nil
				})
			}
			return nil
		})
	}
	tagErr := tagGroup.Wait()
	if err := manifestGroup.Wait(); tagErr == nil {
		tagErr = err
	}
	if tagErr != nil {
		return nil, tagErr
	}

	out := []PackInfo{}
	for _, n := range names {
		p := PackInfo{Name: n}
		for _, v := range versions[n] {
			if opts.Layer != "" && v.Layer != opts.Layer {
				continue
			}
			p.Versions = append(p.Versions, *v)
		}
		if len(p.Versions) == 0 {
			continue
		}
		slices.SortFunc(p.Versions, func(a, b VersionInfo) int { return CompareTags(a.Tag, b.Tag) })
		out = append(out, p)
	}
	return out, nil
}

// encodingRepository is the repository of a pack's encoding.
func (l Location) encodingRepository(name, encoding string) string {
	if encoding == mediatypes.EncodingPalette {
		return l.PaletteRepository(name)
	}
	return l.NativeRepository(name)
}

// catalogPacks reads the pack names below loc from the registry's catalog,
// with the encodings whose repositories it lists for each.
func (c *Client) catalogPacks(ctx context.Context, loc Location) (map[string][]string, error) {
	reg, err := c.Registry(loc)
	if err != nil {
		return nil, err
	}
	// Registries cap the page size themselves; asking for large pages
	// saves round trips where they allow it.
	reg.RepositoryListPageSize = 1000
	prefixes := map[string]string{
		loc.repo(NativeRepoPrefix) + "/":  mediatypes.EncodingNative,
		loc.repo(PaletteRepoPrefix) + "/": mediatypes.EncodingPalette,
	}
	names := map[string][]string{}
	err = reg.Repositories(ctx, "", func(repos []string) error {
		for _, r := range repos {
			for p, enc := range prefixes {
				name, ok := strings.CutPrefix(r, p)
				if !ok || name == "" || strings.Contains(name, "/") || slices.Contains(names[name], enc) {
					continue
				}
				names[name] = append(names[name], enc)
			}
		}
		return nil
	})
	if err != nil {
		if catalogRefused(err) {
			return nil, fmt.Errorf("%s does not list its repositories: %w: %w", loc.Registry, ErrCatalogUnavailable, err)
		}
		return nil, fmt.Errorf("reading the catalog of %s: %w", loc.Registry, err)
	}
	return names, nil
}

// catalogRefused says whether err is a registry refusing its catalog:
// unauthorized, forbidden, not found or not implemented.
func catalogRefused(err error) bool {
	if errors.Is(err, auth.ErrBasicCredentialNotFound) || errors.Is(err, errdef.ErrUnsupported) {
		return true
	}
	return httpStatus(err, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound,
		http.StatusMethodNotAllowed, http.StatusNotImplemented)
}

// httpStatus says whether err is a registry error response with one of the
// statuses.
func httpStatus(err error, statuses ...int) bool {
	var er *errcode.ErrorResponse
	return errors.As(err, &er) && slices.Contains(statuses, er.StatusCode)
}

// nativeVersion reads a version's metadata from its native manifest, in
// one request.
func nativeVersion(ctx context.Context, repo fetchReferencer, tag string) (*VersionInfo, error) {
	desc, rc, err := repo.FetchReference(ctx, tag)
	if err != nil {
		return nil, err
	}
	m, err := packer.FetchManifest(ctx, openedFetcher{rc}, desc)
	rc.Close()
	if err != nil {
		return nil, err
	}
	if enc, err := packer.Encoding(m); err != nil {
		return nil, err
	} else if enc != mediatypes.EncodingNative {
		return nil, fmt.Errorf("%s holds a %s encoding, not the native one: %w", tag, enc, packer.ErrNotPack)
	}
	v := VersionFromAnnotations(m.Annotations, tag)
	v.Encodings = []string{mediatypes.EncodingNative}
	v.Digests = map[string]digest.Digest{mediatypes.EncodingNative: desc.Digest}
	return v, nil
}

// VersionFromAnnotations reads the listing annotations of a native pack
// manifest tagged tag; a manifest without a version annotation has the tag
// as its version. packyard's registry builds its catalog with it, so that
// both ways of listing read the same metadata.
func VersionFromAnnotations(ann map[string]string, tag string) *VersionInfo {
	v := &VersionInfo{
		Version:     ann[mediatypes.AnnotationPackVersion],
		Tag:         tag,
		DisplayName: ann[mediatypes.AnnotationPackDisplayName],
		Layer:       ann[mediatypes.AnnotationPackLayer],
		AddonType:   ann[mediatypes.AnnotationPackAddonType],
		Group:       ann[mediatypes.AnnotationPackGroup],
		EOL:         ann[mediatypes.AnnotationPackEOL],
	}
	if v.Version == "" {
		v.Version = tag
	}
	if ct := ann[mediatypes.AnnotationPackCloudTypes]; ct != "" {
		v.CloudTypes = strings.Split(ct, ",")
	}
	return v
}

// paletteVersion finds a Palette archive's manifest digest, with one HEAD
// request.
func paletteVersion(ctx context.Context, repo fetchReferencer, tag string) (*VersionInfo, error) {
	desc, err := repo.Resolve(ctx, tag)
	if err != nil {
		return nil, err
	}
	return &VersionInfo{
		Version:   tag,
		Tag:       tag,
		Encodings: []string{mediatypes.EncodingPalette},
		Digests:   map[string]digest.Digest{mediatypes.EncodingPalette: desc.Digest},
	}, nil
}

// mergeVersion joins what the two encodings say about one tag; the native
// manifest's metadata wins.
func mergeVersion(have, v *VersionInfo) *VersionInfo {
	if have == nil {
		return v
	}
	native, palette := have, v
	if v.Digests[mediatypes.EncodingNative] != "" {
		native, palette = v, have
	}
	for enc, d := range palette.Digests {
		native.Digests[enc] = d
	}
	native.Encodings = nil
	for _, enc := range []string{mediatypes.EncodingNative, mediatypes.EncodingPalette} {
		if native.Digests[enc] != "" {
			native.Encodings = append(native.Encodings, enc)
		}
	}
	return native
}

// fetchReferencer is the part of a remote repository List uses.
type fetchReferencer interface {
	FetchReference(ctx context.Context, reference string) (ocispec.Descriptor, io.ReadCloser, error)
	Resolve(ctx context.Context, reference string) (ocispec.Descriptor, error)
}

// openedFetcher hands out a reader already opened, once, so that a
// manifest fetched by tag is verified with the same checks as one fetched
// by descriptor.
type openedFetcher struct{ rc io.ReadCloser }

func (f openedFetcher) Fetch(context.Context, ocispec.Descriptor) (io.ReadCloser, error) {
	return io.NopCloser(f.rc), nil
}
