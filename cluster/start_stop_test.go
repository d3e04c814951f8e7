package cluster

import (
	"context"
	"strconv"
	"strings"
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

// A worker that outlives the shutdown timeout is killed with SIGKILL, and a
// warning names it, its pid and the timeout.
func TestSIGKILLAfterTimeoutIsLogged(t *testing.T) {
	lw := newLogWatch(t)
	rec := newRecorder()
	c := New(Config{
		Workers: 1,
		// Ready (on the Node channel) once SIGTERM is ignored.
		Command:         []string{"sh", "-c", `trap "" TERM; echo '"ready"' >&$NODE_CHANNEL_FD; while :; do sleep 1; done`},
		NoSignals:       true,
		ShutdownTimeout: 300 * time.Millisecond,
		Logger:          lw.logger(),
		OnEvent:         rec.add,
	}, nil)
	errc := make(chan error, 1)
	go func() { errc <- c.Run(context.Background()) }()
	evs := rec.wait(t, "the worker ready", 30*time.Second, func(evs []Event) bool {
		return count(evs, func(e Event) bool { return e.Kind == EventReady }) == 1
	})
	pid := evs[0].PID
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, e := range rec.all() {
		if e.Kind == EventExit && e.Status.Signal != syscall.SIGKILL {
			t.Fatalf("exit %s, want killed by SIGKILL", e.Status)
		}
	}
	want := "sending SIGKILL"
	if lw.count(want) != 1 {
		t.Fatalf("no log line with %q:\n%s", want, lw.String())
	}
	for _, attr := range []string{"worker=1", "slot=0", "pid=" + strconv.Itoa(pid), "timeout=300ms"} {
		if !strings.Contains(lw.String(), attr) {
			t.Errorf("the SIGKILL warning lacks %s:\n%s", attr, lw.String())
		}
	}
}
