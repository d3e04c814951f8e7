package main

import (
	"os"
	"os/exec"
	"testing"
)

// requireNode skips without node, or fails when HERD_REQUIRE_NODE=1.
func requireNode(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("HERD_REQUIRE_NODE") == "1" {
			t.Fatal("node is required (HERD_REQUIRE_NODE=1) but not on PATH")
		}
		t.Skip("node not on PATH")
	}
}
