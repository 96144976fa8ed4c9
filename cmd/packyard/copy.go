package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/packyard/packyard/cmd/packyard/option"
	"github.com/packyard/packyard/pkg/ociregistry"
)

type copyOptions struct {
	// Remote holds the connection flags, which apply to both registries,
	// and --from, which stands in for -r.
	option.Remote
	option.Output
	option.EncodingFlag
	to    string
	force bool
}

func newCopyCmd() *cobra.Command {
	var opts copyOptions
	cmd := &cobra.Command{
		Use:     "copy SERVER[/BASE]/NAME[:VERSION|@DIGEST] SERVER[/BASE] | copy NAME[:VERSION|@DIGEST] --from SERVER[/BASE] --to SERVER[/BASE]",
		Aliases: []string{"cp"},
		Short:   "Copy a pack version from one registry or base to another",
		Long: `Copy a version of a pack (the highest when none is given), every encoding the
source holds or only the one --format names, from --from to --to. Blobs
stream from registry to registry without a temporary copy on disk; within
one registry they are mounted, not copied. As with push, a version the
destination holds with the same content is left alone, and one with other
content is refused unless --force.

--from defaults to $PACKYARD_REGISTRY or the registry saved with
` + "`registry login --default`" + `. --plain-http, --insecure and --ca-file apply to
both registries (put the CAs of both in one --ca-file); the credentials of
each come from the docker config, as for every command.`,
		Example: `  packyard pack copy registry.example.com/team/kubewatch:3.5.0 mirror.example.com/site
  packyard pack copy kubewatch:3.5.0 --from registry.example.com/team --to mirror.example.com/site
  packyard pack copy kubewatch --from registry.example.com/staging --to registry.example.com/prod
  packyard pack copy hello-chart --from localhost:5000 --to localhost:5001 --plain-http --format palette`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.Validate(); err != nil {
				return err
			}
			if len(args) == 2 {
				// SRC DST: the pack is the last path part of SRC.
				if opts.Registry != "" || opts.to != "" {
					return fmt.Errorf("give either SRC DST or --from and --to, not both")
				}
				i := strings.LastIndex(args[0], "/")
				if i <= 0 {
					return fmt.Errorf("%q: SRC is SERVER[/BASE]/NAME[:VERSION], as in registry.example.com/team/kubewatch:3.5.0", args[0])
				}
				opts.Registry, opts.to = args[0][:i], args[1]
				return runCopy(cmd, opts, args[0][i+1:])
			}
			if opts.to == "" {
				return fmt.Errorf("give the destination: copy SRC DST, or --to SERVER[/BASE]")
			}
			return runCopy(cmd, opts, args[0])
		},
	}
	f := cmd.Flags()
	opts.ApplyConnectionFlags(f)
	opts.Output.ApplyFlags(f)
	f.StringVar(&opts.Registry, "from", "", "registry and base path to copy from, SERVER[/BASE] (default $"+option.RegistryEnv+", or the registry saved with `registry login --default`)")
	f.StringVar(&opts.to, "to", "", "registry and base path to copy to, SERVER[/BASE]")
	opts.EncodingFlag.ApplyFlags(f, "copy only this encoding: native or palette (default every encoding the source has)")
	f.BoolVarP(&opts.force, "force", "f", false, "replace a version the destination holds with other content")
	return cmd
}

func runCopy(cmd *cobra.Command, opts copyOptions, arg string) error {
	if err := opts.CheckEncoding(); err != nil {
		return err
	}
	ref, err := ociregistry.ParsePackRef(arg)
	if err != nil {
		return err
	}
	src, err := opts.Location()
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	dst, err := ociregistry.ParseLocation(opts.to)
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	client, err := opts.Client()
	if err != nil {
		return err
	}
	res, err := client.Copy(cmd.Context(), src, ref, dst, client, ociregistry.CopyOptions{Encoding: opts.Encoding, Force: opts.force})
	if err != nil {
		if res != nil && len(res.Artifacts) > 0 {
			_ = printCopy(cmd, dst, res)
		}
		var se *ociregistry.SourceError
		if errors.As(err, &se) {
			return remoteError(err, src)
		}
		return remoteError(err, dst)
	}
	if opts.JSON() {
		return opts.WriteJSON(cmd.OutOrStdout(), res)
	}
	return printCopy(cmd, dst, res)
}

func printCopy(cmd *cobra.Command, dst ociregistry.Location, res *ociregistry.PushResult) error {
	w := &errWriter{w: cmd.OutOrStdout()}
	for _, a := range res.Artifacts {
		status := string(a.Status)
		if a.Status == ociregistry.StatusPushed {
			status = "copied"
		}
		w.printf("%s %s %s (%s) %s %s\n", status, res.Name, res.Version, a.Encoding, a.Reference(dst), a.Manifest.Digest)
	}
	return w.err
}
