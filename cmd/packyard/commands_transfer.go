package main

import "github.com/spf13/cobra"

// transferCommands are the pack commands that move packs to and from
// registries: push and pull.
func transferCommands() []*cobra.Command {
	return []*cobra.Command{newPushCmd(), newPullCmd()}
}

// registryCommands are the commands under `packyard registry`.
func registryCommands() []*cobra.Command {
	return []*cobra.Command{newLoginCmd(), newLogoutCmd()}
}
