package workers

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
)

func newPool[In, Out any](t *testing.T, task Task[In, Out], be Backend, o Options) *Pool[In, Out] {
	t.Helper()
	o.Backend = be
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	p, err := New(task, &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := p.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

func TestErrorsBothBackends(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.String(), func(t *testing.T) {
			p := newPool(t, tDouble, be, Options{Size: 2})
			ctx := context.Background()
			_, err := On(p, tFail).Run(ctx, "nope")
			var te *TaskError
			if !errors.As(err, &te) || te.Task != "test.fail" || te.Err.Error() != "nope" {
				t.Errorf("fail: %v", err)
			}
			_, err = On(p, tPanic).Run(ctx, "boom")
			var pe *PanicError
			if !errors.As(err, &pe) || pe.Value != "boom" || !strings.Contains(pe.Stack, "goroutine") {
				t.Errorf("panic: %v", err)
			}
			got, err := On(p, tBytes).Run(ctx, []byte{1, 2, 3, 0, 255})
			if err != nil || !bytes.Equal(got, []byte{255, 0, 3, 2, 1}) {
				t.Errorf("bytes: %v %v", got, err)
			}
			if n, err := p.Run(ctx, 5); n != 10 || err != nil {
				t.Errorf("after errors: %d %v", n, err)
			}
			s := p.Stats()
			if s.Completed != 2 || s.Failed != 2 || s.RunTime.Count != 4 {
				t.Errorf("stats: %+v", s)
			}
		})
	}
}

// lateTask is registered by the first test that needs it, after Dispatch:
// worker processes never have it. (Once, so that -count=N works.)
var lateTask = sync.OnceValue(func() Task[int, int] {
	return Register("test.late", func(ctx context.Context, n int) (int, error) { return n, nil })
})

func TestUnknownTaskInWorker(t *testing.T) {
	late := lateTask()
	p := newPool(t, late, Processes, Options{Size: 1})
	_, err := p.Run(context.Background(), 1)
	if !errors.Is(err, ErrUnknownTask) {
		t.Fatalf("err = %v, want ErrUnknownTask", err)
	}
	gp := newPool(t, late, Goroutines, Options{Size: 1})
	if n, err := gp.Run(context.Background(), 3); n != 3 || err != nil {
		t.Fatalf("goroutines: %d %v", n, err)
	}
}

func TestTimeoutGoroutine(t *testing.T) {
	p := newPool(t, tSleep, Goroutines, Options{Size: 1, Timeout: 50 * time.Millisecond})
	_, err := p.Run(context.Background(), 10_000)
	var te *TimeoutError
	if !errors.As(err, &te) || te.Killed || te.Timeout != 50*time.Millisecond {
		t.Fatalf("err = %v", err)
	}
	if n, err := p.Run(context.Background(), 1); n != 1 || err != nil {
		t.Fatalf("after timeout: %d %v", n, err)
	}
}

func TestQueueFull(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.String(), func(t *testing.T) {
			p := newPool(t, tSleep, be, Options{Size: 1, MaxQueue: 2, Prefetch: -1})
			ctx := context.Background()
			// Wait for the worker, so that the first task runs and two queue.
			if _, err := p.Run(ctx, 0); err != nil {
				t.Fatal(err)
			}
			// The first task runs until it is cancelled below: a short
			// one could end, and make room, before the queue is checked
			// full (a 300ms one did, under load).
			first, err := p.Submit(ctx, 60_000)
			if err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(20 * time.Second)
			for p.Stats().Running != 1 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			var queued []*Handle[int]
			for range 2 {
				h, err := p.TrySubmit(ctx, 1)
				if err != nil {
					t.Fatal(err)
				}
				queued = append(queued, h)
			}
			if !p.NeedsDrain() {
				t.Error("NeedsDrain = false with a full queue")
			}
			if _, err := p.TrySubmit(ctx, 1); !errors.Is(err, ErrQueueFull) {
				t.Fatalf("TrySubmit on a full queue: %v", err)
			}
			short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
			_, err = p.Submit(short, 1)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("blocked Submit: %v", err)
			}
			// A blocked Submit gets in once there is room: the first
			// task ends, a queued one starts.
			got := make(chan error, 1)
			go func() {
				h, err := p.Submit(ctx, 2)
				if err == nil {
					_, err = h.Wait(ctx)
				}
				got <- err
			}()
			first.Cancel()
			select {
			case <-p.Drained():
			case <-time.After(20 * time.Second):
				t.Fatal("no drain")
			}
			if err := <-got; err != nil {
				t.Fatal(err)
			}
			if _, err := first.Wait(ctx); !errors.Is(err, context.Canceled) {
				t.Fatalf("first task: %v, want context.Canceled", err)
			}
			for _, h := range queued {
				if _, err := h.Wait(ctx); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestCancelQueuedAndRunning(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.String(), func(t *testing.T) {
			p := newPool(t, tSleep, be, Options{Size: 1, StopGrace: 200 * time.Millisecond, Prefetch: -1}) // no task sent ahead: the second one stays queued
			ctx := context.Background()
			p.Run(ctx, 0)
			rctx, rcancel := context.WithCancel(ctx)
			running, _ := p.Submit(rctx, 10_000)
			qctx, qcancel := context.WithCancel(ctx)
			queued, _ := p.Submit(qctx, 1)
			testutil.WaitFor(t, "the first task running", func() bool { return p.Stats().Running == 1 })
			if s := p.Stats(); s.Queued != 1 {
				t.Fatalf("queued = %d", s.Queued)
			}
			qcancel()
			if _, err := queued.Wait(ctx); !errors.Is(err, context.Canceled) {
				t.Fatalf("queued: %v", err)
			}
			if s := p.Stats(); s.Queued != 0 {
				t.Fatalf("queued after cancel = %d", s.Queued)
			}
			start := time.Now()
			rcancel()
			if _, err := running.Wait(ctx); !errors.Is(err, context.Canceled) {
				t.Fatalf("running: %v", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("cancel took %v", d)
			}
			// The sleeping task honours its context, so the worker lives.
			if n, err := p.Run(ctx, 3); n != 3 || err != nil {
				t.Fatalf("after cancel: %d %v", n, err)
			}
		})
	}
}

func TestCancelIgnoredKillsWorker(t *testing.T) {
	p := newPool(t, tSpin, Processes, Options{Size: 1, StopGrace: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	h, err := p.Submit(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the task running", func() bool { return p.Stats().Running == 1 })
	time.Sleep(50 * time.Millisecond)
	cancel()
	if _, err := h.Wait(context.Background()); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	// The worker is killed after StopGrace and replaced.
	d := On(p, tDouble)
	if n, err := d.Run(context.Background(), 4); n != 8 || err != nil {
		t.Fatalf("after kill: %d %v", n, err)
	}
	if s := p.Stats(); s.Restarts < 1 {
		t.Fatalf("restarts = %d", s.Restarts)
	}
}

func TestCancellationRaces(t *testing.T) {
	noLeaks(t)
	for _, be := range backends() {
		t.Run(be.String(), func(t *testing.T) {
			p := newPool(t, tSleep, be, Options{Size: 2, InFlight: 4})
			ctx := context.Background()
			var wg sync.WaitGroup
			var mu sync.Mutex
			outcomes := map[string]int{}
			for i := range 400 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, cancel := context.WithCancel(ctx)
					h, err := p.Submit(c, i%3)
					if i%2 == 0 {
						cancel()
					}
					if err != nil {
						cancel()
						if !errors.Is(err, context.Canceled) {
							t.Errorf("submit: %v", err)
						}
						return
					}
					if i%5 == 0 {
						h.Cancel()
					}
					n, err := h.Wait(ctx)
					cancel()
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil && n == i%3:
						outcomes["ok"]++
					case errors.Is(err, context.Canceled):
						outcomes["canceled"]++
					default:
						t.Errorf("task %d: %d %v", i, n, err)
					}
				}()
			}
			wg.Wait()
			s := p.Stats()
			if s.Completed+s.Failed != 400 || s.Queued != 0 {
				t.Errorf("stats: %+v", s)
			}
			for s.Running != 0 {
				time.Sleep(time.Millisecond)
				s = p.Stats()
			}
			t.Logf("outcomes %v", outcomes)
		})
	}
}

func TestCloseWhileRunning(t *testing.T) {
	noLeaks(t)
	for _, be := range backends() {
		t.Run(be.String(), func(t *testing.T) {
			o := Options{Backend: be, Size: 2, Stderr: io.Discard}
			p, err := New(tSleep, &o)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			var hs []*Handle[int]
			for range 6 {
				h, _ := p.Submit(ctx, 100)
				hs = append(hs, h)
			}
			if err := p.Close(ctx); err != nil {
				t.Fatal(err)
			}
			for _, h := range hs {
				if n, err := h.Wait(ctx); n != 100 || err != nil {
					t.Errorf("drained task: %d %v", n, err)
				}
			}
			if _, err := p.Submit(ctx, 1); !errors.Is(err, ErrClosed) {
				t.Errorf("submit after close: %v", err)
			}
			if s := p.Stats(); s.Workers != 0 {
				t.Errorf("workers after close = %d", s.Workers)
			}
		})
	}
}

func TestKill(t *testing.T) {
	noLeaks(t)
	for _, be := range backends() {
		t.Run(be.String(), func(t *testing.T) {
			p, err := New(tSleep, &Options{Backend: be, Size: 1, Stderr: io.Discard})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			p.Run(ctx, 0)
			running, _ := p.Submit(ctx, 5_000)
			queued, _ := p.Submit(ctx, 5_000)
			// At least one running: the process backend sends the second
			// task ahead, so both may count as running, and waiting for
			// exactly one missed that moment under load until the first
			// task had finished.
			testutil.WaitFor(t, "a running task", func() bool { return p.Stats().Running >= 1 })
			start := time.Now()
			p.Kill()
			for _, h := range []*Handle[int]{running, queued} {
				if _, err := h.Wait(ctx); !errors.Is(err, ErrKilled) {
					t.Errorf("err = %v, want ErrKilled", err)
				}
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("Kill took %v", d)
			}
			if _, err := p.Submit(ctx, 1); !errors.Is(err, ErrClosed) {
				t.Errorf("submit after kill: %v", err)
			}
			time.Sleep(50 * time.Millisecond) // goroutine tasks see ctx and return
		})
	}
}

func TestRecycle(t *testing.T) {
	p := newPool(t, tPid, Processes, Options{Size: 1, MaxTasksPerWorker: 10, RecycleJitter: -1})
	pids := map[int]int{}
	for i := range 35 {
		pid, err := p.Run(context.Background(), i)
		if err != nil {
			t.Fatal(err)
		}
		pids[pid]++
	}
	if len(pids) != 4 {
		t.Fatalf("pids %v: want 4 workers of 10, 10, 10, 5 tasks", pids)
	}
	for pid, n := range pids {
		if n != 10 && n != 5 {
			t.Errorf("worker %d ran %d tasks", pid, n)
		}
	}
	if s := p.Stats(); s.Restarts != 3 {
		t.Errorf("restarts = %d", s.Restarts)
	}
}

var tPrint = Register("test.print", func(ctx context.Context, s string) (int, error) {
	println(s) // stderr
	return len(s), nil
})

func TestOutputPrefix(t *testing.T) {
	var buf testutil.SyncBuffer
	p := newPool(t, tPrint, Processes, Options{Size: 1, Name: "pfx", Stderr: &buf})
	if _, err := p.Run(context.Background(), "hello there"); err != nil {
		t.Fatal(err)
	}
	p.Close(context.Background())
	if !strings.Contains(buf.String(), "] hello there\n") || !strings.HasPrefix(buf.String(), "[pfx ") {
		t.Fatalf("output %q", buf.String())
	}
}

func TestScaleDown(t *testing.T) {
	p := newPool(t, tSleep, Goroutines, Options{MinWorkers: 1, MaxWorkers: 4, IdleTimeout: 30 * time.Millisecond})
	ctx := context.Background()
	var hs []*Handle[int]
	for range 8 {
		h, _ := p.Submit(ctx, 20)
		hs = append(hs, h)
	}
	if w := p.Stats().Workers; w != 4 {
		t.Errorf("workers under load = %d, want 4", w)
	}
	for _, h := range hs {
		h.Wait(ctx)
	}
	deadline := time.Now().Add(20 * time.Second)
	for p.Stats().Workers != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if w := p.Stats().Workers; w != 1 {
		t.Errorf("workers when idle = %d, want 1", w)
	}
}

func TestRedispatchUnstarted(t *testing.T) {
	// One worker, two slots. A sleeping task runs; the worker is stopped
	// (SIGSTOP) so a second task reaches its socket but is never
	// acknowledged; then the worker is killed. The first fails, the second
	// runs on the replacement.
	p := newPool(t, tSleep, Processes, Options{Size: 1, InFlight: 2})
	ctx := context.Background()
	pid, err := On(p, tPid).Run(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := p.Submit(ctx, 10_000)
	// The worker has said it started the first task (a sleep of a fixed
	// time could end before that on a loaded machine, and the first task
	// would then be re-queued instead of failed).
	testutil.WaitFor(t, "the first task acknowledged", func() bool { return startedAll(p) })
	if err := syscallKill(pid, "STOP"); err != nil {
		t.Fatal(err)
	}
	// kill returns before every thread has stopped; on a loaded machine a
	// thread could still read the socket. Wait until all of them have.
	waitStopped(t, pid)
	second, _ := p.Submit(ctx, 1)
	time.Sleep(50 * time.Millisecond)
	syscallKill(pid, "KILL")
	if _, err := first.Wait(ctx); !errors.Is(err, ErrWorkerDied) {
		t.Errorf("first: %v", err)
	}
	if n, err := second.Wait(ctx); n != 1 || err != nil {
		t.Errorf("second: %d %v", n, err)
	}
}

// startedAll reports whether p has one worker process and it has said it
// started every task it was sent (at least one).
func startedAll[In, Out any](p *Pool[In, Out]) bool {
	b, ok := p.p.c.be.(*procBackend)
	if !ok {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.workers) != 1 {
		return false
	}
	for w := range b.workers {
		w.mu.Lock()
		defer w.mu.Unlock()
		if len(w.inflight) == 0 {
			return false
		}
		for seq := range w.inflight {
			if seq > w.acked {
				return false
			}
		}
	}
	return true
}
