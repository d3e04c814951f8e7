package jobs

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herdrun/herd/workers"
)

func TestRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := bg(t)
	c, err := Open(ctx, Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	Register(c, "k", func(ctx context.Context, j *Job[string]) (string, error) {
		if j.Args == "fail" {
			return "", errors.New("no")
		}
		return strings.Repeat(j.Args, 1), nil
	})
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Work(wctx, WorkOptions{}) }()
	ok, _ := c.Submit(ctx, "k", "yes", SubmitOptions{})
	bad, _ := c.Submit(ctx, "k", "fail", SubmitOptions{MaxAttempts: 1})
	big, _ := c.Submit(ctx, "k", strings.Repeat("x", DefaultInlineResult+10), SubmitOptions{})
	for _, id := range []string{ok, bad, big} {
		if _, err := c.Wait(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var queued []string
	for i := range 3 {
		id, err := c.Submit(ctx, "k", "later", SubmitOptions{Priority: Priority(i - 1)})
		if err != nil {
			t.Fatal(err)
		}
		queued = append(queued, id)
	}
	sched, _ := c.Submit(ctx, "k", "sched", SubmitOptions{Delay: time.Hour})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	c2 := open(t, Config{Dir: dir})
	Register(c2, "k", func(ctx context.Context, j *Job[string]) (string, error) { return j.Args, nil })
	for id, want := range map[string]State{ok: StateSucceeded, bad: StateFailed, big: StateSucceeded, queued[0]: StateQueued, queued[1]: StateQueued, queued[2]: StateQueued, sched: StateScheduled} {
		in, err := c2.Get(ctx, id)
		if err != nil || in.State != want {
			t.Fatalf("after restart %s: %+v %v, want %s", id, in, err, want)
		}
	}
	if in, _ := c2.Get(ctx, big); len(in.Result) != DefaultInlineResult+12 {
		t.Fatalf("big result has %d bytes", len(in.Result))
	}
	work(t, c2, WorkOptions{})
	t0 := time.Now()
	for _, id := range queued {
		in, err := c2.Wait(ctx, id)
		if err != nil || in.State != StateSucceeded {
			t.Fatalf("%+v %v", in, err)
		}
	}
	// They ran at once, not after an ack deadline.
	if d := time.Since(t0); d > 10*time.Second {
		t.Fatalf("queued jobs took %v after the restart", d)
	}
}

func TestMaxDeliveriesAdvisory(t *testing.T) {
	testMaxDeliver = 2
	defer func() { testMaxDeliver = 0 }()
	c := open(t, Config{})
	ctx := bg(t)
	var runs atomic.Int32
	Register(c, "k", func(ctx context.Context, j *Job[int]) (int, error) { runs.Add(1); return 0, errors.New("always") })
	work(t, c, WorkOptions{Backoff: func(int) time.Duration { return 10 * time.Millisecond }})
	id, err := c.Submit(ctx, "k", 1, SubmitOptions{MaxAttempts: 5})
	if err != nil {
		t.Fatal(err)
	}
	in, err := c.Wait(ctx, id)
	if err != nil || in.State != StateFailed || !strings.Contains(in.Error, "max deliveries") || runs.Load() != 2 {
		t.Fatalf("%+v %v runs=%d", in, err, runs.Load())
	}
	// The message is gone from the stream.
	deadline := time.Now().Add(30 * time.Second)
	for {
		si, err := c.work.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if si.State.Msgs == 1 { // the keep message
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages left", si.State.Msgs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestGracefulShutdown(t *testing.T) {
	c := open(t, Config{})
	ctx := bg(t)
	started := make(chan struct{}, 10)
	release := make(chan struct{})
	Register(c, "k", func(ctx context.Context, j *Job[string]) (string, error) {
		started <- struct{}{}
		if j.Args == "stuck" {
			<-ctx.Done()
			return "", ctx.Err()
		}
		<-release
		return "done", nil
	})
	first, _ := c.Submit(ctx, "k", "finish", SubmitOptions{})
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- c.Work(wctx, WorkOptions{Queues: map[string]QueueConfig{DefaultQueue: {Concurrency: 1}}, ShutdownTimeout: 30 * time.Second})
	}()
	<-started
	var rest []string
	for range 3 {
		id, _ := c.Submit(ctx, "k", "later", SubmitOptions{})
		rest = append(rest, id)
	}
	stop()
	select {
	case <-done:
		t.Fatal("Work returned with a job running")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if in, _ := c.Get(ctx, first); in.State != StateSucceeded {
		t.Fatalf("the running job: %+v", in)
	}
	for _, id := range rest {
		if in, _ := c.Get(ctx, id); in.State != StateQueued {
			t.Fatalf("a waiting job: %+v", in)
		}
	}
	// Past the deadline a job is cancelled and goes back to its queue.
	stuck, _ := c.Submit(ctx, "k", "stuck", SubmitOptions{Priority: PriorityCritical})
	wctx, stop = context.WithCancel(ctx)
	go func() {
		done <- c.Work(wctx, WorkOptions{Queues: map[string]QueueConfig{DefaultQueue: {Concurrency: 1}}, ShutdownTimeout: 50 * time.Millisecond})
	}()
	<-started
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if in, _ := c.Get(ctx, stuck); in.State != StateQueued {
		t.Fatalf("the interrupted job: %+v", in)
	}
}

var double = workers.Register("jobs-test-double", func(ctx context.Context, n int) (int, error) {
	if n < 0 {
		select {} // hangs: only a hard timeout ends it
	}
	return 2 * n, nil
})

func TestPoolHandler(t *testing.T) {
	pool, err := workers.New(double, &workers.Options{Backend: workers.Processes, Size: 1, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = pool.Close(ctx)
	}()
	c := open(t, Config{})
	ctx := bg(t)
	Register(c, "double", PoolHandler(pool))
	work(t, c, WorkOptions{})
	id, _ := c.Submit(ctx, "double", 21, SubmitOptions{})
	hang, _ := c.Submit(ctx, "double", -1, SubmitOptions{MaxAttempts: 1})
	if in, err := c.Wait(ctx, id); err != nil || string(in.Result) != "42" {
		t.Fatalf("%+v %v", in, err)
	}
	if in, err := c.Wait(ctx, hang); err != nil || in.State != StateFailed {
		t.Fatalf("%+v %v", in, err)
	}
}

// TestHeartbeats: a job that runs past AckWait is not handed to another
// worker while its own worker lives.
func TestHeartbeats(t *testing.T) {
	srv := open(t, Config{Listen: "127.0.0.1:0", AckWait: time.Second})
	other := open(t, Config{URLs: []string{srv.URL()}, AckWait: time.Second})
	ctx := bg(t)
	var runs atomic.Int32
	h := func(ctx context.Context, j *Job[int]) (int, error) {
		runs.Add(1)
		time.Sleep(2500 * time.Millisecond)
		return j.Attempt, nil
	}
	Register(srv, "long", h)
	Register(other, "long", h)
	work(t, srv, WorkOptions{})
	work(t, other, WorkOptions{})
	id, err := srv.Submit(ctx, "long", 0, SubmitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	in, err := srv.Wait(ctx, id)
	if err != nil || in.State != StateSucceeded || in.Attempt != 1 || runs.Load() != 1 {
		t.Fatalf("%+v %v runs=%d", in, err, runs.Load())
	}
}

// TestPutBackIsNoAttempt: a worker without the job's kind puts it back
// before it counts as an attempt, so a job allowed one attempt still gets
// it on the worker that has the kind.
func TestPutBackIsNoAttempt(t *testing.T) {
	srv := open(t, Config{Listen: "127.0.0.1:0"})
	other := open(t, Config{URLs: []string{srv.URL()}})
	ctx := bg(t)
	Register(srv, "unused", func(ctx context.Context, j *Job[int]) (int, error) { return 0, nil })
	work(t, srv, WorkOptions{})
	if err := srv.Declare(ctx, "only-other"); err != nil {
		t.Fatal(err)
	}
	id, err := srv.Submit(ctx, "only-other", 21, SubmitOptions{MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Wait until the worker without the kind has been handed the job.
	cons, err := srv.consumer(ctx, DefaultQueue, 1)
	if err != nil {
		t.Fatal(err)
	}
	for {
		ci, err := cons.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ci.Delivered.Consumer >= 1 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the job was never delivered")
		case <-time.After(10 * time.Millisecond):
		}
	}
	Register(other, "only-other", func(ctx context.Context, j *Job[int]) (int, error) { return 2 * j.Args, nil })
	work(t, other, WorkOptions{})
	in, err := srv.Wait(ctx, id)
	if err != nil || in.State != StateSucceeded || in.Attempt != 1 || string(in.Result) != "42" {
		t.Fatalf("%+v %v", in, err)
	}
}

// TestFirstAttemptStoresOnlyItsOutcome: a first attempt stores no running
// record before its handler runs; Get, Stats and Cancel see its delivery
// as the running state, and its outcome carries the attempt.
func TestFirstAttemptStoresOnlyItsOutcome(t *testing.T) {
	defer func(d time.Duration) { lazyRunning = d }(lazyRunning)
	lazyRunning = time.Hour
	c := open(t, Config{})
	ctx := bg(t)
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	Register(c, "block", func(ctx context.Context, j *Job[int]) (int, error) {
		started <- struct{}{}
		if j.Args != 7 {
			<-ctx.Done() // only a cancel (or the test's end) ends it
			return 0, context.Cause(ctx)
		}
		select {
		case <-release:
			return j.Args, nil
		case <-ctx.Done():
			return 0, context.Cause(ctx)
		}
	})
	work(t, c, WorkOptions{Queues: map[string]QueueConfig{DefaultQueue: {Concurrency: 1}}, ShutdownTimeout: time.Millisecond})
	id, err := c.Submit(ctx, "block", 7, SubmitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	if r, _, err := c.stored(ctx, id); err != nil || r != nil {
		t.Fatalf("a record before the outcome: %+v %v", r, err)
	}
	if in, err := c.Get(ctx, id); err != nil || in.State != StateRunning || in.Attempt != 1 {
		t.Fatalf("Get of a started first attempt: %+v %v", in, err)
	}
	if st, err := c.Stats(ctx); err != nil || len(st) != 1 || st[0].Running != 1 || st[0].Depth != 0 {
		t.Fatalf("Stats: %+v %v", st, err)
	}
	close(release)
	in, err := c.Wait(ctx, id)
	if err != nil || in.State != StateSucceeded || in.Attempt != 1 || string(in.Result) != "7" || in.Started.IsZero() || in.Worker == "" {
		t.Fatalf("Wait: %+v %v", in, err)
	}

	// Cancel while the first attempt runs with no record: the handler's
	// ctx ends, the job ends cancelled at attempt 1 and is not retried.
	id, err = c.Submit(ctx, "block", 8, SubmitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	if err := c.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	in, err = c.Wait(ctx, id)
	if err != nil || in.State != StateCancelled || in.Attempt != 1 {
		t.Fatalf("Wait after Cancel: %+v %v", in, err)
	}
	// The queue is free again: a new job runs (the cancelled one does not).
	id, err = c.Submit(ctx, "block", 9, SubmitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	if in, err := c.Get(ctx, id); err != nil || in.State != StateRunning {
		t.Fatalf("Get: %+v %v", in, err)
	}
	select {
	case <-started:
		t.Fatal("the cancelled job ran again")
	default:
	}
}
