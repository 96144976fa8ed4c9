package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/registry/api/errcode"
	"github.com/distribution/distribution/v3/registry/auth"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/reference"
	"github.com/klauspost/compress/gzip"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/packyard/packyard/pkg/mediatypes"
	"github.com/packyard/packyard/pkg/ociregistry"
	"github.com/packyard/packyard/pkg/packer"
)

// CatalogPath is where the pack catalog is served. docs/catalog-api.md
// describes the API.
const CatalogPath = "/api/v1/packs"

// CatalogResponse is the body of GET /api/v1/packs: every pack that
// matches the request's filters, with the versions that match them.
type CatalogResponse struct {
	// Packs are sorted by name, then base. A pack that has no version
	// matching the filters is left out.
	Packs []CatalogPack `json:"packs"`
}

// CatalogPack is one pack: the versions of the repositories
// BASE/packs/NAME (native artifacts) and BASE/spectro-packs/archive/NAME
// (Palette archives).
type CatalogPack struct {
	Name string `json:"name"`
	// Base is the repository path below which the pack's repositories
	// are; empty at the registry's root.
	Base string `json:"base"`
	// Versions are sorted by semantic version (tags that are not versions
	// first, by name), oldest first.
	Versions []CatalogVersion `json:"versions"`
}

// CatalogVersion is one tag of a pack, with the metadata its native
// manifest's annotations carry: what the client lists, in the same form.
type CatalogVersion = ociregistry.VersionInfo

// catalogAccess is what reading the catalog needs, as for distribution's
// _catalog.
var catalogAccess = auth.Access{Resource: auth.Resource{Type: "registry", Name: "catalog"}, Action: "*"}

// Tuning of the catalog.
const (
	// catalogStartWait is how long New waits for the first build of the
	// catalog; a registry whose storage takes longer to read answers 503
	// with Retry-After until the build is done.
	catalogStartWait = time.Second
	// catalogRepoConcurrency is how many repositories a refresh reads at
	// once, and catalogTagConcurrency how many tags of one repository.
	catalogRepoConcurrency = 16
	catalogTagConcurrency  = 8
	// catalogCachedBodies is how many response bodies one state of the
	// catalog keeps, for requests with the same filters.
	catalogCachedBodies = 64
	// catalogGzipMin is the smallest body sent gzip'd to a client that
	// accepts it.
	catalogGzipMin = 8 << 10
	// catalogWarmPause is how long changes must pause before the bodies
	// requested before them are made anew in advance.
	catalogWarmPause = 100 * time.Millisecond
)

// startCatalog starts building the pack catalog from storage, in the
// background, and keeps it current: on every change this server makes (a
// hook of s.onChange re-reads the repository that changed) and every
// CatalogRefresh from storage, for what other replicas wrote. It waits up
// to catalogStartWait for the first build.
func (s *Server) startCatalog(ctx context.Context) error {
	every := s.opts.CatalogRefresh
	if every <= 0 {
		every = DefaultCatalogRefresh
	}
	ctx, cancel := context.WithCancel(ctx)
	c := newCatalog(s)
	c.cancel = cancel
	s.catalog = c
	s.onChange = append(s.onChange, c.changed)
	go c.run(ctx, every)
	select {
	case <-c.ready:
	case <-c.done:
	case <-time.After(catalogStartWait):
		s.logger.Info("the pack catalog is still being built from storage; it answers 503 until it is done")
	}
	return nil
}

// stopCatalog stops the catalog's refreshes.
func (s *Server) stopCatalog() {
	if c := s.catalog; c != nil {
		c.cancel()
		<-c.done
	}
}

// catalogHandler serves GET /api/v1/packs.
func (s *Server) catalogHandler() http.Handler {
	c := s.catalog
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.authorize(w, r, catalogAccess) {
			return
		}
		c.serve(w, r)
	})
}

// packKey names a pack: its name and the base its repositories are below.
type packKey struct{ name, base string }

func (k packKey) compare(o packKey) int {
	if c := strings.Compare(k.name, o.name); c != 0 {
		return c
	}
	return strings.Compare(k.base, o.base)
}

func (k packKey) repository(encoding string) string {
	if encoding == mediatypes.EncodingPalette {
		return path.Join(k.base, "spectro-packs", "archive", k.name)
	}
	return path.Join(k.base, "packs", k.name)
}

// packRepository reads a repository name as a pack's: BASE/packs/NAME
// holds native artifacts and BASE/spectro-packs/archive/NAME Palette
// archives, as the client lays them out.
func packRepository(repo string) (key packKey, encoding string, ok bool) {
	dir, name := path.Split(repo)
	dir = strings.TrimSuffix(dir, "/")
	if name == "" {
		return packKey{}, "", false
	}
	if base, found := cutLast(dir, "spectro-packs/archive"); found {
		return packKey{name: name, base: base}, mediatypes.EncodingPalette, true
	}
	if base, found := cutLast(dir, "packs"); found {
		return packKey{name: name, base: base}, mediatypes.EncodingNative, true
	}
	return packKey{}, "", false
}

// cutLast cuts the last path elements elems off dir, returning what is
// before them.
func cutLast(dir, elems string) (string, bool) {
	if dir == elems {
		return "", true
	}
	before, found := strings.CutSuffix(dir, "/"+elems)
	return before, found
}

// manifestMeta is what the catalog keeps of a manifest. Manifests are
// immutable, so it is kept by digest.
type manifestMeta struct {
	// native is the version a native pack manifest describes, without its
	// tag and digest; nil for a manifest that is not one.
	native *CatalogVersion
}

// tagTarget is what a tag points to.
type tagTarget struct {
	digest digest.Digest
	meta   *manifestMeta
}

// repoState is what the catalog last read of a pack repository.
type repoState struct {
	key      packKey
	encoding string
	tags     map[string]tagTarget
}

// catalog is the in-memory index of the packs in storage.
type catalog struct {
	s      *Server
	cancel context.CancelFunc
	ready  chan struct{} // closed when the first build is done
	done   chan struct{} // closed when the refreshes have stopped
	// locks make reads of one repository take turns, so that the last
	// read stored is the last one made.
	locks keyLocks

	mu    sync.Mutex
	repos map[string]*repoState           // pack repository → state
	meta  map[digest.Digest]*manifestMeta // manifests read, by digest
	packs map[packKey]*packEntry          // the packs, as served
	dirty bool                            // packs changed since the last publish

	snap atomic.Pointer[catalogSnapshot]
	// published is signalled when a new state is published.
	published chan struct{}
}

func newCatalog(s *Server) *catalog {
	c := &catalog{
		s:         s,
		ready:     make(chan struct{}),
		done:      make(chan struct{}),
		repos:     map[string]*repoState{},
		meta:      map[digest.Digest]*manifestMeta{},
		packs:     map[packKey]*packEntry{},
		published: make(chan struct{}, 1),
	}
	c.snap.Store(&catalogSnapshot{bodies: map[string]*cachedBody{}})
	return c
}

// run builds the catalog, then refreshes it every interval until ctx
// ends. A build that fails is retried at the next refresh.
func (c *catalog) run(ctx context.Context, every time.Duration) {
	defer close(c.done)
	ready := false
	build := func() {
		start := time.Now()
		n, err := c.refreshAll(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			c.s.logger.Warn("reading the pack catalog from storage", "err", err)
		}
		if !ready && err == nil {
			ready = true
			c.publish(true)
			close(c.ready)
			c.s.logger.Info("pack catalog built", "repositories", n, "duration", time.Since(start))
			return
		}
		c.publish(false)
	}
	build()
	t := time.NewTicker(every)
	defer t.Stop()
	pause := time.NewTimer(time.Hour)
	pause.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			build()
		case <-c.published:
			pause.Reset(catalogWarmPause)
		case <-pause.C:
			c.warm()
		}
	}
}

// changed is the catalog's s.onChange hook: it re-reads repo, when it is a
// pack repository, before the request that changed it is answered, so
// that a client sees its own push in the catalog at once.
func (c *catalog) changed(ctx context.Context, repo string) {
	key, enc, ok := packRepository(repo)
	if !ok {
		return
	}
	// The change is made: finish reading it even if the client goes.
	ctx = context.WithoutCancel(ctx)
	if err := c.refreshRepo(ctx, repo, key, enc); err != nil {
		c.s.logger.Warn("updating the pack catalog; the next refresh will retry", "repository", repo, "err", err)
		return
	}
	c.publish(false)
}

// refreshAll re-reads every pack repository in storage: the tags of each,
// and the manifests of digests it has not read before. It returns how many
// pack repositories there are.
func (c *catalog) refreshAll(ctx context.Context) (int, error) {
	var repos []string
	err := c.enumerate(ctx, func(repo string) error {
		if _, _, ok := packRepository(repo); ok {
			repos = append(repos, repo)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	// Repositories the catalog holds that storage no longer lists are
	// read too: that is how a removed repository leaves the catalog.
	listed := map[string]bool{}
	for _, r := range repos {
		listed[r] = true
	}
	c.mu.Lock()
	for r := range c.repos {
		if !listed[r] {
			repos = append(repos, r)
		}
	}
	c.mu.Unlock()

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(catalogRepoConcurrency)
	var failed atomic.Int64
	var firstErr atomic.Value
	for _, r := range repos {
		key, enc, _ := packRepository(r)
		g.Go(func() error {
			if err := c.refreshRepo(gctx, r, key, enc); err != nil {
				if gctx.Err() != nil {
					return gctx.Err()
				}
				// One repository that cannot be read keeps what the
				// catalog had of it; the others go on.
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
				c.s.logger.Warn("reading a pack repository for the catalog", "repository", r, "err", err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	c.sweep()
	if n := failed.Load(); n > 0 && n == int64(len(repos)) {
		return 0, firstErr.Load().(error)
	}
	return len(listed), nil
}

// enumerate calls fn with every repository in storage.
func (c *catalog) enumerate(ctx context.Context, fn func(string) error) error {
	ns := c.s.namespace
	if e, ok := ns.(distribution.RepositoryEnumerator); ok {
		err := e.Enumerate(ctx, fn)
		if isPathNotFound(err) {
			return nil // an empty registry
		}
		return err
	}
	buf := make([]string, 1000)
	last := ""
	for {
		n, err := ns.Repositories(ctx, buf, last)
		for _, r := range buf[:n] {
			if ferr := fn(r); ferr != nil {
				return ferr
			}
		}
		if errors.Is(err, io.EOF) || isPathNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		last = buf[n-1]
	}
}

func isPathNotFound(err error) bool {
	var pnf storagedriver.PathNotFoundError
	return errors.As(err, &pnf)
}

// refreshRepo re-reads one pack repository: its tags and where they
// point, and the manifests of the digests the catalog has not read
// before. A repository that holds no tag leaves the catalog.
func (c *catalog) refreshRepo(ctx context.Context, repo string, key packKey, enc string) error {
	unlock := c.locks.lock(repo)
	defer unlock()
	named, err := reference.WithName(repo)
	if err != nil {
		return err
	}
	r, err := c.s.namespace.Repository(ctx, named)
	if err != nil {
		return err
	}
	tagsvc := r.Tags(ctx)
	tags, err := tagsvc.All(ctx)
	var unknown distribution.ErrRepositoryUnknown
	if errors.As(err, &unknown) || isPathNotFound(err) {
		tags, err = nil, nil
	}
	if err != nil {
		return err
	}
	state := &repoState{key: key, encoding: enc, tags: make(map[string]tagTarget, len(tags))}
	var (
		mu      sync.Mutex
		ms      distribution.ManifestService
		msErr   error
		msOnce  sync.Once
		g, gctx = errgroup.WithContext(ctx)
	)
	manifests := func() (distribution.ManifestService, error) {
		msOnce.Do(func() { ms, msErr = r.Manifests(ctx) })
		return ms, msErr
	}
	g.SetLimit(catalogTagConcurrency)
	for _, tag := range tags {
		g.Go(func() error {
			desc, err := tagsvc.Get(gctx, tag)
			var tagUnknown distribution.ErrTagUnknown
			if errors.As(err, &tagUnknown) || isPathNotFound(err) {
				return nil // untagged meanwhile
			}
			if err != nil {
				return err
			}
			c.mu.Lock()
			meta := c.meta[desc.Digest]
			c.mu.Unlock()
			if meta == nil {
				svc, err := manifests()
				if err != nil {
					return err
				}
				meta, err = readManifest(gctx, svc, desc.Digest)
				if err != nil {
					return err
				}
				if meta == nil {
					return nil // a tag whose manifest is gone, as a client would see it
				}
			}
			mu.Lock()
			state.tags[tag] = tagTarget{digest: desc.Digest, meta: meta}
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range state.tags {
		c.meta[t.digest] = t.meta
	}
	old := c.repos[repo]
	if (old == nil && len(state.tags) == 0) || (old != nil && tagsEqual(old.tags, state.tags)) {
		return nil
	}
	if len(state.tags) == 0 {
		delete(c.repos, repo)
	} else {
		c.repos[repo] = state
	}
	c.rebuildLocked(key)
	return nil
}

func tagsEqual(a, b map[string]tagTarget) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w.digest != v.digest {
			return false
		}
	}
	return true
}

// readManifest reads the manifest dgst of a repository, the way a client
// listing the repository reads it (packer.FetchManifest, packer.Encoding).
// It returns nil for a manifest the repository does not have.
func readManifest(ctx context.Context, ms distribution.ManifestService, dgst digest.Digest) (*manifestMeta, error) {
	mf, err := ms.Get(ctx, dgst)
	if err != nil {
		var unknownRev distribution.ErrManifestUnknownRevision
		var unknown distribution.ErrManifestUnknown
		if errors.As(err, &unknownRev) || errors.As(err, &unknown) || errors.Is(err, distribution.ErrBlobUnknown) || isPathNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	mt, payload, err := mf.Payload()
	if err != nil {
		return nil, err
	}
	meta := &manifestMeta{}
	desc := ocispec.Descriptor{MediaType: mt, Digest: dgst, Size: int64(len(payload))}
	m, err := packer.FetchManifest(ctx, payloadFetcher(payload), desc)
	if err != nil {
		// Not a manifest a client reads as a pack: it is not listed as a
		// native version (a Palette repository's tags all are).
		return meta, nil
	}
	if enc, err := packer.Encoding(m); err == nil && enc == mediatypes.EncodingNative {
		// Cached by digest: the tag, and the version a manifest without
		// one takes from it, are set when the catalog is rebuilt.
		meta.native = ociregistry.VersionFromAnnotations(m.Annotations, "")
	}
	return meta, nil
}

// payloadFetcher serves a manifest already read.
type payloadFetcher []byte

func (p payloadFetcher) Fetch(context.Context, ocispec.Descriptor) (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(p)), nil
}

// sweep forgets the manifests no tag points to any more.
func (c *catalog) sweep() {
	c.mu.Lock()
	defer c.mu.Unlock()
	used := make(map[digest.Digest]*manifestMeta, len(c.meta))
	for _, st := range c.repos {
		for _, t := range st.tags {
			used[t.digest] = t.meta
		}
	}
	c.meta = used
}

// rebuildLocked makes the served entry of the pack key from its
// repositories' states. c.mu is held.
func (c *catalog) rebuildLocked(key packKey) {
	c.dirty = true
	versions := map[string]*CatalogVersion{}
	if st := c.repos[key.repository(mediatypes.EncodingNative)]; st != nil {
		for tag, t := range st.tags {
			if t.meta.native == nil {
				continue
			}
			v := *t.meta.native
			v.Tag = tag
			if v.Version == "" {
				v.Version = tag
			}
			v.Encodings = []string{mediatypes.EncodingNative}
			v.Digests = map[string]digest.Digest{mediatypes.EncodingNative: t.digest}
			versions[tag] = &v
		}
	}
	if st := c.repos[key.repository(mediatypes.EncodingPalette)]; st != nil {
		for tag, t := range st.tags {
			if v := versions[tag]; v != nil {
				v.Encodings = append(v.Encodings, mediatypes.EncodingPalette)
				v.Digests[mediatypes.EncodingPalette] = t.digest
				continue
			}
			versions[tag] = &CatalogVersion{
				Version:   tag,
				Tag:       tag,
				Encodings: []string{mediatypes.EncodingPalette},
				Digests:   map[string]digest.Digest{mediatypes.EncodingPalette: t.digest},
			}
		}
	}
	if len(versions) == 0 {
		delete(c.packs, key)
		return
	}
	c.packs[key] = newPackEntry(key, versions)
}

// publish makes the packs as they are now what requests see, when they
// changed since the last publish or force says so.
func (c *catalog) publish(force bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.dirty && !force {
		return
	}
	c.dirty = false
	old := c.snap.Load()
	packs := make([]*packEntry, 0, len(c.packs))
	for _, p := range c.packs {
		packs = append(packs, p)
	}
	slices.SortFunc(packs, func(a, b *packEntry) int { return a.key.compare(b.key) })
	snap := &catalogSnapshot{packs: packs, ready: old.ready || force, bodies: map[string]*cachedBody{}}
	// The bodies asked for before the change are likely asked for again:
	// they are made anew once changes pause (see warm).
	old.mu.Lock()
	for _, b := range old.bodies {
		snap.warm = append(snap.warm, b.bodyFilter)
	}
	old.mu.Unlock()
	c.snap.Store(snap)
	select {
	case c.published <- struct{}{}:
	default:
	}
}

// warm makes the bodies the previous state of the catalog served, so that
// the first request after a change does not wait for them.
func (c *catalog) warm() {
	snap := c.snap.Load()
	for _, f := range snap.warm {
		if c.snap.Load() != snap {
			return // changed again; the next pause warms it
		}
		snap.cachedBody(f.filter, f.gzip)
	}
}

// catalogSnapshot is one state of the catalog, as requests see it. It is
// never changed once published, except for its cache of bodies.
type catalogSnapshot struct {
	packs []*packEntry // sorted by name, then base
	ready bool
	// warm are the bodies to make in advance.
	warm []bodyFilter

	mu     sync.Mutex
	bodies map[string]*cachedBody // response bodies, by canonical filter
}

// bodyFilter says which body: the filter's, and whether gzip'd.
type bodyFilter struct {
	filter catalogFilter
	gzip   bool
}

// cachedBody is a response body, made once.
type cachedBody struct {
	bodyFilter
	once    sync.Once
	data    []byte
	started atomic.Bool // the body is being made, or made
	ready   atomic.Bool // data is set
}

// packEntry is a pack as served: its versions, each encoded once.
type packEntry struct {
	key      packKey
	head     []byte // {"name":…,"base":…,"versions":[
	versions []versionEntry
}

type versionEntry struct {
	v    *CatalogVersion
	json []byte
	// text is what the free-text filter searches, in lower case.
	text string
}

func newPackEntry(key packKey, versions map[string]*CatalogVersion) *packEntry {
	e := &packEntry{key: key}
	head, _ := json.Marshal(struct {
		Name string `json:"name"`
		Base string `json:"base"`
	}{key.name, key.base})
	e.head = append(head[:len(head)-1], `,"versions":[`...)
	for _, v := range versions {
		data, _ := json.Marshal(v)
		text := strings.ToLower(strings.Join(append([]string{key.name, v.DisplayName, v.Version, v.Tag, v.Layer, v.AddonType, v.Group}, v.CloudTypes...), "\x00"))
		e.versions = append(e.versions, versionEntry{v: v, json: data, text: text})
	}
	slices.SortFunc(e.versions, func(a, b versionEntry) int { return ociregistry.CompareTags(a.v.Tag, b.v.Tag) })
	return e
}

// catalogFilter is what a request asks for.
type catalogFilter struct {
	names     map[string]bool // nil: every name
	base      *string         // nil: every base
	prefix    string          // base path prefix; empty: every base
	layer     string
	addonType string
	cloudType string
	words     []string // lower case, all must match
}

// errBadFilter is what an unknown or repeated filter parameter wraps.
var errBadFilter = errors.New("bad catalog filter")

func parseCatalogFilter(q url.Values) (catalogFilter, error) {
	var f catalogFilter
	single := func(k string) (string, error) {
		if len(q[k]) > 1 {
			return "", fmt.Errorf("%w: %s is given more than once", errBadFilter, k)
		}
		return strings.TrimSpace(q.Get(k)), nil
	}
	for k, vs := range q {
		var err error
		switch k {
		case "name":
			f.names = map[string]bool{}
			for _, v := range vs {
				for n := range strings.SplitSeq(v, ",") {
					if n = strings.TrimSpace(n); n != "" {
						f.names[n] = true
					}
				}
			}
		case "base":
			var b string
			b, err = single(k)
			b = strings.Trim(b, "/")
			f.base = &b
		case "prefix":
			f.prefix, err = single(k)
			f.prefix = strings.Trim(f.prefix, "/")
		case "layer":
			f.layer, err = single(k)
		case "addonType":
			f.addonType, err = single(k)
		case "cloudType":
			f.cloudType, err = single(k)
		case "q":
			var s string
			s, err = single(k)
			// A NUL separates the fields a version's text joins: no
			// word holds one, so that none matches across two fields.
			f.words = strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return unicode.IsSpace(r) || r == 0 })
		default:
			err = fmt.Errorf("%w: unknown parameter %q: the catalog knows name, base, prefix, layer, addonType, cloudType and q", errBadFilter, k)
		}
		if err != nil {
			return f, err
		}
	}
	return f, nil
}

// key is the filter in a canonical form, to cache bodies by. Its parts are
// quoted, so that no two filters have the same key whatever their values
// hold, and no key holds a NUL byte; "*" is a part not given (every name,
// every base), told apart from one given empty.
func (f catalogFilter) key() string {
	var b strings.Builder
	part := func(s string) {
		b.WriteString(strconv.Quote(s))
		b.WriteByte(' ')
	}
	list := func(l []string) {
		b.WriteString(strconv.Itoa(len(l)))
		b.WriteByte(' ')
		for _, s := range l {
			part(s)
		}
	}
	if f.names == nil {
		b.WriteString("* ")
	} else {
		list(slices.Sorted(maps.Keys(f.names)))
	}
	if f.base == nil {
		b.WriteString("* ")
	} else {
		part(*f.base)
	}
	part(f.prefix)
	part(f.layer)
	part(f.addonType)
	part(f.cloudType)
	list(f.words)
	return b.String()
}

func (f catalogFilter) matchPack(k packKey) bool {
	if f.names != nil && !f.names[k.name] {
		return false
	}
	if f.base != nil && k.base != *f.base {
		return false
	}
	if f.prefix != "" && k.base != f.prefix && !strings.HasPrefix(k.base, f.prefix+"/") {
		return false
	}
	return true
}

func (f catalogFilter) matchVersion(v *versionEntry) bool {
	if f.layer != "" && v.v.Layer != f.layer {
		return false
	}
	if f.addonType != "" && v.v.AddonType != f.addonType {
		return false
	}
	if f.cloudType != "" && !slices.Contains(v.v.CloudTypes, f.cloudType) {
		return false
	}
	for _, w := range f.words {
		if !strings.Contains(v.text, w) {
			return false
		}
	}
	return true
}

// body encodes the packs of the snapshot that match f.
func (snap *catalogSnapshot) body(f catalogFilter) []byte {
	size := 16
	for _, p := range snap.packs {
		size += len(p.head) + 2
		for _, v := range p.versions {
			size += len(v.json) + 1
		}
	}
	buf := make([]byte, 0, size)
	buf = append(buf, `{"packs":[`...)
	firstPack := true
	for _, p := range snap.packs {
		if !f.matchPack(p.key) {
			continue
		}
		n := 0
		for i := range p.versions {
			v := &p.versions[i]
			if !f.matchVersion(v) {
				continue
			}
			if n == 0 {
				if !firstPack {
					buf = append(buf, ',')
				}
				firstPack = false
				buf = append(buf, p.head...)
			} else {
				buf = append(buf, ',')
			}
			buf = append(buf, v.json...)
			n++
		}
		if n > 0 {
			buf = append(buf, "]}"...)
		}
	}
	return append(buf, "]}\n"...)
}

// entry is the cache entry of the body for f, gzip'd when gz says so, for
// up to catalogCachedBodies filters per snapshot.
func (snap *catalogSnapshot) entry(f catalogFilter, gz bool) *cachedBody {
	key := f.key()
	if gz {
		key += "\x00gzip"
	}
	snap.mu.Lock()
	defer snap.mu.Unlock()
	b := snap.bodies[key]
	if b == nil {
		b = &cachedBody{bodyFilter: bodyFilter{filter: f, gzip: gz}}
		if len(snap.bodies) < catalogCachedBodies {
			snap.bodies[key] = b
		}
	}
	return b
}

// cachedBody is the body for f, gzip'd when gz says so, made once per
// snapshot: requests that ask for it meanwhile wait for it rather than
// make it too.
func (snap *catalogSnapshot) cachedBody(f catalogFilter, gz bool) []byte {
	b := snap.entry(f, gz)
	b.started.Store(true)
	b.once.Do(func() {
		if !gz {
			b.data = snap.body(f)
		} else {
			var buf bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
			_, _ = zw.Write(snap.cachedBody(f, false))
			_ = zw.Close()
			b.data = buf.Bytes()
		}
		b.ready.Store(true)
	})
	return b.data
}

// gzipBody is the gzip'd body for f when it is made already. When it is
// not, it starts making it and says so: the request is answered without
// compression rather than wait.
func (snap *catalogSnapshot) gzipBody(f catalogFilter) ([]byte, bool) {
	b := snap.entry(f, true)
	if b.ready.Load() {
		return b.data, true
	}
	if b.started.CompareAndSwap(false, true) {
		go snap.cachedBody(f, true)
	}
	return nil, false
}

// serve answers a catalog request, which is authorized.
func (c *catalog) serve(w http.ResponseWriter, r *http.Request) {
	snap := c.snap.Load()
	if !snap.ready {
		w.Header().Set("Retry-After", "5")
		_ = errcode.ServeJSON(w, errcode.ErrorCodeUnavailable.WithMessage("the pack catalog is being built from storage; retry shortly"))
		return
	}
	f, err := parseCatalogFilter(r.URL.Query())
	if err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": "BAD_FILTER", "message": err.Error()}}})
		return
	}
	body := snap.cachedBody(f, false)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Vary", "Accept-Encoding")
	// Compressing a large catalog takes longer than sending it on a fast
	// network: the first request after a change gets it as it is.
	if len(body) >= catalogGzipMin && acceptsGzip(r) {
		if gz, ok := snap.gzipBody(f); ok {
			body = gz
			h.Set("Content-Encoding", "gzip")
		}
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(v, ",") {
			enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.ReplaceAll(strings.TrimSpace(params), " ", "") != "q=0" {
				return true
			}
		}
	}
	return false
}
