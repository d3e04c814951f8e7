package report

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// RepoRoot returns the herd repository's root: the first directory from the
// working directory up whose go.mod declares module
// github.com/herdrun/herd. The suites find bench/node and bench/results
// from it.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/herdrun/herd\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the herd repository (no go.mod of github.com/herdrun/herd above the working directory)")
		}
		dir = parent
	}
}
