package report

import (
	"fmt"
	"os"
	"path/filepath"
)

// SamplesPath returns where a suite saves its raw samples. An explicit
// jsonPath wins. Otherwise the file is <suite>.json in outDir, or, when
// outDir is empty, in a new directory under os.TempDir, so that a plain
// `go run ./bench/X` leaves the working tree as it found it. Results are
// kept in the repository (bench/results) only when asked for with -out or
// -json.
func SamplesPath(jsonPath, outDir, suite string) (string, error) {
	if jsonPath != "" {
		return jsonPath, nil
	}
	if outDir == "" {
		d, err := os.MkdirTemp("", "herd-bench-"+suite+"-")
		if err != nil {
			return "", fmt.Errorf("temp dir for the raw samples: %w", err)
		}
		outDir = d
	}
	return filepath.Join(outDir, suite+".json"), nil
}
