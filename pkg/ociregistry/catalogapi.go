package ociregistry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/retry"

	"github.com/packyard/packyard/pkg/mediatypes"
)

// CatalogAPIPath is where a packyard registry serves its pack catalog: every
// pack with its versions and metadata in one response (docs/catalog-api.md).
const CatalogAPIPath = "/api/v1/packs"

// maxCatalogAPIResponse bounds what List reads of a catalog response; a
// catalog of 10,000 pack versions is about 3 MB.
const maxCatalogAPIResponse = 256 << 20

// errNoCatalogAPI: the registry does not answer the catalog API the way a
// packyard registry does; List reads the OCI API instead.
var errNoCatalogAPI = errors.New("the registry has no packyard catalog API")

// catalogAPIResponse is the part of the catalog API's response List reads.
type catalogAPIResponse struct {
	// Packs is a pointer so that a body without it is told apart from an
	// empty catalog.
	Packs *[]struct {
		Name     string        `json:"name"`
		Base     string        `json:"base"`
		Versions []VersionInfo `json:"versions"`
	} `json:"packs"`
}

// listFromCatalogAPI lists the packs below loc with one request to
// packyard's catalog API. It fails with errNoCatalogAPI when the registry
// does not offer the API (404, 405, an answer that is not the catalog's),
// refuses it (401, 403), or cannot answer it yet (503 while a registry
// builds its catalog): the OCI API gives the same listing, more slowly.
func (c *Client) listFromCatalogAPI(ctx context.Context, loc Location, opts ListOptions) ([]PackInfo, error) {
	if loc.Registry == "docker.io" {
		return nil, errNoCatalogAPI // Docker Hub, which is not packyard
	}
	q := url.Values{"base": {loc.Base}}
	for _, n := range opts.Names {
		if strings.Contains(n, "/") {
			// The catalog knows only names of one path element.
			return nil, errNoCatalogAPI
		}
		q.Add("name", n)
	}
	if len(opts.Names) > 0 && len(q["name"]) == 0 {
		return nil, errNoCatalogAPI
	}
	if opts.Layer != "" {
		q.Set("layer", opts.Layer)
	}
	scheme := "https"
	if c.opts.PlainHTTP {
		scheme = "http"
	}
	u := url.URL{Scheme: scheme, Host: loc.Registry, Path: CatalogAPIPath, RawQuery: q.Encode()}
	ctx = auth.AppendScopesForHost(ctx, loc.Registry, auth.ScopeRegistryCatalog)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.apiClient().Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %w", errNoCatalogAPI, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // keep the connection
		return nil, fmt.Errorf("%w: %s answered %s", errNoCatalogAPI, CatalogAPIPath, resp.Status)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return nil, fmt.Errorf("%w: %s answered %q", errNoCatalogAPI, CatalogAPIPath, mt)
	}
	out, err := decodeCatalogAPI(io.LimitReader(resp.Body, maxCatalogAPIResponse), loc.Base)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %s did not answer with a pack catalog: %w", errNoCatalogAPI, CatalogAPIPath, err)
	}
	return out, nil
}

// decodeCatalogAPI reads a catalog API response: the packs below base,
// sorted as List sorts them. What the OCI API could not list is left out,
// as the OCI API would leave it out: a pack whose name is not one
// repository name, a version whose tag is not a tag or whose digests are
// not digests of the two encodings, and a pack or version listed twice
// (after the first).
func decodeCatalogAPI(r io.Reader, base string) ([]PackInfo, error) {
	var body catalogAPIResponse
	if err := json.NewDecoder(r).Decode(&body); err != nil {
		return nil, err
	}
	if body.Packs == nil {
		return nil, errors.New(`the answer has no "packs"`)
	}
	out := []PackInfo{}
	seen := map[string]bool{}
	for _, p := range *body.Packs {
		if p.Base != base || !validPackName(p.Name) || seen[p.Name] {
			continue
		}
		var versions []VersionInfo
		tags := map[string]bool{}
		for _, v := range p.Versions {
			if validCatalogVersion(v) && !tags[v.Tag] {
				tags[v.Tag] = true
				versions = append(versions, v)
			}
		}
		if len(versions) == 0 {
			continue
		}
		seen[p.Name] = true
		slices.SortFunc(versions, func(a, b VersionInfo) int { return CompareTags(a.Tag, b.Tag) })
		out = append(out, PackInfo{Name: p.Name, Versions: versions})
	}
	slices.SortFunc(out, func(a, b PackInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// validCatalogVersion says whether v is a version the OCI API could list:
// a tag, and each encoding it lists with the digest of its manifest.
func validCatalogVersion(v VersionInfo) bool {
	if (registry.Reference{Reference: v.Tag}).ValidateReferenceAsTag() != nil || len(v.Encodings) == 0 || len(v.Encodings) != len(v.Digests) {
		return false
	}
	for _, enc := range v.Encodings {
		if enc != mediatypes.EncodingNative && enc != mediatypes.EncodingPalette || v.Digests[enc].Validate() != nil {
			return false
		}
	}
	return true
}

// apiClient is the client's authenticating HTTP client without its
// retries: a registry building its catalog answers 503, which List answers
// at once by reading the OCI API instead.
func (c *Client) apiClient() *auth.Client {
	ac := *c.auth
	if ac.Client != nil {
		hc := *ac.Client
		if rt, ok := hc.Transport.(*retry.Transport); ok {
			hc.Transport = rt.Base
		}
		ac.Client = &hc
	}
	return &ac
}
