package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// Build information, set with -ldflags -X.
var (
	version = "dev"
	commit  = "unknown"
	date    = "unknown"
)

// exitError ends the command with a code, after the command has already
// said why (lint reports its findings, then fails).
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// cliError is an error with advice for the person at the terminal.
type cliError struct {
	err            error
	recommendation string
}

func (e *cliError) Error() string { return e.err.Error() }
func (e *cliError) Unwrap() error { return e.err }

// run executes the command line and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	ew := &errWriter{w: stderr}
	ew.printf("Error: %v\n", err)
	var ce *cliError
	if errors.As(err, &ce) && ce.recommendation != "" {
		ew.printf("%s\n", ce.recommendation)
	}
	if errors.Is(err, context.Canceled) {
		return 130
	}
	return 1
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "packyard",
		Short: "Lint, build, push and serve Palette packs as OCI artifacts",
		Long: `packyard lints pack folders, builds them into reproducible OCI artifacts
(the native pack artifact and the Palette archive), and unpacks either
encoding back into a folder, safely.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newPackCmd(), newRegistryCmd(), newServeCmd(), newVersionCmd())
	return root
}

func newRegistryCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "registry",
		Short: "Log in to and out of registries",
	}
	cmd.AddCommand(registryCommands()...)
	return cmd
}

func newPackCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pack",
		Short: "Work with packs: lint, build, unpack, push, pull, list, inspect, copy, delete",
	}
	cmd.AddCommand(newLintCmd(), newBuildCmd(), newUnpackCmd())
	cmd.AddCommand(transferCommands()...)
	cmd.AddCommand(catalogCommands()...)
	return cmd
}
