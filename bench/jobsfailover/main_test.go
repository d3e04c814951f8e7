package main

import (
	"context"
	"testing"
	"time"

	"github.com/herdrun/herd/bench/internal/failover"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	failover.Dispatch() // the node and worker processes
	goleak.VerifyTestMain(m)
}

// run is a short failover run: jobs on a three-node cluster on loopback,
// something SIGKILLed partway through. It fails the test when a job is lost
// or did not succeed, when Wait did not return for one, or when the handlers
// ran more duplicates than there were jobs in flight at the kill.
func run(t *testing.T, cfg failover.Config) failover.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cfg.Dir, cfg.Log = t.TempDir(), tlog{t}
	n := cfg.Jobs
	res, err := failover.Run(ctx, cfg)
	t.Log(res)
	if err != nil {
		t.Fatal(err)
	}
	if res.Succeeded != n {
		t.Errorf("%d of %d jobs succeeded", res.Succeeded, n)
	}
	if res.Duplicates > res.InFlightAtKill {
		t.Errorf("%d duplicate runs, more than the %d jobs in flight at the kill", res.Duplicates, res.InFlightAtKill)
	}
	return res
}

type tlog struct{ t *testing.T }

func (l tlog) Write(b []byte) (int, error) { l.t.Log(string(b)); return len(b), nil }

func TestFailoverLeader(t *testing.T) {
	run(t, failover.Config{Jobs: 1500, Kill: failover.KillLeader})
}

func TestFailoverConsumerLeader(t *testing.T) {
	run(t, failover.Config{Jobs: 1000, Kill: failover.KillConsumerLeader})
}

func TestFailoverFollower(t *testing.T) {
	run(t, failover.Config{Jobs: 500, Kill: failover.KillFollower})
}

// TestFailoverWorker kills a worker process running 100 ms jobs, so that
// it dies with jobs in flight.
func TestFailoverWorker(t *testing.T) {
	res := run(t, failover.Config{Jobs: 500, Kill: failover.KillWorker, Work: 100 * time.Millisecond})
	if res.InFlightAtKill == 0 {
		t.Errorf("the worker died with no job in flight: the test proved nothing")
	}
}
