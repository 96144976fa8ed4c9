package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/packyard/packyard/cmd/packyard/option"
	"github.com/packyard/packyard/pkg/ociregistry"
	"github.com/packyard/packyard/pkg/packer"
)

type importOptions struct {
	option.Remote
	option.Output
	format string
	force  bool
}

// importSummary is what import -o json prints.
type importSummary struct {
	Registry string                    `json:"registry"`
	File     string                    `json:"file"`
	Packs    []*ociregistry.PushResult `json:"packs"`
}

func newImportCmd() *cobra.Command {
	var opts importOptions
	cmd := &cobra.Command{
		Use:   "import FILE.tar [-r SERVER[/BASE]]",
		Short: "Push the packs of a tar file made by export to a registry",
		Long: `Push every pack of FILE.tar, as ` + "`pack export`" + ` writes it (an OCI image
layout in a tar), to the registry at SERVER[/BASE], with the rules of push:
a version the registry holds with the same content is left alone, one with
other content is refused unless --force. The archive is checked as it is
read: only layout files are accepted, and every blob must match its digest.
FILE.tar may be - for stdin.`,
		Example: `  packyard pack import packs.tar -r localhost:5000 --plain-http
  packyard pack import packs.tar -r registry.airgap.local/team --format palette`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.Validate(); err != nil {
				return err
			}
			return runImport(cmd, opts, args[0])
		},
	}
	f := cmd.Flags()
	opts.Remote.ApplyFlags(f)
	opts.Output.ApplyFlags(f)
	f.StringVar(&opts.format, "format", "both", "encodings to push: native, palette or both")
	f.BoolVarP(&opts.force, "force", "f", false, "replace a version the registry holds with other content")
	return cmd
}

func runImport(cmd *cobra.Command, opts importOptions, file string) error {
	format, err := packer.ParseFormat(opts.format)
	if err != nil {
		return err
	}
	client, loc, err := opts.Connect()
	if err != nil {
		return err
	}
	r := cmd.InOrStdin()
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	results, err := client.Import(cmd.Context(), r, loc, ociregistry.PushOptions{Format: format, Force: opts.force})
	if err != nil {
		return remoteError(err, loc)
	}
	for _, res := range results {
		res.Source = file
	}
	if opts.JSON() {
		return opts.WriteJSON(cmd.OutOrStdout(), importSummary{Registry: loc.String(), File: file, Packs: results})
	}
	w := &errWriter{w: cmd.OutOrStdout()}
	for _, res := range results {
		for _, a := range res.Artifacts {
			w.printf("%s %s %s (%s) %s %s\n", a.Status, res.Name, res.Version, a.Encoding, a.Reference(loc), a.Manifest.Digest)
		}
	}
	w.printf("%s imported from %s\n", plural(len(results), "pack"), file)
	return w.err
}
