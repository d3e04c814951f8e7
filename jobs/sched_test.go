package jobs

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestScheduled(t *testing.T) {
	c := open(t, Config{})
	ctx := bg(t)
	var ran atomic.Int32
	Register(c, "k", func(ctx context.Context, j *Job[int]) (time.Time, error) { ran.Add(1); return time.Now(), nil })
	work(t, c, WorkOptions{})
	t0 := time.Now()
	id, err := c.Submit(ctx, "k", 1, SubmitOptions{Delay: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := c.Submit(ctx, "k", 2, SubmitOptions{RunAt: time.Now().Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if in, err := c.Get(ctx, id); err != nil || in.State != StateScheduled || in.RunAt.Before(t0.Add(1400*time.Millisecond)) {
		t.Fatalf("%+v %v", in, err)
	}
	if err := c.Cancel(ctx, gone); err != nil {
		t.Fatal(err)
	}
	in, err := c.Wait(ctx, id)
	if err != nil || in.State != StateSucceeded {
		t.Fatalf("%+v %v", in, err)
	}
	if in.Started.Before(in.RunAt) {
		t.Fatalf("started %v before its time %v", in.Started, in.RunAt)
	}
	if in, err := c.Get(ctx, gone); err != nil || in.State != StateCancelled {
		t.Fatalf("%+v %v", in, err)
	}
	// The cancelled schedule never fires.
	time.Sleep(200 * time.Millisecond)
	if ran.Load() != 1 {
		t.Fatalf("ran %d", ran.Load())
	}
}

func TestPriorities(t *testing.T) {
	c := open(t, Config{})
	ctx := bg(t)
	var mu sync.Mutex
	var order []Priority
	Register(c, "k", func(ctx context.Context, j *Job[int]) (int, error) {
		mu.Lock()
		order = append(order, j.Priority)
		mu.Unlock()
		return 0, nil
	})
	var ids []string
	for i := range 5 {
		for _, p := range []Priority{PriorityLow, PriorityNormal, PriorityHigh, PriorityCritical} {
			id, err := c.Submit(ctx, "k", i, SubmitOptions{Priority: p})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
	}
	work(t, c, WorkOptions{Queues: map[string]QueueConfig{DefaultQueue: {Concurrency: 1}}})
	for _, id := range ids {
		if _, err := c.Wait(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i < len(order); i++ {
		if order[i] > order[i-1] {
			t.Fatalf("ran out of priority order: %v", order)
		}
	}
}

func TestRateLimit(t *testing.T) {
	c := open(t, Config{})
	ctx := bg(t)
	Register(c, "k", func(ctx context.Context, j *Job[int]) (int, error) { return 0, nil })
	work(t, c, WorkOptions{Queues: map[string]QueueConfig{"slow": {Concurrency: 8, RateLimit: 10}}})
	t0 := time.Now()
	var ids []string
	for i := range 15 {
		id, err := c.Submit(ctx, "k", i, SubmitOptions{Queue: "slow"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	var first, last time.Time
	for _, id := range ids {
		in, err := c.Wait(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if first.IsZero() || in.Started.Before(first) {
			first = in.Started
		}
		if in.Started.After(last) {
			last = in.Started
		}
	}
	// 15 starts at 10/s with a burst of 1 span at least 1.4 s.
	if d := last.Sub(first); d < 1300*time.Millisecond {
		t.Fatalf("15 jobs started within %v at a limit of 10/s", d)
	}
	t.Logf("15 jobs in %v", time.Since(t0))
}

func TestGlobalConcurrency(t *testing.T) {
	srv := open(t, Config{Listen: "127.0.0.1:0"})
	other := open(t, Config{URLs: []string{srv.URL()}})
	ctx := bg(t)
	var now, peak atomic.Int32
	h := func(ctx context.Context, j *Job[int]) (int, error) {
		n := now.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(30 * time.Millisecond)
		now.Add(-1)
		return 0, nil
	}
	Register(srv, "k", h)
	Register(other, "k", h)
	qs := map[string]QueueConfig{"g": {Concurrency: 4, GlobalConcurrency: 2}}
	work(t, srv, WorkOptions{Queues: qs})
	work(t, other, WorkOptions{Queues: qs})
	var ids []string
	for i := range 24 {
		id, err := srv.Submit(ctx, "k", i, SubmitOptions{Queue: "g"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	workers := map[string]bool{}
	for _, id := range ids {
		in, err := srv.Wait(ctx, id)
		if err != nil || in.State != StateSucceeded {
			t.Fatal(in, err)
		}
		workers[in.Worker] = true
	}
	if p := peak.Load(); p > 2 || p < 1 {
		t.Fatalf("peak concurrency %d, want at most 2", p)
	}
	t.Logf("peak %d over %d workers", peak.Load(), len(workers))
}

// TestTokenWaitKeepsDelivery: a job that waits for a GlobalConcurrency
// token longer than AckWait still runs once: its delivery is kept alive
// while it waits, and does not expire into a second attempt.
func TestTokenWaitKeepsDelivery(t *testing.T) {
	srv := open(t, Config{Listen: "127.0.0.1:0", AckWait: time.Second})
	other := open(t, Config{URLs: []string{srv.URL()}, AckWait: time.Second})
	ctx := bg(t)
	var mu sync.Mutex
	starts := map[string]int{}
	h := func(ctx context.Context, j *Job[int]) (int, error) {
		mu.Lock()
		starts[j.ID]++
		mu.Unlock()
		select {
		case <-time.After(1500 * time.Millisecond): // holds a token past AckWait
		case <-ctx.Done():
		}
		return j.Attempt, nil
	}
	Register(srv, "k", h)
	Register(other, "k", h)
	qs := map[string]QueueConfig{"g": {Concurrency: 2, GlobalConcurrency: 2}}
	work(t, srv, WorkOptions{Queues: qs})
	work(t, other, WorkOptions{Queues: qs})
	var ids []string
	for i := range 8 {
		id, err := srv.Submit(ctx, "k", i, SubmitOptions{Queue: "g"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for _, id := range ids {
		in, err := srv.Wait(ctx, id)
		if err != nil || in.State != StateSucceeded || in.Attempt != 1 {
			t.Fatalf("job %s: %+v, %v; want succeeded on attempt 1", id, in, err)
		}
	}
	time.Sleep(200 * time.Millisecond) // a second start would have begun by now
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		if starts[id] != 1 {
			t.Errorf("job %s started %d times, want once", id, starts[id])
		}
	}
}
