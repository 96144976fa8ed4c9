package server

import (
	"context"
	"fmt"
	"strings"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/storage"
	"github.com/distribution/distribution/v3/registry/storage/driver/factory"
	"github.com/distribution/reference"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/packyard/packyard/pkg/mediatypes"
)

// GCOptions tune GarbageCollect. The zero value is a dry run that keeps
// untagged manifests.
type GCOptions struct {
	// Delete deletes what is unreferenced; without it nothing is deleted
	// and the run only reports.
	Delete bool
	// DeleteUntagged also deletes manifests no tag points to, except those
	// packyard keeps: referrers (signatures, SBOMs) of a manifest, and
	// the Palette base manifest of a spectro-packs/archive repository.
	DeleteUntagged bool
	// Quiet reports only what is deleted, not every repository and blob
	// marked.
	Quiet bool
}

// GarbageCollect runs distribution's mark and sweep on the storage cfg
// names, reporting on standard output as distribution's garbage-collect
// command does. Like that command, it must not run while a registry writes
// to the storage: stop the registry, or make it read-only
// (storage.maintenance.readonly), first.
func GarbageCollect(ctx context.Context, cfg *configuration.Configuration, opts GCOptions) error {
	driver, err := factory.Create(ctx, cfg.Storage.Type(), cfg.Storage.Parameters())
	if err != nil {
		return fmt.Errorf("opening the %s storage: %w", cfg.Storage.Type(), err)
	}
	reg, err := storage.NewRegistry(ctx, driver, storage.EnableDelete)
	if err != nil {
		return err
	}
	ns := distribution.Namespace(reg)
	if opts.DeleteUntagged {
		ns = &keepNamespace{Namespace: reg}
	}
	return storage.MarkAndSweep(ctx, driver, ns, storage.GCOpts{
		DryRun:         !opts.Delete,
		RemoveUntagged: opts.DeleteUntagged,
		Quiet:          opts.Quiet,
	})
}

// keepNamespace is a registry whose untagged manifests that packyard keeps
// look tagged to the garbage collector.
type keepNamespace struct {
	distribution.Namespace
}

// Enumerate keeps the collector's way through the repositories.
func (n *keepNamespace) Enumerate(ctx context.Context, ingester func(string) error) error {
	return n.Namespace.(distribution.RepositoryEnumerator).Enumerate(ctx, ingester)
}

func (n *keepNamespace) Repository(ctx context.Context, name reference.Named) (distribution.Repository, error) {
	r, err := n.Namespace.Repository(ctx, name)
	if err != nil {
		return nil, err
	}
	return &keepRepository{Repository: r}, nil
}

type keepRepository struct {
	distribution.Repository
}

func (r *keepRepository) Tags(ctx context.Context) distribution.TagService {
	return &keepTags{TagService: r.Repository.Tags(ctx), repo: r}
}

// keptTag is the tag a kept manifest seems to have; it is not a valid tag,
// so it can't be one the repository has.
const keptTag = "<kept by packyard>"

type keepTags struct {
	distribution.TagService
	repo *keepRepository
}

// Lookup gives a manifest packyard keeps a tag, so that the collector
// keeps it and what it references.
func (t *keepTags) Lookup(ctx context.Context, desc ocispec.Descriptor) ([]string, error) {
	tags, err := t.TagService.Lookup(ctx, desc)
	if err != nil || len(tags) > 0 {
		return tags, err
	}
	if t.kept(ctx, desc) {
		return []string{keptTag}, nil
	}
	return nil, nil
}

func (t *keepTags) kept(ctx context.Context, desc ocispec.Descriptor) bool {
	ms, err := t.repo.Manifests(ctx)
	if err != nil {
		return true // keep what can't be read
	}
	m, err := ms.Get(ctx, desc.Digest)
	if err != nil {
		return true
	}
	_, payload, err := m.Payload()
	if err != nil {
		return true
	}
	repo := t.repo.Named().Name()
	info := inspectManifest(repo, payload)
	return info.subject != nil || isPaletteBase(repo, info)
}

// isPaletteBase says whether a manifest of repo is the base manifest
// Palette's documentation pushes to <base>/spectro-packs/archive.
func isPaletteBase(repo string, info manifestInfo) bool {
	return (repo == "spectro-packs/archive" || strings.HasSuffix(repo, "/spectro-packs/archive")) &&
		info.config == mediatypes.PaletteConfig
}
