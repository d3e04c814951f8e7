package workers

import (
	"os"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
	"go.uber.org/goleak"
)

// noLeaks records the fds and children now and checks at cleanup (after
// pools registered later are closed) that they came back and no goroutine
// leaked.
func noLeaks(t *testing.T) {
	t.Helper()
	fds := testutil.CountFDs(t)
	t.Cleanup(func() {
		deadline := time.Now().Add(20 * time.Second)
		for {
			kids, n := testutil.AllChildrenOf(t, os.Getpid()), testutil.CountFDs(t)
			if len(kids) == 0 && n <= fds {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("leak: children %v, fds %d (was %d)", kids, n, fds)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		goleak.VerifyNone(t, testutil.IgnoreChildStarter(), goleak.IgnoreCurrent())
	})
}

func backends() []Backend { return []Backend{Goroutines, Processes} }
