package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// requireNode skips without node or without the pinned Node peers in
// bench/node/node_modules (installed by `cd bench/node && npm ci`), or
// fails when HERD_REQUIRE_NODE=1, as in CI, which installs them.
func requireNode(t *testing.T) {
	t.Helper()
	_, err := exec.LookPath("node")
	if err == nil {
		_, file, _, _ := runtime.Caller(0)
		_, err = os.Stat(filepath.Join(filepath.Dir(file), "..", "node", "node_modules", "pm2", "bin", "pm2"))
	}
	if err != nil {
		if os.Getenv("HERD_REQUIRE_NODE") == "1" {
			t.Fatalf("node and bench/node/node_modules are required (HERD_REQUIRE_NODE=1): %v", err)
		}
		t.Skipf("node or pm2 missing (run: cd bench/node && npm ci): %v", err)
	}
}
