package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/packyard/packyard/cmd/packyard/option"
	"github.com/packyard/packyard/pkg/ocilayout"
	"github.com/packyard/packyard/pkg/packer"
)

type unpackOptions struct {
	option.Extract
	option.EncodingFlag
	json bool
}

func newUnpackCmd() *cobra.Command {
	var opts unpackOptions
	cmd := &cobra.Command{
		Use:   "unpack PATH[:TAG|@DIGEST] DIR",
		Short: "Unpack a pack from an OCI image layout into a folder",
		Long: `Unpack a pack, native artifact or Palette archive, from the OCI image layout
at PATH into DIR: every file the pack had, byte for byte. Every digest is
checked; entries that would land outside DIR, links leading out of it,
device files and duplicate names are refused, as is content past the size
limit. DIR appears only when the pack is complete, and a DIR that holds
files is replaced only with --force.`,
		Example: `  packyard pack unpack out/hello-chart hello-chart
  packyard pack unpack out/hello-chart:0.1.0 hello-chart --force
  packyard pack unpack out/hello-chart:0.1.0 hello-chart --format palette`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUnpack(cmd, opts, args[0], args[1])
		},
	}
	f := cmd.Flags()
	opts.Extract.ApplyFlags(f)
	opts.EncodingFlag.ApplyFlags(f, "encoding to unpack when the layout has both: native or palette")
	f.BoolVar(&opts.json, "json", false, "print the result as JSON")
	return cmd
}

func runUnpack(cmd *cobra.Command, opts unpackOptions, src, dir string) error {
	if err := opts.CheckEncoding(); err != nil {
		return err
	}
	unpackOpts, err := opts.UnpackOptions()
	if err != nil {
		return err
	}
	root, ref := packer.SplitLayoutRef(src)
	l, err := ocilayout.Open(root)
	if err != nil {
		return err
	}
	desc, err := packer.ResolveInLayout(cmd.Context(), l, ref, opts.Encoding)
	if err != nil {
		return err
	}
	res, err := packer.Unpack(cmd.Context(), l, desc, dir, unpackOpts)
	if err != nil {
		switch {
		case errors.Is(err, packer.ErrTargetNotEmpty):
			return &cliError{err: err, recommendation: "Pass --force to replace the folder's content."}
		case errors.Is(err, packer.ErrTooLarge):
			return &cliError{err: err, recommendation: "If you trust this pack, raise --max-size or --max-files."}
		}
		return err
	}
	if opts.json {
		return writeJSON(cmd.OutOrStdout(), res)
	}
	from := ""
	if res.TopFolder != "" {
		from = fmt.Sprintf(", from the archive's folder %s/", res.TopFolder)
	}
	_, err = fmt.Fprintf(cmd.OutOrStdout(), "unpacked %s %s (%s %s) into %s: %s, %s%s\n",
		res.Name, res.Version, res.Encoding, res.Manifest.Digest, res.Dir, plural(res.Files, "file"), humanBytes(res.Bytes), from)
	return err
}
