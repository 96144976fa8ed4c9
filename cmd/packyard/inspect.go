package main

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/packyard/packyard/cmd/packyard/option"
	"github.com/packyard/packyard/pkg/ociregistry"
)

type inspectOptions struct {
	option.Remote
	option.Output
}

func newInspectCmd() *cobra.Command {
	var opts inspectOptions
	cmd := &cobra.Command{
		Use:   "inspect NAME[:VERSION|@DIGEST] [-r SERVER[/BASE]]",
		Short: "Show a pack version in a registry without downloading it",
		Long: `Show what a registry holds for a version of a pack (the highest when none is
given): each encoding present with its manifest, artifact type, annotations
and layers (media type, size, digest, title, chart), and pack.json. Only
manifests and the native artifact's config (pack.json) are read; no layer
is downloaded.`,
		Example: `  packyard pack inspect kubewatch -r registry.example.com/team
  packyard pack inspect kubewatch:3.5.0 -r registry.example.com/team -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.Validate(); err != nil {
				return err
			}
			return runInspect(cmd, opts, args[0])
		},
	}
	opts.Remote.ApplyFlags(cmd.Flags())
	opts.Output.ApplyFlags(cmd.Flags())
	return cmd
}

func runInspect(cmd *cobra.Command, opts inspectOptions, arg string) error {
	ref, err := ociregistry.ParsePackRef(arg)
	if err != nil {
		return err
	}
	client, loc, err := opts.Connect()
	if err != nil {
		return err
	}
	ins, err := client.Inspect(cmd.Context(), loc, ref)
	if err != nil {
		return remoteError(err, loc)
	}
	if opts.JSON() {
		return opts.WriteJSON(cmd.OutOrStdout(), ins)
	}
	return writeInspection(cmd, ins)
}

func writeInspection(cmd *cobra.Command, ins *ociregistry.Inspection) error {
	w := &errWriter{w: cmd.OutOrStdout()}
	var encs []string
	for _, a := range ins.Artifacts {
		encs = append(encs, a.Encoding)
	}
	w.printf("Name:      %s\n", ins.Name)
	w.printf("Version:   %s\n", ins.Version)
	if ins.Tag != "" && ins.Tag != ins.Version {
		w.printf("Tag:       %s\n", ins.Tag)
	}
	w.printf("Encodings: %s\n", strings.Join(encs, ", "))
	for _, a := range ins.Artifacts {
		w.printf("\n%s: %s\n", a.Encoding, a.Reference)
		w.printf("  manifest:      %s (%s, %s)\n", a.Manifest.Digest, a.Manifest.MediaType, humanBytes(a.Manifest.Size))
		if a.ArtifactType != "" {
			w.printf("  artifact type: %s\n", a.ArtifactType)
		}
		w.printf("  config:        %s (%s, %s)\n", a.Config.Digest, a.Config.MediaType, humanBytes(a.Config.Size))
		w.printf("  total size:    %s\n", humanBytes(a.Size()))
		if len(a.Annotations) > 0 {
			w.printf("  annotations:\n")
			keys := make([]string, 0, len(a.Annotations))
			for k := range a.Annotations {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				w.printf("    %s: %s\n", k, a.Annotations[k])
			}
		}
		w.printf("  layers:\n")
		var table bytes.Buffer
		tw := tabwriter.NewWriter(&table, 0, 4, 2, ' ', 0)
		tp := &errWriter{w: tw}
		tp.printf("    TITLE\tMEDIA TYPE\tSIZE\tDIGEST\tCHART\n")
		for _, l := range a.Layers {
			chart := ""
			if l.ChartName != "" {
				chart = l.ChartName + " " + l.ChartVersion
			}
			tp.printf("    %s\t%s\t%s\t%s\t%s\n", orDash(l.Title), l.MediaType, humanBytes(l.Size), l.Digest, orDash(chart))
		}
		if tp.err != nil {
			return tp.err
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		w.printf("%s", table.String())
	}
	if ins.PackJSON != nil {
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, ins.PackJSON, "  ", "  "); err != nil {
			return err
		}
		w.printf("\npack.json:\n  %s\n", strings.TrimSpace(pretty.String()))
	}
	return w.err
}
