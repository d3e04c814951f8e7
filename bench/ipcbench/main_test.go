package main

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/herdrun/herd/bench/internal/report"
	"github.com/herdrun/herd/internal/testutil"
)

// TestMain doubles as the benchmark's children: ForkSelf roles, node-mode
// children and the raw socketpair peer all re-execute the test binary.
func TestMain(m *testing.M) {
	dispatch()
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/herdrun/herd/child.startLoop"))
}

func requireNode(t *testing.T) {
	t.Helper()
	testutil.RequireNode(t)
}

// wantRows is every row the harness must produce, with its target peer
// ("" for none). A row with two candidates must target the one of them
// with the better median: the best Node variant of that run.
var wantRows = map[string][]string{
	"fork → first message":       {nameNodeFork},
	"round trip p50":             {nameNodeJSON, nameNodeAdvanced},
	"round trip p50 vs floor":    {nameFloor},
	"round trip p99":             {""},
	"round trip p50, node-mode":  {""},
	"round trip p99, node-mode":  {""},
	"small messages":             {nameNodeJSON, nameNodeAdvanced},
	"small messages, node-mode":  {""},
	"small messages, batched":    {nameNodeJSON, nameNodeAdvanced},
	"small messages, send queue": {nameNodeJSON, nameNodeAdvanced},
	"64 KiB payloads":            {nameNodeU8, nameNodeBuffer},
	"64 KiB payloads vs floor":   {nameFloor},
	"exec('true')":               {nameNodeExec},
	"spawn('true')":              {nameNodeSpawn},
	"stdout streaming":           {nameNodeStream},
}

// bestOf returns the candidate peer of row with the better median.
func bestOf(row report.Row, candidates []string) string {
	best, m := "", 0.0
	for _, p := range row.Peers {
		if !slices.Contains(candidates, p.Name) {
			continue
		}
		x := p.Median()
		if best == "" || (row.Better == "higher" && x > m) || (row.Better == "lower" && x < m) {
			best, m = p.Name, x
		}
	}
	return best
}

// TestQuickPass runs the whole harness with -quick, as CI does, and checks
// that the saved JSON has every row, each with finite positive samples for
// herd and every peer, and that the table and the Markdown name every row.
func TestQuickPass(t *testing.T) {
	requireNode(t)
	dir := t.TempDir()
	var out bytes.Buffer
	cfg := config{
		Quick:        true,
		JSONPath:     filepath.Join(dir, "results", "ipc.json"),
		MarkdownPath: filepath.Join(dir, "ipc.md"),
		NodeDir:      filepath.Join("..", "node"),
		Command:      "go test ./bench/ipcbench",
		Out:          &out,
		Log:          io.Discard,
		Timeout:      60 * time.Second,
	}
	start := time.Now()
	if _, err := run(cfg); err != nil {
		t.Fatal(err)
	}
	t.Logf("quick pass took %v", time.Since(start).Round(time.Millisecond))

	raw, err := os.ReadFile(cfg.JSONPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep report.Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatalf("saved JSON: %v", err)
	}
	if rep.Command != cfg.Command || rep.Machine.Cores < 1 || rep.Machine.Node == "" {
		t.Errorf("report header: command %q, machine %+v", rep.Command, rep.Machine)
	}
	md, err := os.ReadFile(cfg.MarkdownPath)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, row := range rep.Rows {
		if seen[row.Name] {
			t.Errorf("row %q twice", row.Name)
		}
		seen[row.Name] = true
		cands, ok := wantRows[row.Name]
		if !ok {
			t.Errorf("unexpected row %q", row.Name)
			continue
		}
		target := cands[0]
		if len(cands) > 1 {
			target = bestOf(row, cands)
		}
		if row.TargetPeer != target {
			t.Errorf("row %q: target peer %q, want %q", row.Name, row.TargetPeer, target)
		}
		if row.Better != "lower" && row.Better != "higher" {
			t.Errorf("row %q: better %q", row.Name, row.Better)
		}
		checkSeries(t, row.Name, row.Herd)
		if len(row.Peers) == 0 {
			t.Errorf("row %q has no peers", row.Name)
		}
		for _, p := range row.Peers {
			checkSeries(t, row.Name, p)
		}
		if target != "" {
			if r := row.Ratio(target); math.IsNaN(r) || math.IsInf(r, 0) || r <= 0 {
				t.Errorf("row %q: ratio to %q is %v", row.Name, target, r)
			}
		}
		if !strings.Contains(out.String(), row.Name) || !strings.Contains(string(md), row.Name) {
			t.Errorf("row %q missing from the printed table or the Markdown", row.Name)
		}
	}
	for name := range wantRows {
		if !seen[name] {
			t.Errorf("row %q missing", name)
		}
	}
}

func checkSeries(t *testing.T, row string, s report.Series) {
	t.Helper()
	if s.Name == "" || len(s.Samples) == 0 {
		t.Errorf("row %q: series %q has no samples", row, s.Name)
	}
	for _, x := range s.Samples {
		if math.IsNaN(x) || math.IsInf(x, 0) || x <= 0 {
			t.Errorf("row %q: series %q has sample %v", row, s.Name, x)
		}
	}
}

// TestConfigRejectsBadInput checks the flag validation that guards a run.
func TestConfigRejectsBadInput(t *testing.T) {
	for _, c := range []config{
		{Rounds: -1, JSONPath: "x", NodeDir: "y"},
		{Only: "fork,nope", JSONPath: "x", NodeDir: "y"},
		{StreamBytes: 1000, JSONPath: "x", NodeDir: "y"},
		{MsgBatch: -1, JSONPath: "x", NodeDir: "y"},
	} {
		if err := c.fill(); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
	c := config{Quick: true, Only: "rtt", JSONPath: "x", NodeDir: "y"}
	if err := c.fill(); err != nil {
		t.Fatal(err)
	}
	if c.Rounds != 1 || !c.runs("rtt") || c.runs("fork") {
		t.Errorf("quick rtt-only config: %+v", c)
	}
}
