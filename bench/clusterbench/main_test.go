package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herdrun/herd/bench/internal/report"
	"github.com/herdrun/herd/internal/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

// TestQuick runs the benchmark's smoke pass: every contender starts, serves,
// respawns and stops, and the table has its rows. The numbers are not
// checked (the machine is shared); node is required when HERD_REQUIRE_NODE=1.
func TestQuick(t *testing.T) {
	// The pinned PM2 comes from bench/node/node_modules (cd bench/node && npm ci).
	testutil.RequireNode(t, "../node/node_modules/pm2/bin/pm2")
	exe := filepath.Join(t.TempDir(), "clusterbench")
	if out, err := exec.Command("go", "build", "-o", exe, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	root, err := report.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	var out, log bytes.Buffer
	cmd := exec.Command(exe, "-quick", "-json", filepath.Join(t.TempDir(), "c.json"), "-node-dir", filepath.Join(root, "bench", "node"))
	cmd.Stdout, cmd.Stderr = &out, &log
	if err := cmd.Run(); err != nil {
		t.Fatalf("clusterbench -quick: %v\n%s\n%s", err, out.String(), log.String())
	}
	for _, want := range []string{"hello-world req/s", "respawn", "balance", "new-connection req/s", "pm2", "node-cluster-rr", "herd-dispatch"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(log.String(), "respawn failed") {
		t.Errorf("a respawn failed:\n%s", log.String())
	}
}
