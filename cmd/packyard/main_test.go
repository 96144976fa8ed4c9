package main

import (
	"os"
	"testing"

	"github.com/packyard/packyard/internal/testenv"
)

// TestMain keeps what the tests' pushes cache out of the user's cache
// folder.
func TestMain(m *testing.M) { os.Exit(testenv.RunWithTempCache(m)) }
