package packer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"
	"oras.land/oras-go/v2/content"

	"github.com/packyard/packyard/internal/ctxio"
	"github.com/packyard/packyard/internal/fileread"
	"github.com/packyard/packyard/internal/iobuf"
	"github.com/packyard/packyard/pkg/mediatypes"
)

// MaxManifestSize bounds the manifests Unpack reads, as oras does.
const MaxManifestSize = 4 << 20

// DefaultUnpackConcurrency is how many layers of a native pack Unpack
// fetches at once unless told otherwise.
const DefaultUnpackConcurrency = 4

// UnpackOptions tune Unpack. The zero value works.
type UnpackOptions struct {
	// Force replaces a target folder that holds files.
	Force bool
	// MaxSize is the most bytes the pack may unpack to; zero means
	// DefaultMaxUnpackSize.
	MaxSize int64
	// MaxEntries is the most files, folders and links the pack may unpack
	// to; zero means DefaultMaxUnpackEntries.
	MaxEntries int
	// Concurrency is the most layers of a native pack fetched at once;
	// zero (or less) means DefaultUnpackConcurrency. Layers are still
	// unpacked one after another, in the manifest's order.
	Concurrency int
}

// UnpackResult says what Unpack wrote.
type UnpackResult struct {
	Dir      string             `json:"dir"`
	Encoding string             `json:"encoding"`
	Name     string             `json:"name,omitempty"`
	Version  string             `json:"version,omitempty"`
	Manifest ocispec.Descriptor `json:"manifest"`
	Files    int                `json:"files"`
	Bytes    int64              `json:"bytes"`
	// TopFolder is the Palette archive's top-level folder, which Unpack
	// does not recreate: its content becomes the target folder.
	TopFolder string `json:"topFolder,omitempty"`
}

// manifestMediaTypes are the media types a descriptor of a manifest may
// have: FetchManifest reads image manifests, and tells indexes apart.
var manifestMediaTypes = map[string]bool{
	ocispec.MediaTypeImageManifest:                              true,
	"application/vnd.docker.distribution.manifest.v2+json":      true,
	ocispec.MediaTypeImageIndex:                                 true,
	"application/vnd.docker.distribution.manifest.list.v2+json": true,
}

// FetchManifest fetches, verifies and decodes an image manifest.
func FetchManifest(ctx context.Context, src content.Fetcher, desc ocispec.Descriptor) (*ocispec.Manifest, error) {
	if desc.Size > MaxManifestSize {
		return nil, kindf(ErrManifestTooLarge, "manifest %s is %d bytes, more than the %d a manifest may have", desc.Digest, desc.Size, MaxManifestSize)
	}
	if desc.MediaType != "" && !manifestMediaTypes[desc.MediaType] {
		// Nothing is fetched: a registry asked for a manifest would be
		// asked for a blob.
		return nil, kindf(ErrNotPack, "%s has media type %q, not an image manifest", desc.Digest, desc.MediaType)
	}
	data, err := content.FetchAll(ctx, src, desc)
	switch {
	case errors.Is(err, content.ErrMismatchedDigest):
		return nil, kindf(ErrUnsafeContent, "manifest %s: the content does not match its digest", desc.Digest)
	case errors.Is(err, content.ErrTrailingData):
		return nil, kindf(ErrUnsafeContent, "manifest %s: the content is longer than the %d bytes of its descriptor", desc.Digest, desc.Size)
	case errors.Is(err, io.ErrUnexpectedEOF) && ctx.Err() == nil:
		return nil, kindf(ErrUnsafeContent, "manifest %s: the content ends before the %d bytes of its descriptor", desc.Digest, desc.Size)
	case err != nil:
		return nil, fmt.Errorf("fetching manifest %s: %w", desc.Digest, err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, kindf(ErrNotPack, "manifest %s is not valid JSON: %v", desc.Digest, err)
	}
	mt := m.MediaType
	switch {
	case mt == "":
		mt = desc.MediaType
	case desc.MediaType != "" && desc.MediaType != mt:
		return nil, kindf(ErrUnsafeContent, "manifest %s: its descriptor gives the media type %q, the manifest says %q", desc.Digest, desc.MediaType, mt)
	}
	switch mt {
	case ocispec.MediaTypeImageManifest:
	case ocispec.MediaTypeImageIndex, "application/vnd.docker.distribution.manifest.list.v2+json":
		return nil, kindf(ErrNotPack, "%s is an image index, not a pack manifest", desc.Digest)
	case "application/vnd.docker.distribution.manifest.v2+json":
	default:
		return nil, kindf(ErrNotPack, "%s has media type %q, not an image manifest", desc.Digest, mt)
	}
	if m.SchemaVersion != 2 {
		return nil, kindf(ErrNotPack, "manifest %s has schemaVersion %d, want 2", desc.Digest, m.SchemaVersion)
	}
	// What the manifest names is checked once, here, for every reader of
	// it (unpack, inspect, copy): sizes and digests a registry could not
	// have served.
	if err := checkDescriptor(m.Config, "config"); err != nil {
		return nil, err
	}
	for i, l := range m.Layers {
		label := l.Annotations[ocispec.AnnotationTitle]
		if label == "" {
			label = fmt.Sprintf("#%d (%s)", i, l.Digest)
		}
		if err := checkDescriptor(l, label); err != nil {
			return nil, err
		}
	}
	return &m, nil
}

// Encoding tells which encoding of a pack a manifest is, or fails with
// ErrNotPack. A Palette archive is any manifest with a single layer that is
// not a container image: Palette's documentation has users push archives by
// hand, so the config and layer media types vary with the oras version.
func Encoding(m *ocispec.Manifest) (string, error) {
	if m.ArtifactType == mediatypes.ArtifactTypePack || m.Config.MediaType == mediatypes.PackConfig {
		return mediatypes.EncodingNative, nil
	}
	switch m.Config.MediaType {
	case ocispec.MediaTypeImageConfig, "application/vnd.docker.container.image.v1+json":
		return "", kindf(ErrNotPack, "the manifest is a container image (config %s), not a pack", m.Config.MediaType)
	}
	if len(m.Layers) == 1 {
		return mediatypes.EncodingPalette, nil
	}
	return "", fmt.Errorf("the manifest (artifactType %q, config %q, %d layers) is neither a packyard pack nor a Palette archive: %w",
		m.ArtifactType, m.Config.MediaType, len(m.Layers), ErrNotPack)
}

// Unpack writes the pack that manifest describes, in either encoding, from
// src into dir: every file the pack had, byte for byte. Every blob's digest
// is verified. Entries that would escape dir, links leading out of it,
// device files, duplicate names and content past opts' limits are refused.
// The pack is written into a temporary folder beside dir and renamed into
// place only when complete; a dir that holds files is replaced only with
// opts.Force. The layers of a native pack are fetched opts.Concurrency at a
// time into a staging folder beside dir, and unpacked in order. On failure
// nothing is left behind.
func Unpack(ctx context.Context, src content.Fetcher, manifest ocispec.Descriptor, dir string, opts UnpackOptions) (*UnpackResult, error) {
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	exists, err := checkTarget(absDir, opts.Force)
	if err != nil {
		return nil, err
	}
	m, err := FetchManifest(ctx, src, manifest)
	if err != nil {
		return nil, err
	}
	enc, err := Encoding(m)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", manifest.Digest, err)
	}
	if err := os.MkdirAll(filepath.Dir(absDir), 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(absDir), "."+filepath.Base(absDir)+".unpack-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	x := newExtractor(tmp, opts.MaxSize, opts.MaxEntries)
	x.ctx = ctx
	res := &UnpackResult{Dir: dir, Encoding: enc, Manifest: ocispec.Descriptor{
		MediaType: manifest.MediaType, Digest: manifest.Digest, Size: manifest.Size, ArtifactType: m.ArtifactType,
	}}
	base := ""
	if enc == mediatypes.EncodingNative {
		err = x.native(ctx, src, m, opts.Concurrency)
	} else {
		base, err = x.palette(ctx, src, m.Layers[0])
		res.TopFolder = base
	}
	if err != nil {
		return nil, err
	}
	if err := x.finishLinks(base); err != nil {
		return nil, err
	}
	packRoot := filepath.Join(tmp, filepath.FromSlash(base))
	for rel, f := range x.entries {
		if f.Kind == KindRegular && (base == "" || under(rel, base)) {
			res.Files++
		}
	}
	res.Bytes = x.bytes
	if data, err := fileread.Limited(filepath.Join(packRoot, PackJSONFile), MaxPackJSONSize); err == nil {
		var meta struct{ Name, Version string }
		if json.Unmarshal(data, &meta) == nil {
			res.Name, res.Version = meta.Name, meta.Version
		}
	}
	if err := os.Chmod(packRoot, 0o755); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := moveInto(packRoot, absDir, exists && opts.Force); err != nil {
		return nil, err
	}
	return res, nil
}

// checkTarget says whether dir exists, failing when it is not a folder, or
// holds files and force is off.
func checkTarget(dir string, force bool) (bool, error) {
	st, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !st.IsDir() {
		return false, kindf(ErrTargetNotFolder, "%s exists and is a file; give a folder to unpack into", dir)
	}
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	if len(names) > 0 && !force {
		return false, kindf(ErrTargetNotEmpty, "%s is not empty; unpack into a new or empty folder", dir)
	}
	return true, nil
}

// moveInto renames the finished pack folder to dir. Without replace, one
// rename does it: the kernel replaces an empty folder in place, and refuses
// one that has gained files since the check at the start, so nothing written
// there meanwhile is lost. With replace, the old dir is set aside, the pack
// moved in, and the old content removed.
func moveInto(packRoot, dir string, replace bool) error {
	if !replace {
		err := renameOntoEmpty(packRoot, dir)
		if errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST) {
			return kindf(ErrTargetNotEmpty, "%s gained files while the pack was unpacked; nothing was changed", dir)
		}
		return err
	}
	old, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".old-*")
	if err != nil {
		return err
	}
	if err := os.Remove(old); err != nil {
		return err
	}
	if err := os.Rename(dir, old); err != nil {
		return err
	}
	if err := os.Rename(packRoot, dir); err != nil {
		if rerr := os.Rename(old, dir); rerr != nil {
			return errors.Join(err, fmt.Errorf("restoring %s from %s: %w", dir, old, rerr))
		}
		return err
	}
	// The pack is in place: failing to remove what it replaced does not
	// undo that; the leftover folder is named in no error.
	_ = os.RemoveAll(old)
	return nil
}

// checkDescriptor refuses a descriptor that no content can match.
func checkDescriptor(desc ocispec.Descriptor, label string) error {
	if desc.Size < 0 {
		return unsafeEntry(label, "", "the descriptor has a negative size")
	}
	if err := desc.Digest.Validate(); err != nil {
		return unsafeEntry(label, "", "the descriptor's digest is invalid: "+err.Error())
	}
	return nil
}

// fetchVerified streams a blob to use, then checks that it matched its
// descriptor byte for byte. It is a function, not a method of extractor,
// so that layers can be fetched concurrently without sharing its state.
func fetchVerified(ctx context.Context, src content.Fetcher, desc ocispec.Descriptor, label string, use func(io.Reader) error) error {
	if err := checkDescriptor(desc, label); err != nil {
		return err
	}
	rc, err := src.Fetch(ctx, desc)
	if err != nil {
		return fmt.Errorf("fetching layer %s: %w", label, err)
	}
	defer rc.Close()
	vr := content.NewVerifyReader(rc, desc)
	rec := &errRecorder{r: vr}
	if err := use(rec); err != nil {
		if rec.err != nil {
			// The content could not be read: that, not what became of
			// the part that was, is the failure.
			return readFailure(ctx, label, desc, rec.n, rec.err)
		}
		return err
	}
	if _, err := io.Copy(io.Discard, rec); err != nil {
		return readFailure(ctx, label, desc, rec.n, err)
	}
	if err := vr.Verify(); err != nil {
		return unsafeEntry(label, "", "content does not match its descriptor: "+err.Error())
	}
	return nil
}

// nativeLayer is a layer of a native artifact, checked before any content
// is fetched.
type nativeLayer struct {
	desc ocispec.Descriptor
	// label is the layer's title, naming it in errors.
	label string
	// rel is where the layer unpacks: the file it is, or the folder whose
	// tar it is.
	rel    string
	folder bool
}

// native unpacks each layer of a native artifact to the path its title
// names: folder layers as tars whose entries must lie in that folder,
// other layers as single files. Every check that needs no content is made
// first; then up to concurrency layers are fetched at once, each into a
// staging file, while the layers are unpacked one after another in the
// manifest's order, so errors and entries are the same as one at a time.
func (x *extractor) native(ctx context.Context, src content.Fetcher, m *ocispec.Manifest, concurrency int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	plan, packJSON, err := x.planNative(m)
	if err != nil {
		return err
	}
	if err := x.nativeLayers(ctx, src, plan, concurrency); err != nil {
		return err
	}
	switch {
	case packJSON == nil && m.Config.MediaType == mediatypes.PackConfig:
		// Older or hand-made artifacts may carry pack.json as config only.
		return fetchVerified(ctx, src, m.Config, "config", func(r io.Reader) error {
			return x.file("config", PackJSONFile, PackJSONFile, false, r)
		})
	case packJSON == nil:
		return kindf(ErrNotPack, "the artifact has no pack.json layer")
	case m.Config.MediaType == mediatypes.PackConfig && m.Config.Digest != packJSON.Digest:
		return x.unsafe("config", "", "the config differs from the pack.json layer; the artifact was tampered with")
	}
	return nil
}

// planNative checks the layers of a native artifact against everything
// but their content, in order: titles, names, sizes, and the byte budget
// that the single-file layers alone take. (FetchManifest checked their
// descriptors.) It returns what each
// layer unpacks to, and the pack.json layer.
func (x *extractor) planNative(m *ocispec.Manifest) ([]nativeLayer, *ocispec.Descriptor, error) {
	plan := make([]nativeLayer, 0, len(m.Layers))
	var packJSON *ocispec.Descriptor
	var fileBytes int64 // at most x.maxBytes
	for i, l := range m.Layers {
		title := l.Annotations[mediatypes.AnnotationTitle]
		label := title
		if label == "" {
			return nil, nil, x.unsafe(fmt.Sprintf("#%d (%s)", i, l.Digest), "", "the layer has no "+mediatypes.AnnotationTitle+" annotation")
		}
		rel, err := safeName(title)
		if err != nil {
			return nil, nil, x.unsafe(label, title, "title: "+err.Error())
		}
		if l.Size > x.maxBytes {
			return nil, nil, kindf(ErrTooLarge, "layer %s is %d bytes, past the %d-byte limit", label, l.Size, x.maxBytes)
		}
		if rel == PackJSONFile {
			packJSON = &m.Layers[i]
		}
		folder := l.Annotations[mediatypes.AnnotationContentUnpack] == "true"
		switch l.MediaType {
		case mediatypes.PackManifests, mediatypes.PackAnsibleRoles, mediatypes.PackFiles:
			folder = true
		case mediatypes.PackChart:
			folder = false
		}
		switch {
		case folder && rel == "":
			return nil, nil, x.unsafe(label, title, "a folder layer cannot be the target folder itself")
		case folder:
			if d := digestAnnotation(l); d != "" {
				if err := d.Validate(); err != nil {
					return nil, nil, x.unsafe(label, "", "content digest annotation: "+err.Error())
				}
			}
		case rel == "":
			return nil, nil, x.unsafe(label, title, "a file cannot replace the target folder")
		default:
			// A file layer unpacks to exactly its size: together they
			// must fit the budget, whatever the folder layers hold.
			if l.Size > x.maxBytes-fileBytes {
				return nil, nil, kindf(ErrTooLarge, "layer %s (%d bytes) takes the pack's single-file layers past the %d-byte limit", label, l.Size, x.maxBytes)
			}
			fileBytes += l.Size
		}
		plan = append(plan, nativeLayer{desc: l, label: label, rel: rel, folder: folder})
	}
	return plan, packJSON, nil
}

// stagedLayer is the outcome of fetching one layer into its staging file.
type stagedLayer struct {
	// done is closed once err is set and the fetch has ended.
	done chan struct{}
	err  error
}

// nativeLayers fetches the layers of plan, up to concurrency at once, each
// into its own file in a private folder beside the extractor's root (on
// the same file system, so files are renamed into place, not copied), and
// unpacks them one after another in plan's order as soon as each is
// complete and verified.
//
// The error is that of the first layer, in plan's order, whose fetch or
// unpacking fails, as if the layers were taken one at a time: a failed
// fetch cancels only the layers after it. The staging files not yet
// unpacked together never take more than the byte budget, so that a pack
// of many large folder layers cannot fill the disk before its content is
// checked. The staging folder is removed, and every fetch has ended, when
// nativeLayers returns.
func (x *extractor) nativeLayers(ctx context.Context, src content.Fetcher, plan []nativeLayer, concurrency int) (err error) {
	if len(plan) == 0 {
		return nil
	}
	if concurrency <= 0 {
		concurrency = DefaultUnpackConcurrency
	}
	stage, err := os.MkdirTemp(filepath.Dir(x.root), filepath.Base(x.root)+".stage-*")
	if err != nil {
		return err
	}
	stagePath := func(i int) string { return filepath.Join(stage, strconv.Itoa(i)) }

	fctx, cancelAll := context.WithCancel(ctx)
	var g errgroup.Group
	g.SetLimit(concurrency)
	window := semaphore.NewWeighted(x.maxBytes)
	layers := make([]stagedLayer, len(plan))
	for i := range layers {
		layers[i].done = make(chan struct{})
	}
	var (
		mu          sync.Mutex
		firstFailed = len(plan) // the first layer whose fetch failed
		cancels     = make([]context.CancelFunc, len(plan))
	)
	// failed cancels the fetches after layer i: whatever they give, the
	// error reported is that of layer i or of one before it.
	failed := func(i int) {
		mu.Lock()
		defer mu.Unlock()
		for k := i + 1; k < firstFailed; k++ {
			if cancels[k] != nil {
				cancels[k]()
			}
		}
		firstFailed = min(firstFailed, i)
	}

	dispatched := make(chan struct{})
	go func() {
		defer close(dispatched)
		i := 0
		// Layers never started end with the reason; unpacking stops
		// before it needs any of them.
		defer func() {
			for ; i < len(plan); i++ {
				layers[i].err = fctx.Err()
				if layers[i].err == nil {
					layers[i].err = errors.New("not fetched: an earlier layer failed")
				}
				close(layers[i].done)
			}
		}()
		for ; i < len(plan); i++ {
			l, path := plan[i], stagePath(i)
			if err := window.Acquire(fctx, l.desc.Size); err != nil {
				return
			}
			mu.Lock()
			if i > firstFailed || fctx.Err() != nil {
				mu.Unlock()
				return
			}
			lctx, cancel := context.WithCancel(fctx)
			cancels[i] = cancel
			mu.Unlock()
			res := &layers[i]
			idx := i
			g.Go(func() error {
				defer close(res.done)
				defer cancel()
				if err := stageLayer(lctx, src, l, path); err != nil {
					res.err = err
					failed(idx)
				}
				return nil
			})
		}
	}()
	defer func() {
		cancelAll()
		<-dispatched
		_ = g.Wait()
		if rerr := os.RemoveAll(stage); rerr != nil && err == nil {
			err = rerr
		}
	}()

	for i, l := range plan {
		<-layers[i].done
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := layers[i].err; err != nil {
			return err
		}
		if l.folder {
			err = x.untarStaged(l, stagePath(i))
		} else {
			err = x.place(l.label, l.label, l.rel, stagePath(i), l.desc.Size)
		}
		if err != nil {
			return err
		}
		window.Release(l.desc.Size)
	}
	return nil
}

// stageLayer fetches a layer into a new file at path and verifies it. It
// shares nothing with the extractor, so layers are staged concurrently.
func stageLayer(ctx context.Context, src content.Fetcher, l nativeLayer, path string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fetching layer %s: %w", l.label, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|noFollow, 0o644)
	if err != nil {
		return err
	}
	err = fetchVerified(ctx, src, l.desc, l.label, func(r io.Reader) error {
		// A failed read is fetchVerified's to report.
		if _, err := iobuf.Copy(f, ctxio.Reader{Ctx: ctx, R: r}); err != nil {
			return fmt.Errorf("layer %s: staging: %w", l.label, err)
		}
		return nil
	})
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("layer %s: staging: %w", l.label, cerr)
	}
	if err != nil && ctx.Err() != nil {
		// Whatever a cancelled fetch gave, it was cancelled.
		return fmt.Errorf("fetching layer %s: %w", l.label, ctx.Err())
	}
	return err
}

// errRecorder keeps the error its reader fails with, telling it from the
// errors of what is done with what was read, and counts the bytes read.
type errRecorder struct {
	r   io.Reader
	n   int64
	err error
}

func (e *errRecorder) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.n += int64(n)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// readFailure is the error of a layer whose content could not be read to
// its end after read bytes: content that ends before its descriptor's size
// (a registry that sends less, or closes the connection) is unsafe
// content; other failures keep their cause.
func readFailure(ctx context.Context, label string, desc ocispec.Descriptor, read int64, err error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("fetching layer %s: %w", label, ctx.Err())
	case errors.Is(err, io.ErrUnexpectedEOF):
		return unsafeEntry(label, "", fmt.Sprintf("content does not match its descriptor: it ends after %d of its %d bytes", read, desc.Size))
	}
	return fmt.Errorf("fetching layer %s: %w", label, err)
}

// untarStaged unpacks a folder layer from its verified staging file, and
// removes the file.
func (x *extractor) untarStaged(l nativeLayer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = x.untar(l.label, l.rel, f, digestAnnotation(l.desc))
	f.Close()
	if rerr := os.Remove(path); err == nil {
		err = rerr
	}
	return err
}

func digestAnnotation(l ocispec.Descriptor) digest.Digest {
	return digest.Digest(l.Annotations[mediatypes.AnnotationContentDigest])
}

// palette unpacks a Palette archive and returns the folder in it that is
// the pack: its single top-level folder, or "" when pack.json lies at the
// top of the archive.
func (x *extractor) palette(ctx context.Context, src content.Fetcher, l ocispec.Descriptor) (string, error) {
	label := l.Annotations[mediatypes.AnnotationTitle]
	if label == "" {
		label = l.Digest.String()
	}
	if l.Size > x.maxBytes {
		return "", kindf(ErrTooLarge, "layer %s is %d bytes, past the %d-byte limit", label, l.Size, x.maxBytes)
	}
	if err := fetchVerified(ctx, src, l, label, func(r io.Reader) error {
		return x.untar(label, "", r, "")
	}); err != nil {
		return "", err
	}
	if f, ok := x.entries[PackJSONFile]; ok && f.Kind == KindRegular {
		return "", nil
	}
	var tops []string
	for rel := range x.entries {
		if !strings.Contains(rel, "/") {
			tops = append(tops, rel)
		}
	}
	if len(tops) == 1 && x.entries[tops[0]].Kind == KindDir {
		if f, ok := x.entries[tops[0]+"/"+PackJSONFile]; ok && f.Kind == KindRegular {
			return tops[0], nil
		}
	}
	return "", kindf(ErrNotPack, "archive %s holds no pack.json, neither at its top nor in a single top-level folder", label)
}
