package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/configuration"
	registrymiddleware "github.com/distribution/distribution/v3/registry/middleware/registry"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/packyard/packyard/pkg/mediatypes"
	"github.com/packyard/packyard/pkg/packer"
)

// middlewareName is the name packyard's registry middleware is known by in
// a distribution configuration. Its options are packyard's own settings:
//
//	middleware:
//	  registry:
//	    - name: packyard
//	      options:
//	        allowoverwrite: false   # pack versions may be overwritten or deleted
//	        catalogrefresh: 30s     # how often the catalog re-reads storage
const middlewareName = "packyard"

// serverOption is the middleware option that carries the Server the
// middleware belongs to. It is set in the process, never in a file.
const serverOption = "packyard.server"

// Options are packyard's own settings of a registry, beside distribution's.
type Options struct {
	// AllowOverwrite lets a pack version be overwritten with different
	// content or deleted. By default a pack version, once pushed, is
	// immutable.
	AllowOverwrite bool
	// CatalogRefresh is how often the pack catalog re-reads storage to see
	// what other replicas wrote; zero means DefaultCatalogRefresh.
	CatalogRefresh time.Duration
}

// DefaultCatalogRefresh is how often the catalog re-reads storage unless
// configured otherwise.
const DefaultCatalogRefresh = 30 * time.Second

var registerMiddleware = sync.OnceValue(func() error {
	return registrymiddleware.Register(middlewareName, initMiddleware)
})

// installMiddleware adds packyard's registry middleware to cfg, keeping
// options a configuration file gave it, and returns packyard's options.
func installMiddleware(cfg *configuration.Configuration, s *Server) (Options, error) {
	if err := registerMiddleware(); err != nil {
		return Options{}, err
	}
	opts, err := parseOptions(packyardMiddleware(cfg).Options)
	if err != nil {
		return Options{}, fmt.Errorf("middleware.registry %s: %w", middlewareName, err)
	}
	setMiddlewareOption(cfg, serverOption, s)
	return opts, nil
}

// packyardMiddleware is packyard's entry among cfg's registry middlewares,
// added when the configuration does not name it.
func packyardMiddleware(cfg *configuration.Configuration) *configuration.Middleware {
	if cfg.Middleware == nil {
		cfg.Middleware = map[string][]configuration.Middleware{}
	}
	mws := cfg.Middleware["registry"]
	for i := range mws {
		if mws[i].Name == middlewareName {
			return &mws[i]
		}
	}
	mws = append(mws, configuration.Middleware{Name: middlewareName})
	cfg.Middleware["registry"] = mws
	return &mws[len(mws)-1]
}

// setMiddlewareOption sets an option of packyard's middleware in cfg,
// adding the middleware if the configuration does not name it. The
// options are copied, not changed in place.
func setMiddlewareOption(cfg *configuration.Configuration, key string, value any) {
	mw := packyardMiddleware(cfg)
	o := configuration.Parameters{}
	for k, v := range mw.Options {
		if !strings.EqualFold(k, key) {
			o[k] = v
		}
	}
	o[key] = value
	mw.Options = o
}

func parseOptions(m configuration.Parameters) (Options, error) {
	var o Options
	for k, v := range m {
		switch strings.ToLower(k) {
		case serverOption:
		case "allowoverwrite":
			switch b := v.(type) {
			case bool:
				o.AllowOverwrite = b
			case string:
				o.AllowOverwrite = strings.EqualFold(b, "true")
				if !o.AllowOverwrite && !strings.EqualFold(b, "false") {
					return o, fmt.Errorf("allowoverwrite: %q is not true or false", b)
				}
			default:
				return o, fmt.Errorf("allowoverwrite: %v is not true or false", v)
			}
		case "catalogrefresh":
			s, ok := v.(string)
			d, err := time.ParseDuration(s)
			if !ok || err != nil || d < 0 {
				return o, fmt.Errorf("catalogrefresh: %v is not a duration such as 30s", v)
			}
			o.CatalogRefresh = d
		default:
			return o, fmt.Errorf("unknown option %q: packyard knows allowoverwrite and catalogrefresh", k)
		}
	}
	return o, nil
}

func initMiddleware(_ context.Context, ns distribution.Namespace, driver storagedriver.StorageDriver, options map[string]any) (distribution.Namespace, error) {
	s, ok := options[serverOption].(*Server)
	if !ok {
		return nil, errors.New("the packyard middleware is added by packyard serve, not by a configuration file alone")
	}
	s.namespace, s.driver = ns, driver
	return &namespace{Namespace: ns, s: s}, nil
}

// namespace is the registry as the request handlers see it: repositories
// whose pack versions are immutable, and whose changes reach the catalog.
type namespace struct {
	distribution.Namespace
	s *Server
}

func (n *namespace) Repository(ctx context.Context, name reference.Named) (distribution.Repository, error) {
	r, err := n.Namespace.Repository(ctx, name)
	if err != nil {
		return nil, err
	}
	return &repository{Repository: r, s: n.s}, nil
}

// Remove keeps the registry's ability to remove repositories.
func (n *namespace) Remove(ctx context.Context, name reference.Named) error {
	rr, ok := n.Namespace.(distribution.RepositoryRemover)
	if !ok {
		return distribution.ErrUnsupported
	}
	return rr.Remove(ctx, name)
}

type repository struct {
	distribution.Repository
	s *Server
}

func (r *repository) Manifests(ctx context.Context, options ...distribution.ManifestServiceOption) (distribution.ManifestService, error) {
	ms, err := r.Repository.Manifests(ctx, options...)
	if err != nil {
		return nil, err
	}
	return &manifests{ManifestService: ms, repo: r}, nil
}

func (r *repository) Tags(ctx context.Context) distribution.TagService {
	return &tags{TagService: r.Repository.Tags(ctx), repo: r}
}

func (r *repository) name() string { return r.Named().Name() }

// manifestInfo is what packyard reads of a manifest: whether it is a pack
// version, and the subject it refers to.
type manifestInfo struct {
	pack    bool
	subject *ocispec.Descriptor
	// config is the media type of the manifest's config.
	config string
}

// inspectManifest reads payload, a manifest of the repository repo.
func inspectManifest(repo string, payload []byte) manifestInfo {
	var m struct {
		MediaType    string              `json:"mediaType"`
		ArtifactType string              `json:"artifactType"`
		Config       ocispec.Descriptor  `json:"config"`
		Layers       []json.RawMessage   `json:"layers"`
		Subject      *ocispec.Descriptor `json:"subject"`
	}
	if json.Unmarshal(payload, &m) != nil {
		return manifestInfo{}
	}
	info := manifestInfo{subject: m.Subject, config: m.Config.MediaType}
	if m.Subject != nil && m.Subject.Digest.Validate() != nil {
		info.subject = nil
	}
	// A pack version is what the client reads as one: a native pack
	// anywhere, and in a Palette archive repository any manifest the client
	// reads as an archive (oras 1.0's config, or a newer oras's empty one).
	enc, err := packer.Encoding(&ocispec.Manifest{ArtifactType: m.ArtifactType, Config: m.Config, Layers: make([]ocispec.Descriptor, len(m.Layers))})
	info.pack = err == nil && (enc == mediatypes.EncodingNative || isPaletteArchiveRepo(repo))
	return info
}

// isPaletteArchiveRepo says whether repo holds Palette pack archives:
// .../spectro-packs/archive/NAME.
func isPaletteArchiveRepo(repo string) bool {
	i := strings.Index("/"+repo, "/spectro-packs/archive/")
	return i >= 0 && len(repo) > i+len("spectro-packs/archive/")
}

// ErrImmutable is what a refused overwrite or delete of a pack version
// wraps.
var ErrImmutable = errors.New("pack versions are immutable on this registry")

type manifests struct {
	distribution.ManifestService
	repo *repository
}

func (m *manifests) Put(ctx context.Context, mf distribution.Manifest, options ...distribution.ManifestServiceOption) (digest.Digest, error) {
	mt, payload, err := mf.Payload()
	if err != nil {
		return "", err
	}
	info := inspectManifest(m.repo.name(), payload)
	if info.subject != nil {
		stateOf(ctx).setSubject(info.subject.Digest)
	}
	// A manifest pushed with a tag reaches the catalog when the handler
	// tags it, through tags.Tag; one pushed by digest, here.
	tag := ""
	for _, o := range options {
		if t, ok := o.(distribution.WithTagOption); ok {
			tag = t.Tag
		}
	}
	s := m.repo.s
	if tag == "" || s.opts.AllowOverwrite {
		d, err := m.ManifestService.Put(ctx, mf, options...)
		if err == nil && tag == "" {
			s.changed(ctx, m.repo.name())
		}
		return d, err
	}
	// A tag can be refused only before the manifest is stored, and the
	// check and the tagging must be one step: the lock makes two pushes of
	// one version in this process take turns, and the tag is written here,
	// under it. (The handler tags again afterwards, to the same digest.)
	unlock := s.locks.lock(m.repo.name() + ":" + tag)
	defer unlock()
	tagsvc := m.repo.Repository.Tags(ctx)
	dgst := digest.FromBytes(payload)
	if err := m.checkOverwrite(ctx, tagsvc, tag, dgst); err != nil {
		return "", err
	}
	d, err := m.ManifestService.Put(ctx, mf, options...)
	if err != nil {
		return "", err
	}
	if err := tagsvc.Tag(ctx, tag, ocispec.Descriptor{MediaType: mt, Digest: d, Size: int64(len(payload))}); err != nil {
		return "", err
	}
	return d, nil
}

// checkOverwrite refuses to move tag, a pack version, to dgst.
func (m *manifests) checkOverwrite(ctx context.Context, tagsvc distribution.TagService, tag string, dgst digest.Digest) error {
	cur, err := tagsvc.Get(ctx, tag)
	if err != nil {
		var unknown distribution.ErrTagUnknown
		if errors.As(err, &unknown) {
			return nil
		}
		return err
	}
	if cur.Digest == dgst {
		return nil
	}
	if !m.isPack(ctx, cur.Digest) {
		return nil
	}
	return denied(ctx, fmt.Sprintf("%s:%s is a pack version and already holds %s; "+
		"pack versions are immutable on this registry: push a new version, or start the registry with overwrites allowed (packyard serve --allow-overwrite)",
		m.repo.name(), tag, cur.Digest))
}

// isPack says whether the manifest dgst of the repository is a pack version.
func (m *manifests) isPack(ctx context.Context, dgst digest.Digest) bool {
	mf, err := m.Get(ctx, dgst)
	if err != nil {
		return false
	}
	_, payload, err := mf.Payload()
	return err == nil && inspectManifest(m.repo.name(), payload).pack
}

func (m *manifests) Delete(ctx context.Context, dgst digest.Digest) error {
	s := m.repo.s
	if !s.opts.AllowOverwrite && m.isPack(ctx, dgst) {
		return deleteDenied(ctx, m.repo.name()+"@"+dgst.String())
	}
	if err := m.ManifestService.Delete(ctx, dgst); err != nil {
		return err
	}
	s.changed(ctx, m.repo.name())
	return nil
}

// deleteDenied refuses to delete ref, a pack version.
func deleteDenied(ctx context.Context, ref string) error {
	return denied(ctx, ref+" is a pack version; pack versions are immutable on this registry and cannot be deleted "+
		"unless the registry is started with overwrites allowed (packyard serve --allow-overwrite)")
}

type tags struct {
	distribution.TagService
	repo *repository
}

func (t *tags) Tag(ctx context.Context, tag string, desc ocispec.Descriptor) error {
	if err := t.TagService.Tag(ctx, tag, desc); err != nil {
		return err
	}
	t.repo.s.changed(ctx, t.repo.name())
	return nil
}

func (t *tags) Untag(ctx context.Context, tag string) error {
	s := t.repo.s
	if !s.opts.AllowOverwrite {
		cur, err := t.Get(ctx, tag)
		if err == nil {
			ms, err := t.repo.Repository.Manifests(ctx)
			if err == nil && (&manifests{ManifestService: ms, repo: t.repo}).isPack(ctx, cur.Digest) {
				return deleteDenied(ctx, t.repo.name()+":"+tag)
			}
		}
	}
	if err := t.TagService.Untag(ctx, tag); err != nil {
		return err
	}
	s.changed(ctx, t.repo.name())
	return nil
}

// changed tells what keeps state about repositories (the catalog, the
// referrers cache) that repo's manifests or tags changed.
func (s *Server) changed(ctx context.Context, repo string) {
	for _, f := range s.onChange {
		f(ctx, repo)
	}
}

// keyLocks is a fixed set of mutexes that keys hash onto: a key's holder
// excludes every other holder of the same key, in bounded memory.
type keyLocks [256]sync.Mutex

func (l *keyLocks) lock(key string) (unlock func()) {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	mu := &l[h.Sum32()%uint32(len(l))]
	mu.Lock()
	return mu.Unlock
}
