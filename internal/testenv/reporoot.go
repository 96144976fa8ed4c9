package testenv

import (
	"errors"
	"os"
	"path/filepath"
)

// RepoRoot walks up from the working folder to the one holding go.mod:
// the repository's top folder, for tests that run its programs and files.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working folder")
		}
		dir = parent
	}
}
