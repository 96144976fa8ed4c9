// Package mediatypes declares every media type, artifact type and annotation
// key that packyard writes or reads, for both registry encodings of a pack.
//
// The package holds constants only. It depends on nothing but the OCI
// image-spec, so any tool can import it to recognise packyard artifacts.
//
// A pack lives in a registry in two encodings:
//
//   - the native pack artifact: an OCI 1.1 image manifest whose artifactType
//     is [ArtifactTypePack], whose config is pack.json and whose layers are
//     the pack's parts, one media type per kind of part;
//   - the Palette archive: the manifest Palette reads today, a single gzip'd
//     tar layer of the pack folder pushed the way ORAS 1.0 pushes a file.
package mediatypes

import ocispec "github.com/opencontainers/image-spec/specs-go/v1"

// Native pack artifact.
const (
	// ArtifactTypePack is the artifactType of a native pack manifest.
	ArtifactTypePack = "application/vnd.packyard.pack.v1"

	// PackConfig is the config media type of a native pack manifest. The
	// config blob holds the pack's pack.json exactly as it is in the folder.
	PackConfig = "application/vnd.packyard.pack.config.v1+json"

	// PackMetadata is the layer that holds pack.json itself (the same bytes
	// as the config), titled "pack.json" so that oras pull writes it back.
	PackMetadata = "application/vnd.packyard.pack.metadata.v1+json"

	// PackValues is the layer holding values.yaml, the pack's parameters.
	PackValues = "application/vnd.packyard.pack.values.v1+yaml"

	// PackPresets is the layer holding presets.yaml, Palette's value presets.
	PackPresets = "application/vnd.packyard.pack.presets.v1+yaml"

	// PackSchema is the layer holding schema.yaml, Palette's parameter schema.
	PackSchema = "application/vnd.packyard.pack.schema.v1+yaml"

	// PackReadme is the layer holding README.md.
	PackReadme = "application/vnd.packyard.pack.readme.v1.markdown"

	// PackLogo is the layer holding logo.png.
	PackLogo = "application/vnd.packyard.pack.logo.v1.png"

	// PackChart is a layer holding one Helm chart archive listed in the
	// pack.json "charts" field, stored byte for byte as it is in the pack.
	PackChart = "application/vnd.packyard.pack.chart.v1.tar+gzip"

	// PackManifests is a gzip'd tar layer of the pack's manifests/ folder.
	PackManifests = "application/vnd.packyard.pack.manifests.v1.tar+gzip"

	// PackManifest is a layer holding one Kubernetes manifest listed in
	// "kubeManifests" that lies outside the manifests/ folder.
	PackManifest = "application/vnd.packyard.pack.manifest.v1+yaml"

	// PackAnsibleRoles is a gzip'd tar layer of an Ansible roles folder: the
	// pack's ansible-roles/ folder, or a role listed in "ansibleRoles" that
	// lies outside it.
	PackAnsibleRoles = "application/vnd.packyard.pack.ansibleroles.v1.tar+gzip"

	// PackFiles is a gzip'd tar layer of a folder of other files, ones that
	// no other part claims (an unpacked chart beside its archive, say).
	PackFiles = "application/vnd.packyard.pack.files.v1.tar+gzip"

	// PackFile is a layer holding one other file that no other part claims.
	PackFile = "application/vnd.packyard.pack.file.v1"
)

// Palette archive, the encoding Palette reads from OCI registries. Its
// manifest is byte-compatible with what ORAS 1.0 produces for
// `oras push REF NAME-VERSION.tar.gz`.
const (
	// PaletteConfig is the config media type ORAS 1.0 gives a manifest pushed
	// without an artifact type.
	PaletteConfig = "application/vnd.unknown.config.v1+json"

	// PaletteConfigData is the content of the Palette archive's config blob.
	PaletteConfigData = "{}"

	// PaletteConfigDigest is the digest of [PaletteConfigData].
	PaletteConfigDigest = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

	// PaletteArchive is the media type of the Palette archive layer. The
	// layer is a gzip'd tar even though the media type says tar: ORAS 1.0
	// gives every file this type by default, and Palette expects it.
	PaletteArchive = ocispec.MediaTypeImageLayer
)

// Annotation keys.
const (
	// AnnotationTitle names the file or folder a layer is written to. It is
	// the key oras pull reads.
	AnnotationTitle = ocispec.AnnotationTitle

	// AnnotationCreated is set on a manifest only when SOURCE_DATE_EPOCH
	// gives a build time, so that builds stay reproducible.
	AnnotationCreated = ocispec.AnnotationCreated

	// AnnotationVersion carries the pack's version on a native manifest.
	AnnotationVersion = ocispec.AnnotationVersion

	// AnnotationContentDigest is the digest of the uncompressed tar of a
	// folder layer, the key oras reads to verify what it unpacks.
	AnnotationContentDigest = "io.deis.oras.content.digest"

	// AnnotationContentUnpack marks a folder layer ("true") that oras pull
	// unpacks into a folder named by the title.
	AnnotationContentUnpack = "io.deis.oras.content.unpack"
)

// Listing metadata carried by the native manifest, so that listing packs
// needs manifests only, never blobs.
const (
	// AnnotationPackName is pack.json "name".
	AnnotationPackName = "io.packyard.pack.name"
	// AnnotationPackDisplayName is pack.json "displayName".
	AnnotationPackDisplayName = "io.packyard.pack.displayName"
	// AnnotationPackVersion is pack.json "version", exactly as written there;
	// the tag may differ where the version holds characters a tag cannot.
	AnnotationPackVersion = "io.packyard.pack.version"
	// AnnotationPackLayer is pack.json "layer".
	AnnotationPackLayer = "io.packyard.pack.layer"
	// AnnotationPackAddonType is pack.json "addonType".
	AnnotationPackAddonType = "io.packyard.pack.addonType"
	// AnnotationPackAddonSubType is pack.json "addonSubType".
	AnnotationPackAddonSubType = "io.packyard.pack.addonSubType"
	// AnnotationPackCloudTypes is pack.json "cloudTypes", comma separated.
	AnnotationPackCloudTypes = "io.packyard.pack.cloudTypes"
	// AnnotationPackGroup is pack.json "group".
	AnnotationPackGroup = "io.packyard.pack.group"
	// AnnotationPackEOL is pack.json "eol".
	AnnotationPackEOL = "io.packyard.pack.eol"
)

// Annotations on chart layers, read from the archive's Chart.yaml, so that
// inspecting a pack shows its charts without downloading them.
const (
	// AnnotationChartName is the chart's Chart.yaml name.
	AnnotationChartName = "io.packyard.chart.name"
	// AnnotationChartVersion is the chart's Chart.yaml version.
	AnnotationChartVersion = "io.packyard.chart.version"
)

// Annotations on the entries of an OCI image layout's index.json.
const (
	// AnnotationRefName is the tag of an index entry.
	AnnotationRefName = ocispec.AnnotationRefName

	// AnnotationEncoding says which encoding of a pack an index entry holds:
	// [EncodingNative] or [EncodingPalette].
	AnnotationEncoding = "io.packyard.pack.encoding"
)

// Values of [AnnotationEncoding].
const (
	EncodingNative  = "native"
	EncodingPalette = "palette"
)
