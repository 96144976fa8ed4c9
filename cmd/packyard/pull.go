package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/packyard/packyard/cmd/packyard/option"
	"github.com/packyard/packyard/pkg/mediatypes"
	"github.com/packyard/packyard/pkg/ociregistry"
	"github.com/packyard/packyard/pkg/packer"
)

type pullOptions struct {
	option.Remote
	option.Output
	option.Extract
	option.EncodingFlag
}

func newPullCmd() *cobra.Command {
	var opts pullOptions
	cmd := &cobra.Command{
		Use:   "pull NAME[:VERSION|@DIGEST] [DIR] [-r SERVER[/BASE]]",
		Short: "Pull a pack from an OCI registry into a folder",
		Long: `Pull a pack from the registry at SERVER[/BASE] into DIR (./NAME by default):
its native artifact from BASE/packs/NAME, or else its Palette archive from
BASE/spectro-packs/archive/NAME, including archives pushed by hand with
oras as Palette's documentation shows. Without a version, the highest
version is pulled. Every digest is checked and the content is extracted
safely; a DIR that holds files is replaced only with --force.`,
		Example: `  packyard pack pull hello-chart -r registry.example.com/team
  packyard pack pull hello-chart:0.1.0 ./hello -r localhost:5000 --plain-http
  packyard pack pull hello-chart:0.1.0 --format palette --force`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.Validate(); err != nil {
				return err
			}
			return runPull(cmd, opts, args)
		},
	}
	f := cmd.Flags()
	opts.Remote.ApplyFlags(f)
	opts.Output.ApplyFlags(f)
	opts.EncodingFlag.ApplyFlags(f, "encoding to pull: native or palette (default: native, else palette)")
	opts.Extract.ApplyFlags(f)
	return cmd
}

// pulledPack is what -o json prints.
type pulledPack struct {
	*packer.UnpackResult
	Registry   string `json:"registry"`
	Repository string `json:"repository"`
	Tag        string `json:"tag,omitempty"`
	// ArchiveTitle is the Palette archive's file name.
	ArchiveTitle string `json:"archiveTitle,omitempty"`
	// HandMade says the Palette archive was not made by packyard (pushed
	// by hand with tar and oras, say).
	HandMade bool `json:"handMade,omitempty"`
}

func runPull(cmd *cobra.Command, opts pullOptions, args []string) error {
	if err := opts.CheckEncoding(); err != nil {
		return err
	}
	unpackOpts, err := opts.UnpackOptions()
	if err != nil {
		return err
	}
	ref, err := ociregistry.ParsePackRef(args[0])
	if err != nil {
		return err
	}
	dir := ref.Name
	if len(args) == 2 {
		dir = args[1]
	}
	client, loc, err := opts.Connect()
	if err != nil {
		return err
	}
	bar := newProgress(cmd.ErrOrStderr(), "pulling")
	res, found, err := client.Pull(cmd.Context(), loc, ref, dir, ociregistry.PullOptions{
		Encoding:      opts.Encoding,
		Progress:      bar.Func(),
		UnpackOptions: unpackOpts,
	})
	bar.Stop()
	if err != nil {
		return pullError(err, loc, ref, opts.Encoding)
	}
	out := pulledPack{UnpackResult: res, Registry: loc.Registry, Repository: found.RepositoryName, Tag: found.Tag}
	if res.Encoding == mediatypes.EncodingPalette {
		out.ArchiveTitle, out.HandMade = paletteOrigin(cmd.Context(), found, res)
	}
	if opts.JSON() {
		return opts.WriteJSON(cmd.OutOrStdout(), out)
	}
	return printPull(cmd, out, found)
}

// pullError explains a failed pull.
func pullError(err error, loc ociregistry.Location, ref ociregistry.PackRef, format string) error {
	switch {
	case errors.Is(err, packer.ErrTargetNotEmpty):
		return &cliError{err: err, recommendation: "Pass --force to replace the folder's content, or give another DIR."}
	case errors.Is(err, packer.ErrManifestTooLarge):
		return &cliError{err: err, recommendation: fmt.Sprintf(
			"No pack has a manifest over %d MiB: check that the reference and the registry are the ones you mean.", packer.MaxManifestSize>>20)}
	case errors.Is(err, packer.ErrTooLarge):
		return &cliError{err: err, recommendation: "If you trust this pack, raise --max-size or --max-files."}
	case errors.Is(err, packer.ErrNotPack):
		return &cliError{err: err, recommendation: "The reference names something that is not a pack; check the name and version."}
	}
	var er *errcode.ErrorResponse
	if errors.Is(err, errdef.ErrNotFound) && !errors.As(err, &er) {
		native, palette := loc.Registry+"/"+loc.NativeRepository(ref.Name), loc.Registry+"/"+loc.PaletteRepository(ref.Name)
		where := "neither " + native + " nor " + palette + " holds it"
		switch format {
		case mediatypes.EncodingNative:
			where = native + " does not hold it"
		case mediatypes.EncodingPalette:
			where = palette + " does not hold it"
		}
		what := "pack " + ref.String()
		if ref.Version == "" && ref.Digest == "" {
			what = "pack " + ref.Name + " (any version)"
		}
		return &cliError{
			err:            &remoteFailure{msg: fmt.Sprintf("%s not found: %s", what, where), err: err},
			recommendation: fmt.Sprintf("Check the name and version; `packyard pack ls -r %s` lists the packs there.", loc),
		}
	}
	return remoteError(err, loc)
}

// paletteOrigin reads the Palette archive's file name and says whether
// the archive was made by hand rather than by packyard, which always names
// it NAME-VERSION.tar.gz holding the folder NAME-VERSION and sets no
// annotation but the creation time.
func paletteOrigin(ctx context.Context, found *ociregistry.Found, res *packer.UnpackResult) (string, bool) {
	m, err := packer.FetchManifest(ctx, found.Repository, found.Manifest)
	if err != nil || len(m.Layers) != 1 {
		return "", true
	}
	title := m.Layers[0].Annotations[mediatypes.AnnotationTitle]
	want := res.Name + "-" + res.Version
	handMade := title != want+".tar.gz" || res.TopFolder != want
	for k := range m.Annotations {
		if k != mediatypes.AnnotationCreated {
			handMade = true
		}
	}
	return title, handMade
}

func printPull(cmd *cobra.Command, p pulledPack, found *ociregistry.Found) error {
	w := &errWriter{w: cmd.OutOrStdout()}
	ref := p.Registry + "/" + p.Repository
	if p.Tag != "" {
		ref += ":" + p.Tag
	} else {
		ref += "@" + found.Manifest.Digest.String()
	}
	switch {
	case p.Encoding == mediatypes.EncodingNative:
		w.printf("found %s %s as a native pack artifact at %s (%s)\n", p.Name, p.Version, ref, p.Manifest.Digest)
	case p.HandMade:
		w.printf("found %s %s as a Palette archive made by hand, %s holding the folder %s/, at %s (%s)\n",
			p.Name, p.Version, orUnnamed(p.ArchiveTitle), p.TopFolder, ref, p.Manifest.Digest)
	default:
		w.printf("found %s %s as a Palette archive, %s, at %s (%s)\n", p.Name, p.Version, p.ArchiveTitle, ref, p.Manifest.Digest)
	}
	w.printf("pulled %s %s into %s: %s, %s\n", p.Name, p.Version, p.Dir, plural(p.Files, "file"), humanBytes(p.Bytes))
	return w.err
}

func orUnnamed(title string) string {
	if title == "" {
		return "an untitled archive"
	}
	return title
}
