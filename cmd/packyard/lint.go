package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/packyard/packyard/cmd/packyard/option"
	"github.com/packyard/packyard/pkg/packer"
)

type lintOptions struct {
	option.Output
	strict bool
}

func newLintCmd() *cobra.Command {
	var opts lintOptions
	cmd := &cobra.Command{
		Use:   "lint DIR...",
		Short: "Check pack folders and say what to fix",
		Long: `Check one or more pack folders. Every problem names its file, line and
field, and says how to fix it. The command exits 0 when the packs have no
errors (warnings allowed, unless --strict), and 1 otherwise.`,
		Example: `  packyard pack lint examples/*
  packyard pack lint --strict -o json my-pack`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.Validate(); err != nil {
				return err
			}
			return runLint(cmd, opts, args)
		},
	}
	opts.ApplyFlags(cmd.Flags())
	cmd.Flags().BoolVar(&opts.strict, "strict", false, "treat warnings as errors")
	return cmd
}

// lintSummary is the JSON form of a lint run.
type lintSummary struct {
	Packs    []*packer.Report `json:"packs"`
	Passed   int              `json:"passed"`
	Failed   int              `json:"failed"`
	Errors   int              `json:"errors"`
	Warnings int              `json:"warnings"`
}

func runLint(cmd *cobra.Command, opts lintOptions, dirs []string) error {
	sum := lintSummary{Packs: []*packer.Report{}}
	for _, dir := range dirs {
		r, err := packer.Lint(cmd.Context(), dir, packer.LintOptions{})
		if err != nil && !errors.Is(err, packer.ErrInvalidPack) {
			// Cancelled, or unreadable: not a finding about the pack.
			return err
		}
		if err != nil {
			// A path that is no pack folder is a finding of its own.
			r = &packer.Report{Dir: dir, Findings: []packer.Finding{{
				Severity: packer.SeverityError, Code: packer.CodeMissingFile,
				Message: err.Error(), Fix: "give the path of a pack folder",
			}}}
		}
		sum.Packs = append(sum.Packs, r)
		sum.Errors += r.Errors()
		sum.Warnings += r.Warnings()
		if failed(r, opts.strict) {
			sum.Failed++
		} else {
			sum.Passed++
		}
	}
	out := cmd.OutOrStdout()
	var err error
	if opts.JSON() {
		err = opts.WriteJSON(out, sum)
	} else {
		err = writeLintText(out, sum, opts.strict)
	}
	if err != nil {
		return err
	}
	if sum.Failed > 0 {
		return &exitError{code: 1}
	}
	return nil
}

func failed(r *packer.Report, strict bool) bool {
	return r.Errors() > 0 || strict && r.Warnings() > 0
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// writeLintText prints findings as "path:line:col: severity: field: message"
// lines that editors can jump to, each followed by its fix.
func writeLintText(w io.Writer, sum lintSummary, strict bool) error {
	ew := &errWriter{w: w}
	for _, r := range sum.Packs {
		title := r.Dir
		if r.Name != "" {
			title = fmt.Sprintf("%s (%s %s)", r.Dir, r.Name, r.Version)
		}
		ew.printf("==> %s\n", title)
		for _, c := range r.Charts {
			ew.printf("    chart %s: %s %s\n", c.Path, c.Name, c.Version)
		}
		for _, f := range r.Findings {
			loc := r.Dir
			if f.File != "" {
				loc = filepath.Join(r.Dir, filepath.FromSlash(f.File))
			}
			pos := ""
			if f.Line > 0 {
				pos = fmt.Sprintf(":%d", f.Line)
				if f.Column > 0 {
					pos += fmt.Sprintf(":%d", f.Column)
				}
			}
			field := ""
			if f.Field != "" {
				field = f.Field + ": "
			}
			ew.printf("%s%s: %s: %s%s [%s]\n", loc, pos, f.Severity, field, f.Message, f.Code)
			if f.Fix != "" {
				ew.printf("    fix: %s\n", f.Fix)
			}
		}
		verdict := "ok"
		if failed(r, strict) {
			verdict = "FAILED"
		}
		ew.printf("%s: %s, %s: %s\n", r.Dir, plural(r.Errors(), "error"), plural(r.Warnings(), "warning"), verdict)
	}
	ew.printf("%s linted: %d passed, %d failed (%s, %s)\n", plural(len(sum.Packs), "pack"), sum.Passed, sum.Failed,
		plural(sum.Errors, "error"), plural(sum.Warnings, "warning"))
	return ew.err
}

// errWriter keeps the first write error, so printing code stays linear.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}
