package workers

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestCrashKinds(t *testing.T) {
	var memLimit int64 = 256 << 20
	if raceEnabled && MemoryLimitMode() == "rlimit" {
		memLimit = 0
	}
	p := newPool(t, tDouble, Processes, Options{Size: 2, Timeout: 2 * time.Second, MemoryLimit: memLimit})
	ctx := context.Background()
	check := func(name string, err error) *WorkerExitError {
		t.Helper()
		var xe *WorkerExitError
		if !errors.As(err, &xe) {
			t.Fatalf("%s: err = %v (%T), want *WorkerExitError", name, err, err)
		}
		t.Logf("%s: %v", name, err)
		return xe
	}

	_, err := On(p, tExit).Run(ctx, 7)
	xe := check("exit", err)
	if xe.Code != 7 || !strings.Contains(xe.Stderr, "exiting with 7") || xe.Task != "test.exit" {
		t.Errorf("exit: %+v", xe)
	}

	_, err = On(p, tSegv).Run(ctx, 0)
	xe = check("segv", err)
	if !strings.HasPrefix(xe.Fatal, "SIGSEGV") || (xe.Signal != syscall.SIGSEGV && xe.Code == 0) {
		t.Errorf("segv: %+v", xe)
	}

	if memLimit > 0 {
		_, err = On(p, tBomb).Run(ctx, 4096)
		xe = check("bomb", err)
		if !errors.Is(err, ErrMemoryLimit) {
			t.Errorf("bomb: not ErrMemoryLimit: %+v", xe)
		}
	}

	start := time.Now()
	_, err = On(p, tSpin).Run(ctx, 0)
	var te *TimeoutError
	if !errors.As(err, &te) || !errors.Is(err, ErrTimeout) || !te.Killed {
		t.Fatalf("spin: %v", err)
	}
	t.Logf("spin: %v after %v", err, time.Since(start))

	_, err = On(p, tPanic).Run(ctx, "boom")
	var pe *PanicError
	if !errors.As(err, &pe) || pe.Value != "boom" {
		t.Fatalf("panic: %v", err)
	}
	got, err := p.Run(ctx, 21)
	if err != nil || got != 42 {
		t.Fatalf("after crashes: %d, %v", got, err)
	}
	t.Logf("%+v", p.Stats())
}

// TestMemoryLimitSlowLeak checks that a task whose memory grows slowly past
// MemoryLimit is stopped near the limit, not long after it: the RLIMIT_AS
// backstop alone lets a worker grow by the limit plus 256 MiB of thread
// allowance before it fails, which on a machine with slow page faults took
// longer than the task's timeout.
func TestMemoryLimitSlowLeak(t *testing.T) {
	if raceEnabled && MemoryLimitMode() == "rlimit" {
		t.Skip("the race detector's address space reservations do not fit under RLIMIT_AS; run without -race")
	}
	const limit = 64 << 20
	p := newPool(t, tDouble, Processes, Options{Size: 1, Timeout: time.Minute, MemoryLimit: limit})
	progress := filepath.Join(t.TempDir(), "progress")
	if err := os.WriteFile(progress, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	n, err := On(p, tLeak).Run(context.Background(), leakIn{MB: 1024, Progress: progress})
	var xe *WorkerExitError
	if !errors.As(err, &xe) || !errors.Is(err, ErrMemoryLimit) {
		t.Fatalf("leak: got %d, %v; want a *WorkerExitError wrapping ErrMemoryLimit", n, err)
	}
	t.Logf("leak (%s): %v after %v", MemoryLimitMode(), err, time.Since(start))
	b, err := os.ReadFile(progress)
	if err != nil {
		t.Fatal(err)
	}
	leaked, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("leak progress %q: %v", b, err)
	}
	// The worker's own pages count too, and the check samples every
	// rssCheckInterval: allow 32 MiB over.
	if max := limit>>20 + 32; leaked > max {
		t.Errorf("leak: grew to %d MiB before it was stopped, want at most %d MiB (limit %d MiB)", leaked, max, limit>>20)
	}
	got, err := p.Run(context.Background(), 21)
	if err != nil || got != 42 {
		t.Fatalf("after the leak: %d, %v", got, err)
	}
}
