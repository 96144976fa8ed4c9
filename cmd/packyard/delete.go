package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/errdef"

	"github.com/packyard/packyard/cmd/packyard/option"
	"github.com/packyard/packyard/pkg/ociregistry"
)

type deleteOptions struct {
	option.Remote
	option.Output
	option.EncodingFlag
}

func newDeleteCmd() *cobra.Command {
	var opts deleteOptions
	cmd := &cobra.Command{
		Use:     "delete NAME:VERSION|NAME@DIGEST [-r SERVER[/BASE]] [--format native|palette]",
		Aliases: []string{"rm"},
		Short:   "Delete a pack version from a registry",
		Long: `Delete a version of a pack: its manifest in each encoding's repository
(or only the one --format names). The version must be named; delete never
picks one. Registries delete manifests by digest, so any other tag on the
same manifest goes too, and the blobs stay until the registry's garbage
collection. Many registries do not allow deletes by default (distribution
needs storage.delete.enabled); the command says so when they refuse.`,
		Example: `  packyard pack delete kubewatch:3.5.0 -r registry.example.com/team
  packyard pack delete kubewatch:3.5.0 -r registry.example.com/team --format palette`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.Validate(); err != nil {
				return err
			}
			return runDelete(cmd, opts, args[0])
		},
	}
	opts.Remote.ApplyFlags(cmd.Flags())
	opts.Output.ApplyFlags(cmd.Flags())
	opts.EncodingFlag.ApplyFlags(cmd.Flags(), "delete only this encoding: native or palette (default both)")
	return cmd
}

func runDelete(cmd *cobra.Command, opts deleteOptions, arg string) error {
	if err := opts.CheckEncoding(); err != nil {
		return err
	}
	ref, err := ociregistry.ParsePackRef(arg)
	if err != nil {
		return err
	}
	if ref.Version == "" && ref.Digest == "" {
		return &cliError{err: fmt.Errorf("%s names no version", arg),
			recommendation: fmt.Sprintf("Name the version to delete, as in %s:1.0.0; `packyard pack ls --name %s` lists them.", ref.Name, ref.Name)}
	}
	client, loc, err := opts.Connect()
	if err != nil {
		return err
	}
	deleted, err := client.Delete(cmd.Context(), loc, ref, ociregistry.DeleteOptions{Encoding: opts.Encoding})
	if perr := printDeleted(cmd, opts, loc, deleted, err == nil); perr != nil {
		return perr
	}
	if errors.Is(err, errdef.ErrUnsupported) {
		return &cliError{err: err, recommendation: "The registry does not allow deletes. On a distribution registry (and `packyard serve`), enable them with storage.delete.enabled: true in its configuration or REGISTRY_STORAGE_DELETE_ENABLED=true; elsewhere, ask its administrator."}
	}
	return remoteError(err, loc)
}

func printDeleted(cmd *cobra.Command, opts deleteOptions, loc ociregistry.Location, deleted []ociregistry.Deleted, complete bool) error {
	if opts.JSON() {
		if !complete && len(deleted) == 0 {
			return nil
		}
		if deleted == nil {
			deleted = []ociregistry.Deleted{}
		}
		return opts.WriteJSON(cmd.OutOrStdout(), deleted)
	}
	w := &errWriter{w: cmd.OutOrStdout()}
	for _, d := range deleted {
		w.printf("deleted %s (%s) %s\n", d.Reference(loc), d.Encoding, d.Manifest.Digest)
	}
	return w.err
}
