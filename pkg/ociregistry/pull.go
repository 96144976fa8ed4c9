package ociregistry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/packyard/packyard/pkg/mediatypes"
	"github.com/packyard/packyard/pkg/packer"
)

// PackRef names a pack in a registry: NAME, NAME:VERSION or NAME@DIGEST.
type PackRef struct {
	Name string
	// Version is the pack version (or tag); empty means the highest.
	Version string
	Digest  digest.Digest
}

// ParsePackRef reads NAME[:VERSION|@DIGEST].
func ParsePackRef(s string) (PackRef, error) {
	var r PackRef
	if holdsCredentials(s) {
		return r, errCredentialsInReference // never quoted
	}
	if name, d, ok := strings.Cut(s, "@"); ok {
		dg, err := digest.Parse(d)
		if err != nil {
			return r, fmt.Errorf("%q: %w", s, err)
		}
		r.Name, r.Digest = name, dg
	} else if name, v, ok := strings.Cut(s, ":"); ok {
		if v == "" {
			return r, fmt.Errorf("%q: the version after ':' is empty", s)
		}
		if tag := packer.VersionTag(v); (registry.Reference{Registry: "r", Repository: "r", Reference: tag}).ValidateReferenceAsTag() != nil {
			return r, fmt.Errorf("%q: the version %q is not one a tag can hold: letters, digits, '.', '_', '-' and '+', up to 128, not starting with '.' or '-'", s, v)
		}
		r.Name, r.Version = name, v
	} else {
		r.Name = s
	}
	if !validPackName(r.Name) {
		return r, fmt.Errorf("%q: give a pack name, as in my-pack or my-pack:1.0.0", s)
	}
	return r, nil
}

// packNamePattern is what a pack name may be: one repository path
// component, as pack.json's name must be (see packer's lint).
var packNamePattern = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$`)

// validPackName says whether name is a pack name that stays in its own
// repository below a location: no "/", no "..", nothing a repository
// name cannot hold.
func validPackName(name string) bool {
	return packNamePattern.MatchString(name)
}

func (r PackRef) String() string {
	switch {
	case r.Digest != "":
		return r.Name + "@" + r.Digest.String()
	case r.Version != "":
		return r.Name + ":" + r.Version
	}
	return r.Name
}

// Found is a pack artifact found in a registry.
type Found struct {
	Encoding   string
	Repository *remote.Repository
	// RepositoryName is the repository's path in the registry.
	RepositoryName string
	Tag            string
	Manifest       ocispec.Descriptor
}

// Resolve finds a pack in the registry: its native artifact, or else its
// Palette archive (encoding, when set, picks one). An empty version picks
// the highest semantic version among the tags.
func (c *Client) Resolve(ctx context.Context, loc Location, ref PackRef, encoding string) (*Found, error) {
	encodings := []string{mediatypes.EncodingNative, mediatypes.EncodingPalette}
	if encoding != "" {
		encodings = []string{encoding}
	}
	var errs []error
	for _, enc := range encodings {
		repoName := loc.NativeRepository(ref.Name)
		if enc == mediatypes.EncodingPalette {
			repoName = loc.PaletteRepository(ref.Name)
		}
		repo, err := c.Repository(loc, repoName)
		if err != nil {
			return nil, err
		}
		f, err := resolveIn(ctx, repo, ref)
		if err == nil {
			f.Encoding, f.RepositoryName = enc, repoName
			return f, nil
		}
		if !errors.Is(err, errdef.ErrNotFound) {
			return nil, fmt.Errorf("%s/%s: %w", loc.Registry, repoName, err)
		}
		errs = append(errs, fmt.Errorf("%s/%s: %w", loc.Registry, repoName, err))
	}
	return nil, fmt.Errorf("pack %s not found at %s (%w)", ref, loc, errors.Join(errs...))
}

func resolveIn(ctx context.Context, repo *remote.Repository, ref PackRef) (*Found, error) {
	f := &Found{Repository: repo}
	reference := ref.Digest.String()
	switch {
	case ref.Digest != "":
	case ref.Version != "":
		f.Tag = packer.VersionTag(ref.Version)
		reference = f.Tag
	default:
		tags, err := Tags(ctx, repo)
		if err != nil {
			return nil, err
		}
		tag := HighestTag(tags)
		if tag == "" {
			return nil, fmt.Errorf("no tags: %w", errdef.ErrNotFound)
		}
		f.Tag, reference = tag, tag
	}
	desc, err := repo.Resolve(ctx, reference)
	if err != nil {
		return nil, err
	}
	f.Manifest = desc
	return f, nil
}

// Tags lists a repository's tags; a missing repository has none.
func Tags(ctx context.Context, repo *remote.Repository) ([]string, error) {
	var tags []string
	err := repo.Tags(ctx, "", func(page []string) error {
		tags = append(tags, page...)
		return nil
	})
	if httpStatus(err, http.StatusNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return tags, nil
}

// HighestTag picks the tag of the highest semantic version (tags that are
// not versions sort below those that are, by name), or "" for no tags.
func HighestTag(tags []string) string {
	if len(tags) == 0 {
		return ""
	}
	sorted := slices.Clone(tags)
	slices.SortFunc(sorted, CompareTags)
	return sorted[len(sorted)-1]
}

// CompareTags orders tags by the semantic version they carry ('_' read as
// '+'), then by name.
func CompareTags(a, b string) int {
	va, ea := semver.NewVersion(strings.ReplaceAll(a, "_", "+"))
	vb, eb := semver.NewVersion(strings.ReplaceAll(b, "_", "+"))
	switch {
	case ea == nil && eb == nil:
		if c := va.Compare(vb); c != 0 {
			return c
		}
	case ea == nil:
		return 1
	case eb == nil:
		return -1
	}
	return strings.Compare(a, b)
}

// PullOptions tune Pull. The zero value works.
type PullOptions struct {
	// Encoding picks the encoding to pull; empty prefers the native
	// artifact and falls back to the Palette archive.
	Encoding string
	// Progress, when set, is told of the bytes the pull fetches.
	Progress ProgressFunc
	packer.UnpackOptions
}

// Pull finds a pack in the registry and unpacks it into dir, verifying
// every digest, with the packer's safe extraction (see packer.Unpack).
// Palette archives pushed by hand with oras, as Palette's documentation
// shows, are read too.
func (c *Client) Pull(ctx context.Context, loc Location, ref PackRef, dir string, opts PullOptions) (*packer.UnpackResult, *Found, error) {
	f, err := c.Resolve(ctx, loc, ref, opts.Encoding)
	if err != nil {
		return nil, nil, err
	}
	var src content.Fetcher = checkedFetcher{f.Repository}
	if opts.Progress != nil {
		src = &countingFetcher{Fetcher: src, report: func(total, done int64) {
			opts.Progress(ProgressEvent{Name: ref.Name, Version: f.Tag, Encoding: f.Encoding, Total: total, Done: done})
		}}
	}
	res, err := packer.Unpack(ctx, src, f.Manifest, dir, opts.UnpackOptions)
	if err != nil {
		return nil, f, err
	}
	return res, f, nil
}

// expectedKey is the context key under which checkedFetcher tells
// checkingClient the descriptor a request fetches.
type expectedKey struct{}

// checkedFetcher fetches from a repository whose client is a
// checkingClient (every Client.Repository), telling it what each fetch
// expects. A download whose connection fails part-way is taken up again
// (see resumingReader).
type checkedFetcher struct {
	content.Fetcher
}

func (f checkedFetcher) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	return resumingFetcher(f).Fetch(context.WithValue(ctx, expectedKey{}, desc), desc)
}

// checkingClient holds the answer to each fetch to the descriptor fetched
// before its body is read: a registry that announces another size, digest
// or media type is refused with packer.ErrUnsafeContent, in a message that
// names the blob or manifest. (oras-go refuses it too, but with an error of
// no kind.) Other requests pass unchecked.
type checkingClient struct {
	remote.Client
}

func (c checkingClient) Do(req *http.Request) (*http.Response, error) {
	resp, err := c.Client.Do(req)
	if err != nil || req.Method != http.MethodGet || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	desc, ok := req.Context().Value(expectedKey{}).(ocispec.Descriptor)
	if !ok {
		return resp, nil
	}
	if err := checkAnswer(resp, desc); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resp, nil
}

// checkAnswer compares the headers of a registry's answer with the
// descriptor of what was asked for. The caller names what it fetched.
func checkAnswer(resp *http.Response, desc ocispec.Descriptor) error {
	if n := resp.ContentLength; n != -1 && n != desc.Size {
		return answerErrorf("the registry sends %d bytes where the descriptor says %d", n, desc.Size)
	}
	if d := resp.Header.Get("Docker-Content-Digest"); d != "" && d != desc.Digest.String() {
		return answerErrorf("the registry sends %q where the descriptor says %s", d, desc.Digest)
	}
	if strings.Contains(resp.Request.URL.Path, "/manifests/") {
		ct := resp.Header.Get("Content-Type")
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != desc.MediaType {
			return answerErrorf("the registry sends the manifest as %q where it resolved it as %q", ct, desc.MediaType)
		}
	}
	return nil
}

// answerError is a registry's answer that contradicts the descriptor of
// what was asked for. It is packer.ErrUnsafeContent, which its message
// does not repeat.
type answerError struct{ msg string }

func answerErrorf(format string, args ...any) error {
	return &answerError{msg: fmt.Sprintf(format, args...)}
}

func (e *answerError) Error() string { return e.msg }

// Unwrap lets errors.Is(err, packer.ErrUnsafeContent) match.
func (e *answerError) Unwrap() error { return packer.ErrUnsafeContent }
