package main

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/packyard/packyard/cmd/packyard/option"
	"github.com/packyard/packyard/pkg/ociregistry"
)

type lsOptions struct {
	option.Remote
	option.Output
	names []string
	layer string
}

func newLsCmd() *cobra.Command {
	var opts lsOptions
	cmd := &cobra.Command{
		Use:     "ls [-r SERVER[/BASE]] [--name NAME]... [--layer LAYER]",
		Aliases: []string{"list"},
		Short:   "List the packs in a registry, their versions and metadata",
		Long: `List the packs below SERVER[/BASE], one line per version, with the metadata
the native manifests carry: layer, add-on type, encodings present and
display name. Only tags and manifests are read, never a blob, many at once.

Pack names come from the registry's catalog. Registries that do not show
their catalog (ECR without the permission, Harbor for non-admins) need the
names given with --name; --name also narrows any listing. Versions that
exist only as a Palette archive show no metadata, and a --layer filter
leaves them out.`,
		Example: `  packyard pack ls -r registry.example.com/team
  packyard pack ls -r registry.example.com/team --layer addon -o json
  packyard pack ls -r 123456789012.dkr.ecr.us-east-1.amazonaws.com --name kubewatch --name hello-chart`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.Validate(); err != nil {
				return err
			}
			return runLs(cmd, opts)
		},
	}
	f := cmd.Flags()
	opts.Remote.ApplyFlags(f)
	opts.Output.ApplyFlags(f)
	f.StringArrayVar(&opts.names, "name", nil, "list only this pack (repeatable); needed where the registry refuses its catalog")
	f.StringVar(&opts.layer, "layer", "", "list only versions of this layer: kernel, os, k8s, cni, csi or addon")
	return cmd
}

func runLs(cmd *cobra.Command, opts lsOptions) error {
	client, loc, err := opts.Connect()
	if err != nil {
		return err
	}
	packs, err := client.List(cmd.Context(), loc, ociregistry.ListOptions{Names: opts.names, Layer: opts.layer})
	if err != nil {
		// Without a login, logging in is the advice, not naming packs.
		if errors.Is(err, ociregistry.ErrCatalogUnavailable) && !errors.Is(err, auth.ErrBasicCredentialNotFound) {
			return &cliError{err: err, recommendation: fmt.Sprintf(
				"The registry does not list its repositories to you: name the packs to list, as in `packyard pack ls -r %s --name PACK --name OTHER`.", loc)}
		}
		return remoteError(err, loc)
	}
	if opts.JSON() {
		return opts.WriteJSON(cmd.OutOrStdout(), packs)
	}
	return writeLsTable(cmd, packs)
}

// writeLsTable prints one aligned line per pack version.
func writeLsTable(cmd *cobra.Command, packs []ociregistry.PackInfo) error {
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	ew := &errWriter{w: tw}
	ew.printf("NAME\tVERSION\tLAYER\tTYPE\tENCODINGS\tDISPLAY NAME\n")
	for _, p := range packs {
		for _, v := range p.Versions {
			ew.printf("%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, v.Version, orDash(v.Layer), orDash(v.AddonType),
				strings.Join(v.Encodings, ","), orDash(v.DisplayName))
		}
	}
	if ew.err != nil {
		return ew.err
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
