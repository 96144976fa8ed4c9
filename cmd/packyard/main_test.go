package main

import (
	"fmt"
	"os"
	"testing"
)

// TestMain keeps what the tests' pushes cache out of the user's cache
// folder.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "packyard-test-cache-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.Setenv("XDG_CACHE_HOME", dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
