package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/packyard/packyard/pkg/packer"
)

type buildOptions struct {
	output string
	format string
	json   bool
}

func newBuildCmd() *cobra.Command {
	var opts buildOptions
	cmd := &cobra.Command{
		Use:   "build DIR... -o PATH",
		Short: "Build pack folders into an OCI image layout",
		Long: `Lint each pack folder and, when it has no errors, build it into the OCI
image layout at PATH: the native pack artifact, tagged with the pack's
version, and the Palette archive, tagged VERSION-palette. A '+' in the
version becomes '_' in tags. Builds are reproducible: the same content gives
the same digests on any machine. Set SOURCE_DATE_EPOCH to record a creation
time in the manifests.`,
		Example: `  packyard pack build examples/hello-chart -o out/hello-chart
  packyard pack build examples/hello-chart -o out/hello-chart --format palette`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBuild(cmd, opts, args)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.output, "output", "o", "", "OCI image layout folder to build into (created when missing)")
	f.StringVar(&opts.format, "format", "both", "encodings to build: native, palette or both")
	f.BoolVar(&opts.json, "json", false, "print the result as JSON")
	_ = cmd.MarkFlagRequired("output")
	return cmd
}

func runBuild(cmd *cobra.Command, opts buildOptions, dirs []string) error {
	format, err := packer.ParseFormat(opts.format)
	if err != nil {
		return err
	}
	created, err := sourceDateEpoch()
	if err != nil {
		return err
	}
	// Load every pack first, so that two packs that cannot share the
	// layout are refused before anything is written.
	packs := make([]*packer.Pack, len(dirs))
	tags := map[string]string{}
	for i, dir := range dirs {
		p, err := packer.Load(cmd.Context(), dir)
		if err != nil {
			return lintAdvice(err)
		}
		if other, ok := tags[p.Tag()]; ok {
			return &cliError{
				err:            fmt.Errorf("%s and %s both want tag %q in %s", other, dir, p.Tag(), opts.output),
				recommendation: "A layout holds one pack per version: build them into separate layouts.",
			}
		}
		tags[p.Tag()] = dir
		packs[i] = p
	}
	var results []*packer.BuildResult
	for i, p := range packs {
		res, err := packer.BuildToLayout(cmd.Context(), p, opts.output, packer.BuildOptions{Format: format, Created: created})
		if err != nil {
			return lintAdvice(err)
		}
		results = append(results, res)
		if !opts.json {
			if err := printBuild(cmd, dirs[i], opts.output, res); err != nil {
				return err
			}
		}
	}
	if opts.json {
		return writeJSON(cmd.OutOrStdout(), results)
	}
	return nil
}

func printBuild(cmd *cobra.Command, dir, layout string, res *packer.BuildResult) error {
	if n := res.Report.Warnings(); n > 0 {
		stderr := &errWriter{w: cmd.ErrOrStderr()}
		stderr.printf("%s: %s (run `packyard pack lint %s` to see them)\n", dir, plural(n, "lint warning"), dir)
	}
	w := &errWriter{w: cmd.OutOrStdout()}
	for _, a := range res.Artifacts() {
		var size int64
		for _, l := range a.Layers {
			size += l.Size
		}
		w.printf("built %s %s (%s) %s:%s %s, %s in %s\n", res.Name, res.Version, a.Encoding, layout,
			packer.LayoutTag(a.Encoding, res.Tag), a.Manifest.Digest, humanBytes(size), plural(len(a.Layers), "layer"))
	}
	return w.err
}

// lintAdvice points at pack lint when a build is refused for lint errors.
func lintAdvice(err error) error {
	var le *packer.LintError
	var lde *packer.LoadError
	switch {
	case errors.As(err, &le):
		return &cliError{err: err, recommendation: fmt.Sprintf("Run `packyard pack lint %s` to see every problem and its fix.", le.Report.Dir)}
	case errors.As(err, &lde):
		return &cliError{err: err, recommendation: fmt.Sprintf("Run `packyard pack lint %s` to see every problem and its fix.", lde.Dir)}
	}
	return err
}

// sourceDateEpoch reads SOURCE_DATE_EPOCH (https://reproducible-builds.org).
func sourceDateEpoch() (time.Time, error) {
	v := os.Getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number of seconds since 1970", v)
	}
	return time.Unix(n, 0).UTC(), nil
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
