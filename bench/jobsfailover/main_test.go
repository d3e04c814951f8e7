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
func run(t *testing.T, kill failover.Kill, n int) failover.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	res, err := failover.Run(ctx, failover.Config{Jobs: n, Kill: kill, Dir: t.TempDir(), Log: tlog{t}})
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

func TestFailoverLeader(t *testing.T)   { run(t, failover.KillLeader, 1500) }
func TestFailoverFollower(t *testing.T) { run(t, failover.KillFollower, 500) }
func TestFailoverWorker(t *testing.T)   { run(t, failover.KillWorker, 500) }
