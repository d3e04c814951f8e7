package jobs

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// TestReadsOnFollower: a client connected only to a node that follows
// the work stream and the state bucket (it leads neither) reads every
// write the cluster acknowledged: Get right after Submit finds the job,
// Watch starts, and a Wait that starts after the job ended (the client's
// watch has passed the end on already) returns it. A follower's direct
// get may lack the newest writes: that left such a Wait waiting forever.
func TestReadsOnFollower(t *testing.T) {
	urls := startCluster(t)
	// 150 jobs' submits and reads on a 3-node cluster: on a loaded machine
	// that took over bg's minute, and the last Watch ended with ctx.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := open(t, Config{URLs: urls, Replicas: 3})
	leaders := map[string]bool{}
	for _, name := range []string{c.workStream(), "KV_" + c.stateBucket()} {
		s, err := c.js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		si, err := s.Info(ctx)
		if err != nil || si.Cluster == nil {
			t.Fatalf("stream %s: %+v, %v", name, si, err)
		}
		leaders[si.Cluster.Leader] = true
	}
	follower := ""
	for i, u := range urls {
		if !leaders["n"+strconv.Itoa(i+1)] { // startCluster's node names
			follower = u
			break
		}
	}
	if follower == "" {
		t.Fatalf("no node leads neither stream: leaders %v", leaders)
	}
	f := open(t, Config{URLs: []string{follower}})
	if err := f.Declare(ctx, "add"); err != nil {
		t.Fatal(err)
	}
	// Jobs of a queue no worker takes: only each job's message, just
	// stored, says it exists.
	for i := range 100 {
		id, err := f.Submit(ctx, "add", addArgs{i, 1}, SubmitOptions{Queue: "idle"})
		if err != nil {
			t.Fatal(err)
		}
		if in, err := f.Get(ctx, id); err != nil || in.State != StateQueued {
			t.Fatalf("job %d: Get right after Submit: %+v, %v; want queued", i, in, err)
		}
	}
	// Jobs that run, submitted through c (whose Work makes the queue's
	// consumers: two clients creating the same consumer at once on a
	// cluster wait for each other) and read through f.
	Register(c, "add", func(ctx context.Context, j *Job[addArgs]) (int, error) { return j.Args.A + j.Args.B, nil })
	work(t, c, WorkOptions{})
	for i := range 50 {
		id, err := c.Submit(ctx, "add", addArgs{i, 1}, SubmitOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Get(ctx, id); err != nil {
			t.Fatalf("job %d: Get right after Submit: %v", i, err)
		}
		ch, err := f.Watch(ctx, id)
		if err != nil {
			t.Fatalf("job %d: Watch right after Submit: %v", i, err)
		}
		var last Info
		for in := range ch {
			last = in
		}
		if last.State != StateSucceeded {
			t.Fatalf("job %d: Watch ended with %+v", i, last)
		}
		// f's watch has passed the end on: only Wait's first read can
		// see it.
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		in, err := f.Wait(tctx, id)
		cancel()
		if err != nil || in.State != StateSucceeded || string(in.Result) != strconv.Itoa(i+1) {
			t.Fatalf("job %d: Wait after the end: %+v, %v; want succeeded", i, in, err)
		}
	}
}

// TestFence: fence returns at once for a write the state bucket's leader
// has applied, and for a later sequence only once a write reaches it.
func TestFence(t *testing.T) {
	urls := startCluster(t)
	ctx := bg(t)
	c := open(t, Config{URLs: urls, Replicas: 3})
	rev, err := c.state.Put(ctx, "fence", []byte("1"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.fence(ctx, rev) {
		t.Fatalf("fence(%d) after the write at %d: not applied", rev, rev)
	}
	done := make(chan bool, 1)
	go func() { done <- c.fence(ctx, rev+1) }()
	select {
	case ok := <-done:
		t.Fatalf("fence(%d) returned %v before anything was written there", rev+1, ok)
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := c.state.Put(ctx, "fence", []byte("2")); err != nil {
		t.Fatal(err)
	}
	if ok := <-done; !ok {
		t.Fatalf("fence(%d) after the write: not applied", rev+1)
	}
	// A single server has nothing to wait for.
	one := open(t, Config{Listen: "127.0.0.1:0"})
	if !one.fence(ctx, 1<<40) {
		t.Fatal("fence on a single server waited")
	}
}
