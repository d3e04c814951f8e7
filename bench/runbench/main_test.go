package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herdrun/herd/bench/internal/report"
	"github.com/herdrun/herd/internal/testutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRSSAndRoot(t *testing.T) {
	kb, err := rssKB(os.Getpid())
	if err != nil || kb <= 0 {
		t.Fatalf("rssKB(self) = %v, %v", kb, err)
	}
	if _, err := report.RepoRoot(); err != nil {
		t.Fatal(err)
	}
}

// TestQuick runs the benchmark's smoke pass: herd run, Node's cluster
// module and PM2 each start, serve, and (herd) respawn, and every row of the
// saved report has a positive, finite sample for every contender. The
// numbers themselves are not checked (the machine is shared).
func TestQuick(t *testing.T) {
	// The pinned PM2 comes from bench/node/node_modules (cd bench/node && npm ci).
	testutil.RequireNode(t, "../node/node_modules/pm2/bin/pm2")
	dir := t.TempDir()
	exe := filepath.Join(dir, "runbench")
	if out, err := exec.Command("go", "build", "-o", exe, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	jsonPath := filepath.Join(dir, "run.json")
	// runbench puts every contender in a process group of its own with
	// SIGKILL as its parent-death signal, so killing runbench on timeout
	// takes them along. The smoke pass takes about a minute on an idle
	// machine and several on a loaded one: it gets what is left of the
	// test binary's -timeout, less a margin to report the failure.
	end := time.Now().Add(10 * time.Minute)
	if d, ok := t.Deadline(); ok {
		end = d.Add(-30 * time.Second)
	}
	ctx, cancel := context.WithDeadline(context.Background(), end)
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
	if len(rep.Rows) != 6 {
		t.Errorf("%d rows, want 6:\n%s", len(rep.Rows), out.String())
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
	// Under load, keep-alive or not, herd's instances answer every request.
	loadLines := 0
	for _, line := range strings.Split(log.String(), "\n") {
		if strings.HasPrefix(line, "  herd-run (keep-alive ") && strings.Contains(line, "req/s") {
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

// TestRespawnWithoutReplacementFails kills a lone `node cluster-app.js`,
// which nobody restarts: the respawn measurement must fail, naming the
// contender, instead of recording the timeout as a sample.
func TestRespawnWithoutReplacementFails(t *testing.T) {
	testutil.RequireNode(t)
	s, err := startNodeAlone("../node", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	saved := respawnTimeout
	respawnTimeout = 2 * time.Second
	defer func() { respawnTimeout = saved }()
	ms, err := respawnOnce(s)
	if err == nil || !strings.Contains(err.Error(), "node-alone") {
		t.Fatalf("respawnOnce = %v ms, %v; want an error naming node-alone", ms, err)
	}
	t.Log(err)
}
