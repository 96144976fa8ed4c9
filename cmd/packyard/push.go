package main

import (
	"errors"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/packyard/packyard/cmd/packyard/option"
	"github.com/packyard/packyard/pkg/ociregistry"
	"github.com/packyard/packyard/pkg/packer"
)

type pushOptions struct {
	option.Remote
	option.Output
	format string
	force  bool
}

func newPushCmd() *cobra.Command {
	var opts pushOptions
	cmd := &cobra.Command{
		Use:   "push DIR|LAYOUT... [-r SERVER[/BASE]]",
		Short: "Push packs to an OCI registry",
		Long: `Push pack folders, or OCI image layouts built by ` + "`pack build`" + `, to the
registry at SERVER[/BASE]: the native pack artifact to BASE/packs/NAME:VERSION
and the Palette archive to BASE/spectro-packs/archive/NAME:VERSION.

Folders are linted first; a pack with lint errors is not pushed. Pushing a
version the registry holds with the same content changes nothing; with
other content it fails unless --force. Blobs the registry has are not sent
again, and many packs push at once. The command exits 1 when any pack
failed.

packyard remembers in its cache folder ($XDG_CACHE_HOME/packyard, or the
system's user cache folder) what each push found: a folder whose files are
as they were then (by their sizes, inodes and change times) is neither
linted nor built again while the registry's tags hold what was found
(except on network and FUSE file systems), and a Palette archive is not
built again for content it was built from. Pass --no-cache to lint and
build every folder.`,
		Example: `  packyard pack push examples/hello-chart -r registry.example.com/team
  packyard pack push packs/* -r localhost:5000 --plain-http --format palette
  packyard pack push out/layout -r registry.example.com -o json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.Validate(); err != nil {
				return err
			}
			return runPush(cmd, opts, args)
		},
	}
	f := cmd.Flags()
	opts.Remote.ApplyFlags(f)
	opts.Output.ApplyFlags(f)
	f.StringVar(&opts.format, "format", "both", "encodings to push: native, palette or both")
	f.BoolVarP(&opts.force, "force", "f", false, "replace a version the registry holds with other content")
	f.BoolVar(&opts.NoCache, "no-cache", false, "lint and build every pack folder; do not read or write packyard's cache folder")
	return cmd
}

// pushedPack is one pack's push result as printed with -o json.
type pushedPack struct {
	*ociregistry.PushResult
	// Status is pushed, unchanged or failed.
	Status         string `json:"status"`
	Error          string `json:"error,omitempty"`
	Recommendation string `json:"recommendation,omitempty"`
}

// pushSummary is what -o json prints.
type pushSummary struct {
	Registry  string       `json:"registry"`
	Packs     []pushedPack `json:"packs"`
	Pushed    int          `json:"pushed"`
	Unchanged int          `json:"unchanged"`
	Failed    int          `json:"failed"`
}

func runPush(cmd *cobra.Command, opts pushOptions, sources []string) error {
	format, err := packer.ParseFormat(opts.format)
	if err != nil {
		return err
	}
	client, loc, err := opts.Connect()
	if err != nil {
		return err
	}
	created, err := sourceDateEpoch()
	if err != nil {
		return err
	}
	bar := newProgress(cmd.ErrOrStderr(), "pushing")
	results, _ := client.PushMany(cmd.Context(), sources, loc, ociregistry.PushOptions{
		Format: format, Force: opts.force, Created: created, Progress: bar.Func(),
	})
	bar.Stop()

	sum := pushSummary{Registry: loc.String(), Packs: []pushedPack{}}
	for _, r := range results {
		p := pushedPack{PushResult: r, Status: packStatus(r)}
		if r.Err != nil {
			explained := remoteError(r.Err, loc)
			p.Error = explained.Error()
			var ce *cliError
			if errors.As(explained, &ce) {
				p.Recommendation = ce.recommendation
			}
		}
		switch p.Status {
		case "failed":
			sum.Failed++
		case string(ociregistry.StatusUnchanged):
			sum.Unchanged++
		default:
			sum.Pushed++
		}
		sum.Packs = append(sum.Packs, p)
	}
	if err := cmd.Context().Err(); err != nil {
		return err
	}

	if opts.JSON() {
		if err := opts.WriteJSON(cmd.OutOrStdout(), sum); err != nil {
			return err
		}
	} else if err := printPush(cmd, loc, sum); err != nil {
		return err
	}
	if sum.Failed > 0 {
		return &exitError{code: 1}
	}
	return nil
}

// packStatus sums up a pack's artifacts: failed, unchanged when every
// artifact was, pushed otherwise.
func packStatus(r *ociregistry.PushResult) string {
	if r.Err != nil {
		return "failed"
	}
	for _, a := range r.Artifacts {
		if a.Status != ociregistry.StatusUnchanged {
			return string(ociregistry.StatusPushed)
		}
	}
	return string(ociregistry.StatusUnchanged)
}

func printPush(cmd *cobra.Command, loc ociregistry.Location, sum pushSummary) error {
	out := &errWriter{w: cmd.OutOrStdout()}
	stderr := &errWriter{w: cmd.ErrOrStderr()}
	var advice []string
	for _, p := range sum.Packs {
		r := p.PushResult
		if r.Warnings > 0 {
			stderr.printf("%s: %s (run `packyard pack lint %s` to see them)\n", r.Source, plural(r.Warnings, "lint warning"), r.Source)
		}
		for _, a := range r.Artifacts {
			out.printf("%s %s %s (%s) %s %s\n", a.Status, r.Name, r.Version, a.Encoding, a.Reference(loc), a.Manifest.Digest)
		}
		if p.Error != "" {
			if strings.Contains(p.Error, r.Source) {
				stderr.printf("Error: %s\n", p.Error)
			} else {
				stderr.printf("Error: %s: %s\n", r.Source, p.Error)
			}
			if p.Recommendation != "" && !slices.Contains(advice, p.Recommendation) {
				advice = append(advice, p.Recommendation)
			}
		}
	}
	for _, a := range advice {
		stderr.printf("%s\n", a)
	}
	out.printf("%s: %d pushed, %d unchanged, %d failed\n", plural(len(sum.Packs), "pack"), sum.Pushed, sum.Unchanged, sum.Failed)
	if out.err != nil {
		return out.err
	}
	return stderr.err
}
