package main

import "github.com/spf13/cobra"

// catalogCommands are the pack commands that work on what a registry holds:
// ls, inspect, delete, copy, export and import.
func catalogCommands() []*cobra.Command {
	return []*cobra.Command{newLsCmd(), newInspectCmd(), newDeleteCmd(), newCopyCmd(), newExportCmd(), newImportCmd()}
}
