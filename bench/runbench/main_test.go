package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/herdrun/herd/bench/internal/report"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRSSAndRoot(t *testing.T) {
	kb, err := rssKB(os.Getpid())
	if err != nil || kb <= 0 {
		t.Fatalf("rssKB(self) = %v, %v", kb, err)
	}
	if _, err := repoRoot(); err != nil {
		t.Fatal(err)
	}
	if _, port, err := splitPort("127.0.0.1:8080"); err != nil || port != "8080" {
		t.Fatalf("splitPort = %q, %v", port, err)
	}
}

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

// TestQuick runs the benchmark's smoke pass: herd run, Node's cluster
// module and PM2 each start, serve, and (herd) respawn, and every row of the
// saved report has a positive, finite sample for every contender. The
// numbers themselves are not checked (the machine is shared).
func TestQuick(t *testing.T) {
	requireNode(t)
	dir := t.TempDir()
	exe := filepath.Join(dir, "runbench")
	if out, err := exec.Command("go", "build", "-o", exe, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	jsonPath := filepath.Join(dir, "run.json")
	// runbench puts every contender in a process group of its own with
	// SIGKILL as its parent-death signal, so killing runbench on timeout
	// takes them along.
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	var out, log bytes.Buffer
	cmd := exec.CommandContext(ctx, exe, "-quick", "-json", jsonPath)
	cmd.Stdout, cmd.Stderr = &out, &log
	if err := cmd.Run(); err != nil {
		t.Fatalf("runbench -quick: %v\n%s\n%s", err, out.String(), log.String())
	}
	for _, want := range []string{"req/s", "supervisor RSS", "start until every instance answers", "kill -9", "pm2", "node-cluster-rr", "node-cluster-none"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep report.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("%s: %v", jsonPath, err)
	}
	if len(rep.Rows) != 5 {
		t.Errorf("%d rows, want 5:\n%s", len(rep.Rows), out.String())
	}
	for _, row := range rep.Rows {
		if len(row.Peers) == 0 {
			t.Errorf("row %q has no peer", row.Name)
		}
		for _, s := range append([]report.Series{row.Herd}, row.Peers...) {
			if len(s.Samples) == 0 {
				t.Errorf("row %q: %s has no sample", row.Name, s.Name)
			}
			for _, x := range s.Samples {
				if !(x > 0) || math.IsInf(x, 0) {
					t.Errorf("row %q: %s measured %v", row.Name, s.Name, x)
				}
			}
		}
	}
	// Under keep-alive load herd's instances answer every request.
	loadLines := 0
	for _, line := range strings.Split(log.String(), "\n") {
		if strings.HasPrefix(line, "  herd-run: ") && strings.Contains(line, "req/s") {
			loadLines++
			if !strings.HasSuffix(line, "req/s (0 failed)") {
				t.Errorf("herd run failed requests: %q", line)
			}
		}
	}
	if loadLines == 0 {
		t.Errorf("no herd-run load line in the log:\n%s", log.String())
	}
}
