package workers

import (
	"context"
	"errors"
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
