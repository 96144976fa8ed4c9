package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/packyard/packyard/cmd/packyard/option"
	"github.com/packyard/packyard/pkg/ociregistry"
)

type exportOptions struct {
	option.Remote
	output string
	json   bool
}

// exportResult is what export --json prints.
type exportResult struct {
	File  string   `json:"file"`
	Packs []string `json:"packs"`
	Bytes int64    `json:"bytes"`
}

func newExportCmd() *cobra.Command {
	var opts exportOptions
	cmd := &cobra.Command{
		Use:   "export NAME[:VERSION|@DIGEST]... [-r SERVER[/BASE]] -o FILE.tar",
		Short: "Export packs from a registry into a tar file, for air-gapped sites",
		Long: `Export packs (each at the version given, or its highest) from the registry
into FILE.tar: an OCI image layout (oci-layout, index.json, blobs/) holding
every encoding of each pack. Blobs stream from the registry into the file;
the file appears only when complete. ` + "`-o -`" + ` writes the tar to stdout.

Carry the file to the other site and run ` + "`packyard pack import FILE.tar`" + `
there. Extracted, it is a layout that ` + "`pack push`" + ` and ` + "`pack unpack`" + ` read: a
single pack version is tagged VERSION and VERSION-palette, as ` + "`pack build`" + `
tags it; several are tagged NAME-VERSION and NAME-VERSION-palette.`,
		Example: `  packyard pack export kubewatch:3.5.0 hello-chart -r registry.example.com/team -o packs.tar
  packyard pack export kubewatch -r registry.example.com/team -o - | ssh airgap 'packyard pack import - -r localhost:5000'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExport(cmd, opts, args)
		},
	}
	f := cmd.Flags()
	opts.ApplyFlags(f)
	f.StringVarP(&opts.output, "output", "o", "", "tar file to write, or - for stdout")
	f.BoolVar(&opts.json, "json", false, "print the result as JSON")
	_ = cmd.MarkFlagRequired("output")
	return cmd
}

func runExport(cmd *cobra.Command, opts exportOptions, args []string) error {
	refs := make([]ociregistry.PackRef, 0, len(args))
	for _, a := range args {
		ref, err := ociregistry.ParsePackRef(a)
		if err != nil {
			return err
		}
		refs = append(refs, ref)
	}
	client, loc, err := opts.Connect()
	if err != nil {
		return err
	}
	if opts.output == "-" {
		// The tar is the result; nothing else goes to stdout.
		return remoteError(client.Export(cmd.Context(), loc, refs, cmd.OutOrStdout()), loc)
	}
	n, err := exportToFile(cmd, client, loc, refs, opts.output)
	if err != nil {
		return remoteError(err, loc)
	}
	res := exportResult{File: opts.output, Packs: args, Bytes: n}
	if opts.json {
		return writeJSON(cmd.OutOrStdout(), res)
	}
	_, err = fmt.Fprintf(cmd.OutOrStdout(), "exported %s to %s (%s)\n", plural(len(args), "pack"), opts.output, humanBytes(n))
	return err
}

// exportToFile writes the archive beside file and renames it into place
// once complete, so a failed export leaves nothing behind.
func exportToFile(cmd *cobra.Command, client *ociregistry.Client, loc ociregistry.Location, refs []ociregistry.PackRef, file string) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	cw := &countingWriter{w: tmp}
	if err := client.Export(cmd.Context(), loc, refs, cw); err != nil {
		tmp.Close()
		return 0, err
	}
	if err := tmp.Close(); err != nil {
		return 0, err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return 0, err
	}
	return cw.n, os.Rename(tmp.Name(), file)
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
