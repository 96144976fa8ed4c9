package server

import (
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/registry/api/errcode"
	"github.com/distribution/distribution/v3/registry/auth"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// referrersFilter is the value of the OCI-Filters-Applied header of a
// referrers list filtered by artifact type.
const referrersFilter = "artifactType"

// readConcurrency is how many manifests a referrers request reads from
// storage at once.
const readConcurrency = 8

// serveReferrers answers GET /v2/NAME/referrers/DIGEST (OCI distribution
// spec v1.1): an image index of the descriptors of the repository's
// manifests whose subject is DIGEST, empty when there are none, optionally
// filtered by ?artifactType=. The subject need not exist, nor the
// repository: the referrers API never answers 404, which clients read as
// "not supported" and fall back to the tag schema.
//
// The manifests are enumerated from storage on every request, so that what
// another replica pushed or deleted is seen at once; what each manifest says
// is read and parsed once per process (manifestInfos).
func (s *Server) serveReferrers(w http.ResponseWriter, r *http.Request, name, dgst string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		_ = errcode.ServeJSON(w, errcode.ErrorCodeUnsupported.WithMessage("the referrers API answers GET and HEAD only"))
		return
	}
	named, err := reference.WithName(name)
	if err != nil {
		_ = errcode.ServeJSON(w, errcode.ErrorCodeNameInvalid.WithDetail(fmt.Sprintf("%q: %v", name, err)))
		return
	}
	subject, err := digest.Parse(dgst)
	if err != nil {
		_ = errcode.ServeJSON(w, errcode.ErrorCodeDigestInvalid.WithDetail(fmt.Sprintf("%q: %v", dgst, err)))
		return
	}
	if !s.authorize(w, r, auth.Access{Resource: auth.Resource{Type: "repository", Name: name}, Action: "pull"}) {
		return
	}
	artifactType := r.URL.Query().Get("artifactType")
	descs, err := s.referrers(r.Context(), named, subject, artifactType)
	if err != nil {
		s.logger.ErrorContext(r.Context(), "listing referrers", "repository", name, "subject", subject.String(), "error", err)
		_ = errcode.ServeJSON(w, errcode.ErrorCodeUnknown.WithDetail(err.Error()))
		return
	}
	body, err := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: descs,
	})
	if err != nil {
		_ = errcode.ServeJSON(w, errcode.ErrorCodeUnknown.WithDetail(err.Error()))
		return
	}
	if artifactType != "" {
		w.Header().Set("OCI-Filters-Applied", referrersFilter)
	}
	w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}

// referrers lists the descriptors of the manifests of the repository named
// whose subject is subject, and whose artifact type is artifactType unless
// it is empty, ordered by digest. A repository without manifests has none.
func (s *Server) referrers(ctx context.Context, named reference.Named, subject digest.Digest, artifactType string) ([]ocispec.Descriptor, error) {
	repo, err := s.namespace.Repository(ctx, named)
	if err != nil {
		return nil, fmt.Errorf("opening repository %s: %w", named.Name(), err)
	}
	ms, err := repo.Manifests(ctx)
	if err != nil {
		return nil, fmt.Errorf("opening the manifests of %s: %w", named.Name(), err)
	}
	return listReferrers(ctx, ms, manifestInfos, subject, artifactType)
}

// listReferrers is referrers on ms, a manifest service that must enumerate
// its manifests, with the parsed manifests of cache.
func listReferrers(ctx context.Context, ms distribution.ManifestService, cache *infoCache, subject digest.Digest, artifactType string) ([]ocispec.Descriptor, error) {
	enum, ok := ms.(distribution.ManifestEnumerator)
	if !ok {
		return nil, errors.New("the registry's storage cannot enumerate manifests")
	}
	var all []digest.Digest
	err := enum.Enumerate(ctx, func(d digest.Digest) error {
		all = append(all, d)
		return nil
	})
	var notFound storagedriver.PathNotFoundError
	if errors.As(err, &notFound) {
		return []ocispec.Descriptor{}, nil // no manifests, or no repository
	}
	if err != nil {
		return nil, fmt.Errorf("enumerating manifests: %w", err)
	}
	slices.Sort(all)
	all = slices.Compact(all)

	infos := make([]*manifestInfoEntry, len(all))
	var (
		wg   sync.WaitGroup
		sem  = make(chan struct{}, readConcurrency)
		mu   sync.Mutex
		errs []error
	)
	for i, d := range all {
		if e, ok := cache.get(d); ok {
			infos[i] = e
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			e, err := readManifestInfo(ctx, ms, d)
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			if e != nil {
				cache.add(d, e)
			}
			infos[i] = e
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	descs := []ocispec.Descriptor{}
	for i, e := range infos {
		if e == nil || e.subject != subject {
			continue
		}
		if artifactType != "" && e.artifactType != artifactType {
			continue
		}
		descs = append(descs, ocispec.Descriptor{
			MediaType:    e.mediaType,
			Digest:       all[i],
			Size:         e.size,
			ArtifactType: e.artifactType,
			Annotations:  e.annotations,
		})
	}
	return descs, nil
}

// manifestInfoEntry is what a referrers list needs of one manifest. Of a
// manifest without a subject it keeps nothing more.
type manifestInfoEntry struct {
	subject      digest.Digest
	mediaType    string
	artifactType string
	size         int64
	annotations  map[string]string
}

// cost estimates the memory an entry holds, in bytes.
func (e *manifestInfoEntry) cost() int64 {
	n := int64(160 + len(e.subject) + len(e.mediaType) + len(e.artifactType))
	for k, v := range e.annotations {
		n += int64(len(k) + len(v) + 32)
	}
	return n
}

// readManifestInfo reads the manifest d of ms. A manifest gone since it was
// enumerated (deleted meanwhile) is nil, without error.
func readManifestInfo(ctx context.Context, ms distribution.ManifestService, d digest.Digest) (*manifestInfoEntry, error) {
	m, err := ms.Get(ctx, d)
	if err != nil {
		var unknown distribution.ErrManifestUnknownRevision
		if errors.As(err, &unknown) || errors.Is(err, distribution.ErrBlobUnknown) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading manifest %s: %w", d, err)
	}
	mediaType, payload, err := m.Payload()
	if err != nil {
		return nil, fmt.Errorf("reading manifest %s: %w", d, err)
	}
	return parseManifestInfo(mediaType, payload), nil
}

// parseManifestInfo reads what a referrers list needs of a manifest stored
// with mediaType: its subject, and if it has one, its artifact type (the
// manifest's artifactType, else its config's media type) and annotations.
// Content that does not parse, or has no valid subject, has no subject.
func parseManifestInfo(mediaType string, payload []byte) *manifestInfoEntry {
	var m struct {
		MediaType    string              `json:"mediaType"`
		ArtifactType string              `json:"artifactType"`
		Config       *ocispec.Descriptor `json:"config"`
		Subject      *ocispec.Descriptor `json:"subject"`
		Annotations  map[string]string   `json:"annotations"`
	}
	if json.Unmarshal(payload, &m) != nil || m.Subject == nil || m.Subject.Digest.Validate() != nil {
		return &manifestInfoEntry{}
	}
	e := &manifestInfoEntry{
		subject:      m.Subject.Digest,
		mediaType:    mediaType,
		artifactType: m.ArtifactType,
		size:         int64(len(payload)),
		annotations:  m.Annotations,
	}
	if m.MediaType != "" {
		e.mediaType = m.MediaType
	}
	if e.artifactType == "" && m.Config != nil {
		e.artifactType = m.Config.MediaType
	}
	return e
}

// manifestInfos is the process's cache of parsed manifests. It is keyed by
// digest, and a digest names one content wherever it is stored, so one
// cache serves every repository and every Server of the process, and never
// needs invalidating: a deleted manifest is no longer enumerated, and one
// pushed again is the same content.
var manifestInfos = newInfoCache(defaultInfoCacheBytes)

// defaultInfoCacheBytes bounds the memory of manifestInfos.
const defaultInfoCacheBytes = 32 << 20

// infoCache is a least-recently-used cache of parsed manifests, bounded in
// bytes. An entry larger than a sixteenth of the bound is not kept.
type infoCache struct {
	mu    sync.Mutex
	max   int64
	used  int64
	order *list.List // of *infoCacheItem, most recently used first
	items map[digest.Digest]*list.Element
	// loads counts the entries added, for tests.
	loads int64
}

type infoCacheItem struct {
	dgst  digest.Digest
	entry *manifestInfoEntry
	cost  int64
}

func newInfoCache(maxBytes int64) *infoCache {
	return &infoCache{max: maxBytes, order: list.New(), items: map[digest.Digest]*list.Element{}}
}

func (c *infoCache) get(d digest.Digest) (*manifestInfoEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[d]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*infoCacheItem).entry, true
}

func (c *infoCache) add(d digest.Digest, e *manifestInfoEntry) {
	cost := e.cost() + int64(len(d))
	c.mu.Lock()
	defer c.mu.Unlock()
	c.loads++
	if cost > c.max/16 {
		return
	}
	if el, ok := c.items[d]; ok {
		c.order.MoveToFront(el)
		return
	}
	c.items[d] = c.order.PushFront(&infoCacheItem{dgst: d, entry: e, cost: cost})
	c.used += cost
	for c.used > c.max {
		last := c.order.Back()
		it := last.Value.(*infoCacheItem)
		c.order.Remove(last)
		delete(c.items, it.dgst)
		c.used -= it.cost
	}
}

// stats says how many entries and bytes the cache holds, and how many it
// has loaded.
func (c *infoCache) stats() (entries int, bytes, loads int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items), c.used, c.loads
}
