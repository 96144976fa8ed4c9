// Package testenv keeps test binaries out of the user's own folders.
package testenv

import (
	"fmt"
	"os"
	"testing"
)

// RunWithTempCache runs the tests with XDG_CACHE_HOME set to a temporary
// folder, removed afterwards, so that what pushes cache stays out of the
// user's cache folder. It returns the exit code for os.Exit.
func RunWithTempCache(m *testing.M) int {
	dir, err := os.MkdirTemp("", "packyard-test-cache-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := os.Setenv("XDG_CACHE_HOME", dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}
