package jobs

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestUnknownKind(t *testing.T) {
	c := open(t, Config{})
	ctx := bg(t)
	_, err := c.Submit(ctx, "nobody", nil, SubmitOptions{})
	var uk *UnknownKindError
	if !errors.Is(err, ErrUnknownKind) || !errors.As(err, &uk) || uk.Kind != "nobody" {
		t.Fatalf("Submit of an unknown kind: %v", err)
	}
	if err := c.Declare(ctx, "nobody"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Submit(ctx, "nobody", nil, SubmitOptions{}); err != nil {
		t.Fatalf("Submit of a declared kind: %v", err)
	}
	// A kind that a worker of another client registered is known.
	w := open(t, Config{URLs: nil, Dir: ""}) // separate store: must not know it
	if _, err := w.Submit(ctx, "nobody", nil, SubmitOptions{}); !errors.Is(err, ErrUnknownKind) {
		t.Fatalf("other store: %v", err)
	}
}

func TestKindRecordedByWorker(t *testing.T) {
	srv := open(t, Config{Listen: "127.0.0.1:0"})
	ctx := bg(t)
	sub := open(t, Config{URLs: []string{srv.URL()}})
	if _, err := sub.Submit(ctx, "echo", "x", SubmitOptions{}); !errors.Is(err, ErrUnknownKind) {
		t.Fatalf("before any worker: %v", err)
	}
	Register(srv, "echo", func(ctx context.Context, j *Job[string]) (string, error) { return j.Args, nil })
	work(t, srv, WorkOptions{})
	var id string
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		id, err = sub.Submit(ctx, "echo", "x", SubmitOptions{})
		if err == nil {
			break
		}
		if !errors.Is(err, ErrUnknownKind) || time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	in, err := sub.Wait(ctx, id)
	if err != nil || in.State != StateSucceeded || string(in.Result) != `"x"` {
		t.Fatalf("%+v %v", in, err)
	}
}

func TestValidation(t *testing.T) {
	c := open(t, Config{})
	ctx := bg(t)
	_ = c.Declare(ctx, "k")
	for _, tc := range []struct {
		field string
		opts  SubmitOptions
	}{
		{"queue", SubmitOptions{Queue: "a.b"}},
		{"priority", SubmitOptions{Priority: 7}},
		{"max_attempts", SubmitOptions{MaxAttempts: -1}},
		{"max_attempts", SubmitOptions{MaxAttempts: MaxAttemptsLimit + 1}},
		{"timeout", SubmitOptions{Timeout: -time.Second}},
		{"delay", SubmitOptions{Delay: -time.Second}},
		{"id", SubmitOptions{ID: "nope"}},
	} {
		_, err := c.Submit(ctx, "k", nil, tc.opts)
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != tc.field {
			t.Errorf("%+v: got %v, want a ValidationError on %s", tc.opts, err, tc.field)
		}
	}
	if _, err := c.Submit(ctx, "bad kind", nil, SubmitOptions{}); err == nil {
		t.Error("a kind with a space was accepted")
	}
}

func TestUniqueKey(t *testing.T) {
	c := open(t, Config{})
	ctx := bg(t)
	_ = c.Declare(ctx, "k")
	a, err := c.Submit(ctx, "k", 1, SubmitOptions{UniqueKey: "report:2026-12-07"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Submit(ctx, "k", 2, SubmitOptions{UniqueKey: "report:2026-12-07"})
	if err != nil || b != a {
		t.Fatalf("second submit with the key: %q %v, want %q", b, err, a)
	}
	d, err := c.Submit(ctx, "k", 3, SubmitOptions{UniqueKey: "other"})
	if err != nil || d == a {
		t.Fatalf("another key: %q %v", d, err)
	}
	p, err := c.List(ctx, Filter{})
	if err != nil || len(p.Jobs) != 2 {
		t.Fatalf("List: %+v %v", p, err)
	}
	// The key expires.
	e, err := c.Submit(ctx, "k", 4, SubmitOptions{UniqueKey: "short", UniqueTTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		f, err := c.Submit(ctx, "k", 5, SubmitOptions{UniqueKey: "short", UniqueTTL: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if f != e {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the unique key never expired")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRetriedSubmitDedupe(t *testing.T) {
	c := open(t, Config{})
	ctx := bg(t)
	_ = c.Declare(ctx, "k")
	id := newID()
	for range 3 {
		got, err := c.Submit(ctx, "k", "once", SubmitOptions{ID: id})
		if err != nil || got != id {
			t.Fatalf("%q %v", got, err)
		}
	}
	ids, err := c.SubmitMany(ctx, []Request{{Kind: "k", Options: SubmitOptions{ID: id}}, {Kind: "k"}})
	if err != nil || ids[0] != id {
		t.Fatalf("%v %v", ids, err)
	}
	p, err := c.List(ctx, Filter{})
	if err != nil || len(p.Jobs) != 2 {
		t.Fatalf("want 2 jobs, got %+v %v", p.Jobs, err)
	}
	// Pages: one job each, in ID order, with a cursor.
	p1, err := c.List(ctx, Filter{Limit: 1})
	if err != nil || len(p1.Jobs) != 1 || p1.Next == "" {
		t.Fatalf("first page %+v %v", p1, err)
	}
	p2, err := c.List(ctx, Filter{Limit: 1, Cursor: p1.Next})
	if err != nil || len(p2.Jobs) != 1 || p2.Next != "" || p2.Jobs[0].ID <= p1.Jobs[0].ID {
		t.Fatalf("second page %+v %v", p2, err)
	}
	if p, err := c.List(ctx, Filter{State: StateSucceeded}); err != nil || len(p.Jobs) != 0 {
		t.Fatalf("filter by state: %+v %v", p, err)
	}
	if p, err := c.List(ctx, Filter{Kind: "k", Queue: DefaultQueue, State: StateQueued}); err != nil || len(p.Jobs) != 2 {
		t.Fatalf("filter by kind, queue and state: %+v %v", p, err)
	}
	si, err := c.work.Info(ctx)
	if err != nil || si.State.Msgs != 2+1 { // and the keep message
		t.Fatalf("stream holds %d messages, want 2 jobs and the keep message (%v)", si.State.Msgs, err)
	}
}

func TestCancelQueuedNeverRuns(t *testing.T) {
	c := open(t, Config{})
	ctx := bg(t)
	var ran atomic.Int32
	Register(c, "k", func(ctx context.Context, j *Job[int]) (int, error) { ran.Add(1); return 0, nil })
	id, err := c.Submit(ctx, "k", 1, SubmitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if in, err := c.Get(ctx, id); err != nil || in.State != StateQueued {
		t.Fatalf("%+v %v", in, err)
	}
	if err := c.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := c.Cancel(ctx, id); err != nil {
		t.Fatalf("second cancel: %v", err)
	}
	other, _ := c.Submit(ctx, "k", 2, SubmitOptions{})
	work(t, c, WorkOptions{})
	if in, err := c.Wait(ctx, other); err != nil || in.State != StateSucceeded {
		t.Fatalf("%+v %v", in, err)
	}
	in, err := c.Wait(ctx, id)
	if err != nil || in.State != StateCancelled || ran.Load() != 1 {
		t.Fatalf("%+v %v ran=%d", in, err, ran.Load())
	}
}

func TestCancelRunningLatencyAndRetry(t *testing.T) {
	c := open(t, Config{})
	ctx := bg(t)
	started := make(chan string, 4)
	stopped := make(chan time.Time, 4)
	var runs atomic.Int32
	Register(c, "block", func(ctx context.Context, j *Job[int]) (int, error) {
		runs.Add(1)
		started <- j.ID
		if j.Args == 1 {
			<-ctx.Done()
			stopped <- time.Now()
			if !errors.Is(context.Cause(ctx), ErrCancelled) {
				t.Errorf("cause %v", context.Cause(ctx))
			}
			return 0, ctx.Err()
		}
		return 7, nil
	})
	work(t, c, WorkOptions{})
	id, err := c.Submit(ctx, "block", 1, SubmitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	wch, err := c.Watch(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for in := range wch {
		if in.State == StateRunning {
			break
		}
	}
	t0 := time.Now()
	if err := c.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	var last Info
	for in := range wch {
		last = in
	}
	if last.State != StateCancelled {
		t.Fatalf("final %+v", last)
	}
	// The handler's ctx ends within 100 ms of the Cancel call.
	lat := (<-stopped).Sub(t0)
	t.Logf("the running handler's ctx ended %v after Cancel was called", lat)
	if lat > 100*time.Millisecond {
		t.Errorf("cancel took %v", lat)
	}
	if err := c.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	// Retry after cancel: a new generation, not hit by the old cancel.
	if err := c.Retry(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := c.Retry(ctx, id); err == nil {
		t.Fatal("Retry of a queued or running job succeeded")
	}
	<-started
	// Make the new run finish: it blocks too (Args 1), so cancel the old
	// generation again by hand and check it does nothing.
	_ = c.nc.Publish(c.cancelSubj(), cancelMsg(id, 0))
	_ = c.nc.Flush()
	time.Sleep(50 * time.Millisecond)
	if in, _ := c.Get(ctx, id); in.State != StateRunning {
		t.Fatalf("the old generation's cancel hit the retry: %s", in.State)
	}
	if err := c.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	<-stopped
	in, err := c.Wait(ctx, id)
	if err != nil || in.State != StateCancelled || runs.Load() != 2 {
		t.Fatalf("%+v %v runs=%d", in, err, runs.Load())
	}
	var se *StateError
	id2, _ := c.Submit(ctx, "block", 2, SubmitOptions{})
	if in, err := c.Wait(ctx, id2); err != nil || in.State != StateSucceeded {
		t.Fatal(in, err)
	}
	if err := c.Cancel(ctx, id2); !errors.As(err, &se) || se.State != StateSucceeded {
		t.Fatalf("cancel of a succeeded job: %v", err)
	}
}

func TestFailuresRetries(t *testing.T) {
	c := open(t, Config{})
	ctx := bg(t)
	var mu sync.Mutex
	tries := map[string]int{}
	Register(c, "mix", func(ctx context.Context, j *Job[string]) (string, error) {
		mu.Lock()
		tries[j.ID]++
		mu.Unlock()
		switch j.Args {
		case "flaky":
			if j.Attempt == 1 {
				return "", errors.New("first time fails")
			}
			return "ok", nil
		case "panic":
			panic("boom")
		case "slow":
			<-ctx.Done()
			return "", ctx.Err()
		case "perm":
			return "", ErrPermanent
		}
		return "ok", nil
	})
	work(t, c, WorkOptions{Backoff: func(int) time.Duration { return 10 * time.Millisecond }})
	cases := []struct {
		args    string
		opts    SubmitOptions
		state   State
		attempt int
		errHas  string
	}{
		{"flaky", SubmitOptions{}, StateSucceeded, 2, ""},
		{"panic", SubmitOptions{MaxAttempts: 2}, StateFailed, 2, "worker.go"},
		{"slow", SubmitOptions{MaxAttempts: 1, Timeout: 50 * time.Millisecond}, StateFailed, 1, "timed out"},
		{"perm", SubmitOptions{}, StateFailed, 1, "permanent"},
	}
	for _, tc := range cases {
		id, err := c.Submit(ctx, "mix", tc.args, tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		in, err := c.Wait(ctx, id)
		if err != nil || in.State != tc.state || in.Attempt != tc.attempt || !strings.Contains(in.Error, tc.errHas) {
			t.Errorf("%s: %+v %v", tc.args, in, err)
		}
		if tc.args == "panic" && !strings.Contains(in.Error, "boom") {
			t.Errorf("panic error has no value: %s", in.Error)
		}
	}
	st, err := c.Stats(ctx)
	if err != nil || len(st) != 1 || st[0].Succeeded != 1 || st[0].Failed != 3 || st[0].Retried != 2 {
		t.Fatalf("%+v %v", st, err)
	}
}

// TestCancelOverTCP: a client connected by URL cancels a job that a worker
// on another connection runs; the handler's ctx ends within 100 ms.
func TestCancelOverTCP(t *testing.T) {
	srv := open(t, Config{Listen: "127.0.0.1:0"})
	ctx := bg(t)
	started := make(chan struct{}, 1)
	stopped := make(chan time.Time, 1)
	Register(srv, "block", func(ctx context.Context, j *Job[int]) (int, error) {
		started <- struct{}{}
		<-ctx.Done()
		stopped <- time.Now()
		return 0, ctx.Err()
	})
	work(t, srv, WorkOptions{})
	remote := open(t, Config{URLs: []string{srv.URL()}})
	_ = remote.Declare(ctx, "block")
	id, err := remote.Submit(ctx, "block", 1, SubmitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	t0 := time.Now()
	if err := remote.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	lat := (<-stopped).Sub(t0)
	t.Logf("the handler's ctx ended %v after Cancel was called on the other connection", lat)
	if lat > 100*time.Millisecond {
		t.Errorf("cancel took %v", lat)
	}
	if in, err := remote.Wait(ctx, id); err != nil || in.State != StateCancelled || in.Attempt != 1 {
		t.Fatalf("%+v %v", in, err)
	}
}

// TestHandlerGoexit: a handler that ends its goroutine (runtime.Goexit, as
// t.FailNow does) fails its attempt at once, and the worker's next job runs
// on a new goroutine.
func TestHandlerGoexit(t *testing.T) {
	c := open(t, Config{})
	ctx := bg(t)
	Register(c, "exit", func(ctx context.Context, j *Job[bool]) (string, error) {
		if j.Args {
			runtime.Goexit()
		}
		return "ok", nil
	})
	work(t, c, WorkOptions{Queues: map[string]QueueConfig{DefaultQueue: {Concurrency: 1}}})
	for _, exit := range []bool{true, false, true, false} {
		id, err := c.Submit(ctx, "exit", exit, SubmitOptions{MaxAttempts: 1})
		if err != nil {
			t.Fatal(err)
		}
		in, err := c.Wait(ctx, id)
		switch {
		case err != nil:
			t.Fatal(err)
		case exit && (in.State != StateFailed || !strings.Contains(in.Error, "Goexit")):
			t.Fatalf("a handler that called runtime.Goexit: %+v", in)
		case !exit && (in.State != StateSucceeded || string(in.Result) != `"ok"`):
			t.Fatalf("the job after it: %+v", in)
		}
	}
}
