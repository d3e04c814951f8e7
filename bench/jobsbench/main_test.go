package main

import (
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// require skips the test, or fails it when HERD_REQUIRE_NODE=1 or CI is
// set, if a tool the contenders need is missing; the message names the
// command that installs it.
func require(t *testing.T, nodeDir string) {
	t.Helper()
	var missing []string
	if _, err := exec.LookPath("redis-server"); err != nil {
		missing = append(missing, "redis-server is not installed: run `"+installRedis+"`")
	}
	if _, err := os.Stat(filepath.Join(postgresBin, "postgres")); err != nil {
		missing = append(missing, "PostgreSQL 15 is not installed in "+postgresBin+": run `"+installPostgres+"`")
	}
	if os.Geteuid() != 0 {
		missing = append(missing, "the PostgreSQL contender runs its server as the postgres user, which needs root: run the test as root")
	}
	if len(missing) > 0 {
		msg := strings.Join(missing, "; ")
		if os.Getenv(testutil.RequireNodeEnv) == "1" || os.Getenv("CI") != "" {
			t.Fatalf("the jobs benchmark's contenders are required (%s=1 or CI set): %s", testutil.RequireNodeEnv, msg)
		}
		t.Skipf("%s (set %s=1 or CI to make this a failure)", msg, testutil.RequireNodeEnv)
	}
	testutil.RequireNode(t, bullMQModule(nodeDir))
}

// TestSmoke starts every contender and runs one tiny round of every row:
// each must measure something. It asserts no speed: the machine may be busy.
func TestSmoke(t *testing.T) {
	smokeRun(t, smoke, 9)
}

// TestSmokeReplicas is TestSmoke with -replicas 3: the loopback cluster,
// herd and raw JetStream on it, BullMQ with a replica; every row gets its
// R3 rows (three per measure, one for the Waits).
func TestSmokeReplicas(t *testing.T) {
	p := smoke
	p.replicas = 3
	smokeRun(t, p, 9+6*3+1)
}

// smokeRun starts the contenders of p, runs p's rounds and checks that the
// report has rows rows, each with sane samples, and that the contenders'
// directories are gone after Close.
func smokeRun(t *testing.T, p params, rows int) {
	nodeDir, _ := filepath.Abs("../node")
	require(t, nodeDir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var srv testutil.SyncBuffer
	b, err := start(ctx, p, nodeDir, testWriter{t}, &srv)
	if err != nil {
		t.Fatalf("start: %v\nserver logs:\n%s", err, srv.String())
	}
	r, err := b.run(ctx, "test")
	if cerr := b.Close(); cerr != nil {
		t.Errorf("close: %v", cerr)
	}
	if err != nil {
		t.Fatalf("run: %v\nserver logs:\n%s", err, srv.String())
	}
	if len(r.Rows) != rows {
		t.Errorf("%d rows, want %d", len(r.Rows), rows)
	}
	for _, row := range r.Rows {
		// Rates and latencies must be positive. At the smoke test's sizes
		// the memory row's RSS growth is noise around zero, of either sign
		// and of any size the runtime's returning of pages meanwhile makes
		// (-1.14 MB was seen on a loaded machine), and a CPU reading in
		// clock ticks may be zero, so those rows need only be finite.
		floor, strict := 0.0, true
		switch row.Unit {
		case "MB":
			floor, strict = math.Inf(-1), false
		case "µs":
			strict = false
		}
		for _, s := range append(row.Peers, row.Herd) {
			if len(s.Samples) == 0 {
				t.Errorf("%s / %s: no samples", row.Name, s.Name)
			}
			for _, x := range s.Samples {
				if math.IsNaN(x) || math.IsInf(x, 0) || x < floor || strict && x == floor {
					t.Errorf("%s / %s: bad sample %v", row.Name, s.Name, x)
				}
			}
		}
	}
	for _, d := range b.dirs {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind (%v)", d, err)
		}
	}
	var sb strings.Builder
	r.Print(&sb)
	printVerdicts(&sb, r)
	t.Log("\n" + sb.String())
}

// TestMissingTool checks the error that names the install command.
func TestMissingTool(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, _, err := startRedis(context.Background(), t.TempDir(), nil)
	var me *missingToolError
	if !errors.As(err, &me) || !strings.Contains(err.Error(), installRedis) {
		t.Fatalf("startRedis without redis-server on PATH: %v, want a *missingToolError naming %q", err, installRedis)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
