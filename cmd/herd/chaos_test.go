package main

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/chaos"
	"github.com/herdrun/herd/internal/testutil"
)

// chaosDuration is how long TestRunChaos sends faults: HERD_CHAOS_DURATION
// (a Go duration) or 6s; bench/chaosbench runs the same for minutes.
func chaosDuration(t *testing.T) time.Duration {
	if v := os.Getenv("HERD_CHAOS_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("HERD_CHAOS_DURATION=%q: %v", v, err)
		}
		return d
	}
	return 6 * time.Second
}

// Random SIGKILLs of instances, reloads and scaling under load: no request
// fails unless it was in flight at a SIGKILL, herd keeps no descriptor or
// process of the instances it lost, and its RSS stays bounded.
func TestRunChaos(t *testing.T) {
	testutil.RequireNode(t)
	port := strconv.Itoa(testutil.FreePort(t))
	app := writeApp(t, helloApp)
	var seed uint64
	if v := os.Getenv("HERD_CHAOS_SEED"); v != "" {
		seed, _ = strconv.ParseUint(v, 10, 64)
	}
	var out testutil.SyncBuffer
	rep, err := chaos.Run(t.Context(), chaos.Options{
		Command: []string{herdBin, "run", "-i", "2", "--host", "127.0.0.1", "-p", port,
			"--max-restarts", "-1", "--backoff", "50ms", "--kill-timeout", "5s", "--", "node", app},
		Env:       []string{"NO_COLOR=1"},
		Addr:      "127.0.0.1:" + port,
		Duration:  chaosDuration(t),
		Instances: 2,
		MinFaults: 5,
		Seed:      seed,
		Output:    &out,
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Log(rep)
	if err := rep.Err(2, 200<<20); err != nil {
		t.Fatalf("%v\n(HERD_CHAOS_SEED=%d reproduces the faults)\n%s", err, rep.Seed, out.String())
	}
	if rep.Kills+rep.Reloads+rep.ScaleUps+rep.ScaleDowns < 5 {
		t.Errorf("too few faults: %s", rep)
	}
}
