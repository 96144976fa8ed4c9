package ociregistry

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"

	"github.com/packyard/packyard/pkg/mediatypes"
	"github.com/packyard/packyard/pkg/ocilayout"
	"github.com/packyard/packyard/pkg/packer"
)

// MaxArchiveBlobSize bounds each blob Import reads from an archive.
const MaxArchiveBlobSize = 16 << 30

// maxLayoutFileSize bounds the oci-layout file Import reads.
const maxLayoutFileSize = 4 << 10

// archiveTime is the modification time of every entry Export writes, so
// that the same packs give the same archive.
var archiveTime = time.Unix(0, 0).UTC()

// exportEntry is one encoding of one pack version going into an archive.
type exportEntry struct {
	found    *Found
	manifest []byte
	m        *ocispec.Manifest
	name     string
	version  string
	tag      string
}

// Export writes the packs that refs name (each at its version, or the
// highest), every encoding the registry holds, to w as a tar of an OCI
// image layout: blobs/, index.json, then oci-layout. Blobs stream from the
// registry into the tar, each verified against its digest, without a
// temporary copy on disk.
//
// The index entries carry the annotations `pack build` writes
// (io.packyard.pack.encoding, .name and .version) and a ref name: for an
// archive of one pack version the tags `pack build` gives (VERSION and
// VERSION-palette); for several, NAME-VERSION and NAME-VERSION-palette, so
// that each is unique. Import reads it, and so do `pack push` and
// `pack unpack` once it is extracted.
func (c *Client) Export(ctx context.Context, loc Location, refs []PackRef, w io.Writer) error {
	if len(refs) == 0 {
		return fmt.Errorf("no pack to export: %w", errdef.ErrMissingReference)
	}
	var entries []*exportEntry
	seen := map[string]bool{}
	packs := map[string]bool{}
	for _, ref := range refs {
		found, err := c.findVersion(ctx, loc, ref, "")
		if err != nil {
			return err
		}
		var group []*exportEntry
		version := ""
		for _, f := range found {
			e, err := fetchExportEntry(ctx, loc, ref.Name, f)
			if err != nil {
				return err
			}
			if e.tag == "" {
				return fmt.Errorf("%s names no version; export %s:VERSION instead: %w", f.reference(loc), ref.Name, errdef.ErrMissingReference)
			}
			if f.Encoding == mediatypes.EncodingNative {
				version = e.m.Annotations[mediatypes.AnnotationPackVersion]
			}
			group = append(group, e)
		}
		for _, e := range group {
			e.version = version
			if e.version == "" {
				e.version = e.tag
			}
			key := e.name + "\x00" + e.tag + "\x00" + e.found.Encoding
			if seen[key] {
				continue
			}
			seen[key] = true
			packs[e.name+"\x00"+e.tag] = true
			entries = append(entries, e)
		}
	}

	index := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
	refNames := map[string]string{}
	for _, e := range entries {
		refName := e.tag
		if len(packs) > 1 {
			refName = e.name + "-" + e.tag
		}
		refName = packer.LayoutTag(e.found.Encoding, refName)
		if other, ok := refNames[refName]; ok {
			return fmt.Errorf("%s and %s would both be tagged %q in the archive; export them separately: %w", other, e.found.reference(loc), refName, errdef.ErrAlreadyExists)
		}
		refNames[refName] = e.found.reference(loc)
		index.Manifests = append(index.Manifests, ocispec.Descriptor{
			MediaType:    e.found.Manifest.MediaType,
			Digest:       e.found.Manifest.Digest,
			Size:         e.found.Manifest.Size,
			ArtifactType: e.m.ArtifactType,
			Annotations: map[string]string{
				mediatypes.AnnotationEncoding:    e.found.Encoding,
				mediatypes.AnnotationPackName:    e.name,
				mediatypes.AnnotationPackVersion: e.version,
				mediatypes.AnnotationRefName:     refName,
			},
		})
	}

	tw := tar.NewWriter(w)
	for _, dir := range []string{ocispec.ImageBlobsDir + "/", ocispec.ImageBlobsDir + "/" + string(digest.SHA256) + "/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: archiveTime}); err != nil {
			return err
		}
	}
	written := map[digest.Digest]bool{}
	for _, e := range entries {
		blobs := append([]ocispec.Descriptor{e.m.Config}, e.m.Layers...)
		for _, b := range blobs {
			if written[b.Digest] {
				continue
			}
			if err := writeBlob(ctx, tw, e.found, b); err != nil {
				return fmt.Errorf("exporting %s: %w", e.found.reference(loc), err)
			}
			written[b.Digest] = true
		}
		if !written[e.found.Manifest.Digest] {
			if err := writeTarFile(tw, blobName(e.found.Manifest.Digest), e.manifest); err != nil {
				return err
			}
			written[e.found.Manifest.Digest] = true
		}
	}
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return err
	}
	if err := writeTarFile(tw, "index.json", indexJSON); err != nil {
		return err
	}
	layoutJSON, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err := writeTarFile(tw, ocispec.ImageLayoutFile, layoutJSON); err != nil {
		return err
	}
	return tw.Close()
}

// fetchExportEntry fetches and checks a manifest that is to be exported.
func fetchExportEntry(ctx context.Context, loc Location, name string, f *Found) (*exportEntry, error) {
	if f.Manifest.Size > packer.MaxManifestSize {
		return nil, fmt.Errorf("%s: the manifest is %d bytes, more than %d: %w", f.reference(loc), f.Manifest.Size, packer.MaxManifestSize, packer.ErrTooLarge)
	}
	data, err := content.FetchAll(ctx, checkedFetcher{f.Repository}, f.Manifest)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", f.reference(loc), err)
	}
	m, err := packer.FetchManifest(ctx, openedFetcher{io.NopCloser(bytes.NewReader(data))}, f.Manifest)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.reference(loc), err)
	}
	tag := f.Tag
	if tag == "" {
		tag = tagFromManifest(name, f.Encoding, m)
	}
	return &exportEntry{found: f, manifest: data, m: m, name: name, tag: tag}, nil
}

func blobName(d digest.Digest) string {
	return path.Join(ocispec.ImageBlobsDir, d.Algorithm().String(), d.Encoded())
}

// writeBlob streams a blob from the registry into the tar, verifying it.
// As for a pull, the registry's answer is checked before its body is read,
// and a download cut part-way is taken up again.
func writeBlob(ctx context.Context, tw *tar.Writer, f *Found, desc ocispec.Descriptor) error {
	if err := desc.Digest.Validate(); err != nil {
		return fmt.Errorf("blob %q: %w", desc.Digest, errdef.ErrInvalidDigest)
	}
	rc, err := checkedFetcher{f.Repository.Blobs()}.Fetch(ctx, desc)
	if err != nil {
		return fmt.Errorf("fetching blob %s: %w", desc.Digest, err)
	}
	defer rc.Close()
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: blobName(desc.Digest), Mode: 0o644, Size: desc.Size, ModTime: archiveTime}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	vr := content.NewVerifyReader(rc, desc)
	if _, err := io.Copy(tw, vr); err != nil {
		return fmt.Errorf("blob %s: %w", desc.Digest, err)
	}
	if err := vr.Verify(); err != nil {
		return fmt.Errorf("blob %s: %w", desc.Digest, err)
	}
	return nil
}

func writeTarFile(tw *tar.Writer, name string, data []byte) error {
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: archiveTime}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

// Import reads a tar of an OCI image layout, as Export writes it, into a
// temporary layout and pushes the packs it holds to loc with the rules of
// PushLayout. The archive is read with care: only oci-layout, index.json
// and blobs/ALG/HEX entries are accepted, every blob must match its name's
// digest and stay under MaxArchiveBlobSize, and the index must name
// manifests the archive holds. The results' Source is empty: the caller
// knows where the archive came from.
func (c *Client) Import(ctx context.Context, r io.Reader, loc Location, opts PushOptions) ([]*PushResult, error) {
	tmp, err := os.MkdirTemp("", "packyard-import-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	root := filepath.Join(tmp, "layout")
	if err := readArchive(ctx, r, root); err != nil {
		return nil, err
	}
	results, err := c.PushLayout(ctx, root, loc, opts)
	for _, res := range results {
		res.Source = ""
	}
	return results, err
}

// readArchive extracts a layout archive into a new layout at root.
func readArchive(ctx context.Context, r io.Reader, root string) error {
	l, err := ocilayout.Create(root)
	if err != nil {
		return err
	}
	unsafe := func(name, reason string) error {
		return fmt.Errorf("archive entry %q: %s: %w", name, reason, packer.ErrUnsafeContent)
	}
	var indexJSON, layoutJSON []byte
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the archive: %w", err)
		}
		raw := hdr.Name
		if strings.Contains(raw, `\`) || path.IsAbs(raw) {
			return unsafe(raw, "not a relative slash-separated path")
		}
		name := path.Clean(raw)
		if name == ".." || strings.HasPrefix(name, "../") {
			return unsafe(raw, "leads out of the layout")
		}
		switch hdr.Typeflag {
		case tar.TypeXGlobalHeader:
			continue
		case tar.TypeDir:
			parts := strings.Split(name, "/")
			if name != "." && (parts[0] != ocispec.ImageBlobsDir || len(parts) > 2) {
				return unsafe(raw, "a folder an OCI image layout does not have")
			}
			continue
		case tar.TypeReg:
		default:
			return unsafe(raw, fmt.Sprintf("entry type %q; an OCI image layout holds only files and folders", hdr.Typeflag))
		}
		if hdr.Size < 0 {
			return unsafe(raw, "negative size")
		}
		for k := range hdr.PAXRecords {
			if strings.HasPrefix(k, "GNU.sparse.") {
				// A few bytes in the archive would read as a file of any size.
				return unsafe(raw, "a sparse file; an OCI image layout holds none")
			}
		}
		switch name {
		case ocispec.ImageLayoutFile:
			if layoutJSON != nil {
				return unsafe(raw, "appears twice")
			}
			if layoutJSON, err = readSmall(tr, hdr, maxLayoutFileSize); err != nil {
				return err
			}
			continue
		case "index.json":
			if indexJSON != nil {
				return unsafe(raw, "appears twice")
			}
			if indexJSON, err = readSmall(tr, hdr, ocilayout.MaxIndexSize); err != nil {
				return err
			}
			continue
		}
		alg, enc, ok := strings.Cut(strings.TrimPrefix(name, ocispec.ImageBlobsDir+"/"), "/")
		if !ok || !strings.HasPrefix(name, ocispec.ImageBlobsDir+"/") || strings.Contains(enc, "/") {
			return unsafe(raw, "not a file of an OCI image layout")
		}
		d := digest.NewDigestFromEncoded(digest.Algorithm(alg), enc)
		if err := d.Validate(); err != nil {
			return unsafe(raw, "the name is not a digest: "+err.Error())
		}
		if hdr.Size > MaxArchiveBlobSize {
			return fmt.Errorf("archive entry %q is %d bytes, more than the %d a blob may have: %w", raw, hdr.Size, int64(MaxArchiveBlobSize), packer.ErrTooLarge)
		}
		if err := l.Push(ctx, ocispec.Descriptor{Digest: d, Size: hdr.Size}, tr); err != nil {
			if errors.Is(err, errdef.ErrInvalidDigest) {
				return unsafe(raw, err.Error())
			}
			return fmt.Errorf("archive entry %q: %w", raw, err)
		}
	}
	if layoutJSON == nil || indexJSON == nil {
		return fmt.Errorf("the archive is not an OCI image layout: it lacks %s or index.json: %w", ocispec.ImageLayoutFile, errdef.ErrNotFound)
	}
	var lay ocispec.ImageLayout
	if err := json.Unmarshal(layoutJSON, &lay); err != nil || lay.Version != ocispec.ImageLayoutVersion {
		return fmt.Errorf("the archive's %s is not an OCI image layout %s marker: %w", ocispec.ImageLayoutFile, ocispec.ImageLayoutVersion, packer.ErrNotPack)
	}
	if err := os.WriteFile(filepath.Join(root, "index.json"), indexJSON, 0o644); err != nil {
		return err
	}
	l, err = ocilayout.Open(root)
	if err != nil {
		return fmt.Errorf("the archive's index.json: %w", err)
	}
	packs := 0
	for _, m := range l.Manifests() {
		if m.Annotations[mediatypes.AnnotationEncoding] != "" && m.Annotations[mediatypes.AnnotationPackName] != "" {
			packs++
		}
		if m.Size > packer.MaxManifestSize {
			return fmt.Errorf("the archive's manifest %s is %d bytes, more than %d: %w", m.Digest, m.Size, packer.MaxManifestSize, packer.ErrTooLarge)
		}
		if ok, err := l.Exists(ctx, m); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("the archive's index names manifest %s, which it does not hold: %w", m.Digest, errdef.ErrNotFound)
		}
	}
	if packs == 0 {
		return fmt.Errorf("the archive holds no pack exported or built by packyard (its index entries lack %s): %w", mediatypes.AnnotationEncoding, errdef.ErrNotFound)
	}
	return nil
}

// readSmall reads a small archive entry whole, refusing one past limit.
func readSmall(r io.Reader, hdr *tar.Header, limit int64) ([]byte, error) {
	if hdr.Size > limit {
		return nil, fmt.Errorf("archive entry %q is %d bytes, more than %d: %w", hdr.Name, hdr.Size, limit, packer.ErrTooLarge)
	}
	return io.ReadAll(io.LimitReader(r, limit))
}
