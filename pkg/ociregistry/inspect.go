package ociregistry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"

	"github.com/packyard/packyard/pkg/mediatypes"
	"github.com/packyard/packyard/pkg/packer"
)

// Inspection is what a registry holds for one version of a pack, read
// from its manifests and, for the native artifact, its config (pack.json);
// no layer is downloaded.
type Inspection struct {
	Name string `json:"name"`
	// Version is pack.json's version, or the tag when only a Palette
	// archive is there.
	Version string `json:"version"`
	Tag     string `json:"tag,omitempty"`
	// Artifacts are the encodings present, native first.
	Artifacts []InspectedArtifact `json:"artifacts"`
	// PackJSON is the native artifact's pack.json, as it was in the pack
	// folder; nil when there is no native artifact.
	PackJSON json.RawMessage `json:"packJSON,omitempty"`
}

// Artifact is the artifact of the encoding, or nil.
func (i *Inspection) Artifact(encoding string) *InspectedArtifact {
	for k := range i.Artifacts {
		if i.Artifacts[k].Encoding == encoding {
			return &i.Artifacts[k]
		}
	}
	return nil
}

// InspectedArtifact is one encoding of a pack version.
type InspectedArtifact struct {
	Encoding string `json:"encoding"`
	// Reference is REGISTRY/REPOSITORY:TAG, or @DIGEST when found by digest.
	Reference    string             `json:"reference"`
	Repository   string             `json:"repository"`
	Tag          string             `json:"tag,omitempty"`
	Manifest     ocispec.Descriptor `json:"manifest"`
	ArtifactType string             `json:"artifactType,omitempty"`
	Config       ocispec.Descriptor `json:"config"`
	Annotations  map[string]string  `json:"annotations,omitempty"`
	Layers       []LayerInfo        `json:"layers"`
}

// Size is the manifest's, config's and layers' bytes together.
func (a *InspectedArtifact) Size() int64 {
	n := a.Manifest.Size + a.Config.Size
	for _, l := range a.Layers {
		n += l.Size
	}
	return n
}

// LayerInfo is one layer of an artifact, as its manifest describes it.
type LayerInfo struct {
	MediaType string        `json:"mediaType"`
	Digest    digest.Digest `json:"digest"`
	Size      int64         `json:"size"`
	// Title is the file or folder the layer is written to.
	Title string `json:"title,omitempty"`
	// ChartName and ChartVersion are a chart layer's Chart.yaml fields.
	ChartName    string `json:"chartName,omitempty"`
	ChartVersion string `json:"chartVersion,omitempty"`
}

// Inspect describes a version of a pack (the highest when ref names none)
// in both encodings where present, from manifests and the native config
// only: no layer is downloaded.
func (c *Client) Inspect(ctx context.Context, loc Location, ref PackRef) (*Inspection, error) {
	found, err := c.findVersion(ctx, loc, ref, "")
	if err != nil {
		return nil, err
	}
	ins := &Inspection{Name: ref.Name}
	for _, f := range found {
		m, err := packer.FetchManifest(ctx, checkedFetcher{f.Repository}, f.Manifest)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.reference(loc), err)
		}
		a := InspectedArtifact{
			Encoding:     f.Encoding,
			Reference:    f.reference(loc),
			Repository:   f.RepositoryName,
			Tag:          f.Tag,
			Manifest:     f.Manifest,
			ArtifactType: m.ArtifactType,
			Config:       m.Config,
			Annotations:  m.Annotations,
			Layers:       []LayerInfo{},
		}
		a.Manifest.ArtifactType = m.ArtifactType
		for _, l := range m.Layers {
			a.Layers = append(a.Layers, LayerInfo{
				MediaType:    l.MediaType,
				Digest:       l.Digest,
				Size:         l.Size,
				Title:        l.Annotations[mediatypes.AnnotationTitle],
				ChartName:    l.Annotations[mediatypes.AnnotationChartName],
				ChartVersion: l.Annotations[mediatypes.AnnotationChartVersion],
			})
		}
		if ins.Tag == "" {
			ins.Tag = f.Tag
		}
		if ins.Tag == "" {
			ins.Tag = tagFromManifest(ref.Name, f.Encoding, m)
		}
		if f.Encoding == mediatypes.EncodingNative {
			ins.Version = m.Annotations[mediatypes.AnnotationPackVersion]
			if m.Config.MediaType == mediatypes.PackConfig {
				ins.PackJSON, err = fetchPackJSON(ctx, f, m.Config)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", f.reference(loc), err)
				}
			}
		}
		ins.Artifacts = append(ins.Artifacts, a)
	}
	if ins.Version == "" {
		ins.Version = ins.Tag
	}
	return ins, nil
}

// fetchPackJSON fetches and verifies the native artifact's config, which
// is pack.json.
func fetchPackJSON(ctx context.Context, f *Found, config ocispec.Descriptor) (json.RawMessage, error) {
	if config.Size > packer.MaxPackJSONSize {
		return nil, fmt.Errorf("the pack.json config is %d bytes, more than %d: %w", config.Size, packer.MaxPackJSONSize, packer.ErrTooLarge)
	}
	data, err := content.FetchAll(ctx, checkedFetcher{f.Repository.Blobs()}, config)
	if err != nil {
		return nil, fmt.Errorf("fetching the pack.json config %s: %w", config.Digest, err)
	}
	if !json.Valid(data) {
		return nil, fmt.Errorf("the pack.json config %s is not JSON: %w", config.Digest, packer.ErrNotPack)
	}
	return json.RawMessage(data), nil
}

// reference is the artifact's full reference, by tag when known.
func (f *Found) reference(loc Location) string {
	if f.Tag != "" {
		return loc.Registry + "/" + f.RepositoryName + ":" + f.Tag
	}
	return loc.Registry + "/" + f.RepositoryName + "@" + f.Manifest.Digest.String()
}

// tagFromManifest works out the tag of a pack version from its manifest:
// the native artifact's version annotation, or the Palette archive's file
// name NAME-VERSION.tar.gz. It returns "" when neither says.
func tagFromManifest(name, encoding string, m *ocispec.Manifest) string {
	if encoding == mediatypes.EncodingNative {
		if v := m.Annotations[mediatypes.AnnotationPackVersion]; v != "" {
			return packer.VersionTag(v)
		}
		return ""
	}
	if len(m.Layers) != 1 {
		return ""
	}
	title := m.Layers[0].Annotations[mediatypes.AnnotationTitle]
	v, ok := strings.CutPrefix(title, name+"-")
	if !ok {
		return ""
	}
	for _, ext := range []string{".tar.gz", ".tgz"} {
		if s, ok := strings.CutSuffix(v, ext); ok && s != "" {
			return packer.VersionTag(s)
		}
	}
	return ""
}

// findVersion finds a version of a pack in each encoding that holds it,
// native first (only the encoding asked for, when given). A version names
// the tag; no version picks the highest tag of both repositories; a digest
// finds that manifest, in whichever repository holds it, without a tag.
func (c *Client) findVersion(ctx context.Context, loc Location, ref PackRef, encoding string) ([]*Found, error) {
	encodings := []string{mediatypes.EncodingNative, mediatypes.EncodingPalette}
	if encoding != "" {
		encodings = []string{encoding}
	}
	var cands []*Found
	for _, enc := range encodings {
		repoName := loc.encodingRepository(ref.Name, enc)
		repo, err := c.Repository(loc, repoName)
		if err != nil {
			return nil, err
		}
		cands = append(cands, &Found{Encoding: enc, Repository: repo, RepositoryName: repoName})
	}
	reference := ""
	switch {
	case ref.Digest != "":
		reference = ref.Digest.String()
	case ref.Version != "":
		reference = packer.VersionTag(ref.Version)
	default:
		var all []string
		for i := range cands {
			tags, err := Tags(ctx, cands[i].Repository)
			if err != nil {
				return nil, fmt.Errorf("listing the tags of %s/%s: %w", loc.Registry, cands[i].RepositoryName, err)
			}
			all = append(all, tags...)
		}
		reference = HighestTag(all)
	}
	var found []*Found
	if reference != "" {
		for _, cd := range cands {
			desc, err := cd.Repository.Resolve(ctx, reference)
			if errors.Is(err, errdef.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("resolving %s/%s:%s: %w", loc.Registry, cd.RepositoryName, reference, err)
			}
			cd.Manifest = desc
			if ref.Digest == "" {
				cd.Tag = reference
			}
			found = append(found, cd)
		}
	}
	if len(found) == 0 {
		var repos []string
		for _, cd := range cands {
			repos = append(repos, loc.Registry+"/"+cd.RepositoryName)
		}
		return nil, fmt.Errorf("pack %s not found in %s: %w", ref, strings.Join(repos, " nor "), errdef.ErrNotFound)
	}
	return found, nil
}
