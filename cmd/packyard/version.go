package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/packyard/packyard/cmd/packyard/option"
)

type versionInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Date      string `json:"date"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

func newVersionCmd() *cobra.Command {
	var out option.Output
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print packyard's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := versionInfo{version, commit, date, runtime.Version(), runtime.GOOS + "/" + runtime.GOARCH}
			if out.JSON() {
				return out.WriteJSON(cmd.OutOrStdout(), info)
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "packyard %s (commit %s, built %s, %s, %s)\n",
				info.Version, info.Commit, info.Date, info.GoVersion, info.Platform)
			return err
		},
	}
	out.ApplyFlags(cmd.Flags())
	return cmd
}
