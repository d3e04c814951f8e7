package cluster

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
)

// A stop request that arrives while a large number of workers is being
// started stops the start at once: the workers not yet started never are,
// and those that were stop gracefully. Both ways to ask: the context, and
// SIGTERM to the primary.
func TestStopWhileStarting(t *testing.T) {
	const n = 200
	for _, how := range []string{"context", "SIGTERM"} {
		t.Run(how, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			forks := 0
			var pids []int
			cfg := Config{
				Workers:      n,
				Command:      []string{"sleep", "1000"},
				ReadyOnStart: true,
				NoSignals:    how != "SIGTERM",
				Logger:       testLogger(t),
				OnEvent: func(e Event) {
					if e.Kind != EventFork {
						return
					}
					forks++
					pids = append(pids, e.PID)
					if forks == 1 {
						if how == "SIGTERM" {
							_ = syscall.Kill(syscall.Getpid(), syscall.SIGTERM)
						} else {
							cancel()
						}
					}
				},
			}
			start := time.Now()
			errc := make(chan error, 1)
			go func() { errc <- New(cfg, nil).Run(ctx) }()
			select {
			case err := <-errc:
				if err != nil {
					t.Fatalf("Run = %v, want nil", err)
				}
			case <-time.After(60 * time.Second):
				t.Fatal("Run did not return within 60s of the stop request")
			}
			// Run returned: OnEvent is no longer called.
			if forks >= n/2 {
				t.Fatalf("%d of %d workers were started after the stop request (at the first start)", forks, n)
			}
			for _, pid := range pids {
				if !testutil.Gone(pid) {
					t.Errorf("worker pid %d still runs", pid)
				}
			}
			t.Logf("stopped after %d of %d starts in %v", forks, n, time.Since(start).Round(time.Millisecond))
		})
	}
}
