package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
)

// One worker that always crashes is given up on with a *CrashLoopError,
// although its backoff (10ms) spreads its failures wider than the window
// (1ms), so that no two failures ever fall within it: the rule that trips
// is more than CrashLoopMax failures of one slot in a row.
func TestCrashLoopOneWorkerInARow(t *testing.T) {
	var forks int
	cfg := Config{
		Workers:         1,
		Command:         []string{"sh", "-c", "exit 1"},
		ReadyOnStart:    true,
		NoSignals:       true,
		BackoffInitial:  10 * time.Millisecond,
		BackoffMax:      10 * time.Millisecond,
		CrashLoopMax:    3,
		CrashLoopWindow: time.Millisecond,
		MinUptime:       time.Hour,
		Logger:          testLogger(t),
		OnEvent: func(e Event) {
			if e.Kind == EventFork {
				forks++
			}
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*testutil.WaitTimeout)
	defer cancel()
	err := New(cfg, nil).Run(ctx)
	var ce *CrashLoopError
	if !errors.As(err, &ce) {
		t.Fatalf("Run = %v (ctx: %v), want a *CrashLoopError", err, ctx.Err())
	}
	if !ce.InARow || ce.Failures != 4 || ce.Slot != 0 || ce.MinUptime != time.Hour || forks != 4 {
		t.Fatalf("error %+v after %d forks; want 4 failures in a row of slot 0 after 4 forks", ce, forks)
	}
	for _, want := range []string{"slot 0 failed 4 times in a row", "ready for 1h0m0s (Config.MinUptime)", "exited with code 1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
}

// The same with a Go worker in a primary of its own: its exit status is 1
// and stderr says why.
func TestCrashLoopOneGoWorkerInARow(t *testing.T) {
	p := startPrimary(t, "crashloop", true, "HERD_TEST_WORKERS=1", "HERD_TEST_BACKOFF=10ms",
		"HERD_TEST_CRASHMAX=2", "HERD_TEST_CRASHWIN=1ms", "HERD_TEST_MINUP=1h")
	if code := p.wait(3 * testutil.WaitTimeout); code != 1 {
		t.Fatalf("exit code %d, want 1\n%s", code, p.stderr.String())
	}
	if n := countEv(p.events(), func(e ev) bool { return e.Kind == "exit" }); n != 3 {
		t.Errorf("%d exits, want 3", n)
	}
	if msg := p.stderr.String(); !strings.Contains(msg, "crash loop: the worker of slot 0 failed 3 times in a row") {
		t.Fatalf("stderr:\n%s", msg)
	}
}

// A worker that was ready for MinUptime and exits cleanly, with code 0 or
// by a SIGTERM the primary did not send (kill <pid>), is no failure: it is
// respawned at once, logged at Info without a failure count, and does not
// feed the crash-loop counter (CrashLoopMax 1 within an hour would trip on
// the second). A SIGKILL still is a failure.
func TestCleanExitIsNoFailure(t *testing.T) {
	var logs testutil.SyncBuffer
	rec := newRecorder()
	cfg := Config{
		Workers: 1,
		// Exits 0 on SIGTERM; the sleep keeps the trap's wait short.
		Command:         []string{"sh", "-c", `trap "exit 0" TERM; while :; do sleep 0.05; done`},
		ReadyOnStart:    true,
		NoSignals:       true,
		ShutdownTimeout: testutil.WaitTimeout,
		CrashLoopMax:    1,
		CrashLoopWindow: time.Hour,
		MinUptime:       time.Millisecond,
		Logger:          slog.New(slog.NewTextHandler(&logs, nil)),
		OnEvent:         rec.add,
	}
	c := New(cfg, nil)
	errc := make(chan error, 1)
	go func() { errc <- c.Run(context.Background()) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*testutil.WaitTimeout)
		defer cancel()
		if err := c.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-errc; err != nil {
			t.Errorf("Run: %v\n%s", err, logs.String())
		}
	}()
	readies := func(n int) Event {
		evs := rec.wait(t, fmt.Sprintf("%d ready", n), 2*testutil.WaitTimeout, func(evs []Event) bool {
			return count(evs, func(e Event) bool { return e.Kind == EventReady }) >= n
		})
		var last Event
		for _, e := range evs {
			if e.Kind == EventReady {
				last = e
			}
		}
		return last
	}
	w := readies(1)
	for i := range 3 { // three clean exits in a row
		time.Sleep(2 * cfg.MinUptime) // an uptime, not a wait for an event
		if err := syscall.Kill(w.PID, syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		w = readies(i + 2)
	}
	out := logs.String()
	// The shell exits 0 by its trap, or dies of the SIGTERM if it came
	// before the trap was set (it is ready at once): both are clean.
	if n := strings.Count(out, "level=INFO msg=\"cluster: worker"); n != 3 || strings.Count(out, "after a stable run; respawning") != 3 {
		t.Errorf("%d Info lines for clean exits, want 3:\n%s", n, out)
	}
	if strings.Contains(out, "failures=") || strings.Contains(out, "crash loop") {
		t.Errorf("a clean exit counted as a failure:\n%s", out)
	}
	// A SIGKILL is a failure: a warning with its count.
	time.Sleep(2 * cfg.MinUptime)
	if err := syscall.Kill(w.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	readies(5)
	if out := logs.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "killed by SIGKILL; respawning") || !strings.Contains(out, "failures=1") {
		t.Errorf("a SIGKILL not logged as a failure:\n%s", out)
	}
}
