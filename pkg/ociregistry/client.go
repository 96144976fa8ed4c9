// Package ociregistry moves packs between folders, OCI image layouts and
// OCI registries: push, pull, list, inspect, copy and delete, on any
// registry that speaks the OCI distribution API (packyard's own,
// distribution, Harbor, ECR, zot).
//
// A pack lives in a registry in two repositories below a base path, one per
// encoding (see package mediatypes):
//
//	<registry>/<base>/packs/<name>:<tag>                   native artifact
//	<registry>/<base>/spectro-packs/archive/<name>:<tag>   Palette archive
//
// Credentials come from the docker config.json that docker, oras and helm
// share, credential helpers included.
package ociregistry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/retry"
)

// Repository path parts below a base.
const (
	// NativeRepoPrefix holds the native pack artifacts, one repository per
	// pack name.
	NativeRepoPrefix = "packs"
	// PaletteRepoPrefix holds the Palette archives, one repository per pack
	// name; Palette's documentation names it so.
	PaletteRepoPrefix = "spectro-packs/archive"
)

// DefaultConcurrency is how many blobs move at once unless told otherwise.
const DefaultConcurrency = 8

// Options configure a Client. The zero value talks HTTPS with the system's
// certificate authorities and the docker config's credentials.
type Options struct {
	// PlainHTTP talks HTTP instead of HTTPS.
	PlainHTTP bool
	// Insecure accepts any TLS certificate.
	Insecure bool
	// CAFile adds the PEM certificate authorities in this file to the
	// system's.
	CAFile string
	// Credentials is where logins are read and saved; nil means the docker
	// config (DOCKER_CONFIG honoured, credential helpers used).
	Credentials credentials.Store
	// Concurrency is how many blobs move at once; zero means
	// DefaultConcurrency.
	Concurrency int
	// UserAgent is sent with every request.
	UserAgent string
	// CacheDir is where packyard remembers what spares work from one run
	// to the next (the Palette archives it built); empty means packyard's
	// folder in the user's cache folder.
	CacheDir string
	// NoCache keeps nothing between runs.
	NoCache bool
}

// Client talks to OCI registries. It is safe for concurrent use; its
// connections and tokens are reused across calls.
type Client struct {
	opts  Options
	store credentials.Store
	auth  *auth.Client
	cache pushCache
}

// New makes a Client.
func New(opts Options) (*Client, error) {
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	store := opts.Credentials
	if store == nil {
		s, err := credentials.NewStoreFromDocker(credentials.StoreOptions{AllowPlaintextPut: true, DetectDefaultNativeStore: true})
		if err != nil {
			return nil, fmt.Errorf("reading the docker credentials config: %w", err)
		}
		store = s
	}
	store = credentialStore{store}
	tr, err := transport(opts)
	if err != nil {
		return nil, err
	}
	ua := opts.UserAgent
	if ua == "" {
		ua = "packyard"
	}
	if opts.CacheDir == "" && !opts.NoCache {
		opts.CacheDir = defaultCacheDir()
	}
	if opts.NoCache {
		opts.CacheDir = ""
	}
	c := &Client{opts: opts, store: store, cache: pushCache{dir: opts.CacheDir, trimmed: &sync.Once{}}, auth: &auth.Client{
		Client:     &http.Client{Transport: retry.NewTransport(tr)},
		Cache:      auth.NewCache(),
		Credential: credentials.Credential(store),
		Header:     http.Header{"User-Agent": {ua}},
	}}
	return c, nil
}

// transport is an HTTP transport with connection reuse sized for parallel
// blob transfers, and the TLS settings of opts.
func transport(opts Options) (*http.Transport, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Enough idle connections for every request a listing has in flight:
	// a connection closed after each request costs the registry more than
	// the request.
	tr.MaxIdleConnsPerHost = max(opts.Concurrency, DefaultListConcurrency+DefaultListConcurrency/4)
	tr.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	if opts.Insecure || opts.CAFile != "" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: opts.Insecure} //nolint:gosec // the user asked for it with --insecure
		if opts.CAFile != "" {
			pem, err := os.ReadFile(opts.CAFile)
			if err != nil {
				return nil, fmt.Errorf("reading CA file: %w", err)
			}
			pool, err := x509.SystemCertPool()
			if err != nil || pool == nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("CA file %s holds no PEM certificate", opts.CAFile)
			}
			cfg.RootCAs = pool
		}
		tr.TLSClientConfig = cfg
	}
	return tr, nil
}

// Location is where packs live: a registry host and a base path in it.
type Location struct {
	// Registry is the registry's host, with its port if any.
	Registry string
	// Base is the path below which the pack repositories are; may be empty.
	Base string
}

// ParseLocation reads "SERVER[/BASE]" (a scheme, if given, is dropped).
func ParseLocation(s string) (Location, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "https://"), "http://")
	s = strings.TrimPrefix(s, "oci://")
	s = strings.Trim(s, "/")
	if s == "" {
		return Location{}, errors.New("no registry given: pass -r SERVER[/BASE], set PACKYARD_REGISTRY, or log in with --default")
	}
	if strings.Contains(s, "@") {
		// Never quote it: the part before @ may be a password, and a
		// password may hold a '/'. No location holds an '@'.
		return Location{}, errors.New("the registry address holds credentials (USER:PASSWORD@); give SERVER[/BASE] and log in with `packyard registry login`")
	}
	host, base, _ := strings.Cut(s, "/")
	if base != "" && slices.ContainsFunc(strings.Split(base, "/"), func(e string) bool { return e == "" || e == "." || e == ".." }) {
		// The catalog API and the repository names must see one base.
		return Location{}, fmt.Errorf("%q is not a registry location SERVER[/BASE]: the base path %q has an empty, \".\" or \"..\" part", s, base)
	}
	loc := Location{Registry: host, Base: base}
	// Validate both parts the way a reference would.
	probe := registry.Reference{Registry: host, Repository: loc.repo(NativeRepoPrefix, "probe")}
	if err := probe.Validate(); err != nil {
		return Location{}, fmt.Errorf("%q is not a registry location SERVER[/BASE]: %w", s, err)
	}
	return loc, nil
}

func (l Location) String() string {
	if l.Base == "" {
		return l.Registry
	}
	return l.Registry + "/" + l.Base
}

func (l Location) repo(parts ...string) string {
	return path.Join(append([]string{l.Base}, parts...)...)
}

// NativeRepository is the repository of a pack's native artifacts.
func (l Location) NativeRepository(name string) string { return l.repo(NativeRepoPrefix, name) }

// PaletteRepository is the repository of a pack's Palette archives.
func (l Location) PaletteRepository(name string) string { return l.repo(PaletteRepoPrefix, name) }

// PaletteBaseRepository is the repository Palette's documentation pushes
// an untagged manifest to, so that registries that create repositories
// only on push (Harbor, ECR) have it.
func (l Location) PaletteBaseRepository() string { return l.repo(PaletteRepoPrefix) }

// Repository opens a repository of the registry at loc. Fetches through
// checkedFetcher have their answers checked against what they fetch.
func (c *Client) Repository(loc Location, repository string) (*remote.Repository, error) {
	repo, err := remote.NewRepository(loc.Registry + "/" + repository)
	if err != nil {
		return nil, fmt.Errorf("repository %s/%s: %w", loc.Registry, repository, err)
	}
	repo.Client = checkingClient{c.auth}
	repo.PlainHTTP = c.opts.PlainHTTP
	repo.SkipReferrersGC = true
	return repo, nil
}

// Registry opens the registry at loc, for its catalog and for logins.
func (c *Client) Registry(loc Location) (*remote.Registry, error) {
	reg, err := remote.NewRegistry(loc.Registry)
	if err != nil {
		return nil, err
	}
	reg.Client = c.auth
	reg.PlainHTTP = c.opts.PlainHTTP
	return reg, nil
}

// Login checks cred against the registry at host and, when the registry
// accepts it, saves it in the client's credential store (the docker config
// unless Options.Credentials says otherwise).
func (c *Client) Login(ctx context.Context, host string, cred auth.Credential) error {
	reg, err := c.Registry(Location{Registry: host})
	if err != nil {
		return err
	}
	return credentials.Login(ctx, c.store, reg, cred)
}

// Logout removes the credential saved for host. It reports whether there
// was one.
func (c *Client) Logout(ctx context.Context, host string) (bool, error) {
	cred, err := c.store.Get(ctx, credentials.ServerAddressFromRegistry(host))
	if err != nil {
		// A login that cannot be read (a malformed entry) is what logging
		// out is for: remove it all the same.
		if lerr := credentials.Logout(ctx, c.store, host); lerr != nil {
			return false, errors.Join(err, lerr)
		}
		return true, nil
	}
	if cred == auth.EmptyCredential {
		return false, nil
	}
	return true, credentials.Logout(ctx, c.store, host)
}
