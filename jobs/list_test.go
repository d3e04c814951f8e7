package jobs

import (
	"context"
	"slices"
	"testing"
	"time"
)

// List with Newest pages through the jobs newest first: the same jobs as
// the oldest-first list, in the reverse order, the cursor of each page
// starting the next before it; filters apply as they do oldest first.
func TestListNewestFirst(t *testing.T) {
	c := open(t, Config{})
	ctx := bg(t)
	_ = c.Declare(ctx, "k")
	_ = c.Declare(ctx, "other")
	var ids []string
	for i := range 5 {
		kind := "k"
		if i == 2 {
			kind = "other"
		}
		id, err := c.Submit(ctx, kind, i, SubmitOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	oldest, err := c.List(ctx, Filter{})
	if err != nil || len(oldest.Jobs) != 5 {
		t.Fatalf("oldest first: %+v %v", oldest, err)
	}
	var got []string
	cursor := ""
	for page := 0; ; page++ {
		if page == 5 {
			t.Fatalf("newest first: no end after 5 pages: %v", got)
		}
		p, err := c.List(ctx, Filter{Newest: true, Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Jobs) == 0 || len(p.Jobs) > 2 {
			t.Fatalf("page %d: %d jobs", page, len(p.Jobs))
		}
		for _, j := range p.Jobs {
			got = append(got, j.ID)
		}
		if p.Next == "" {
			break
		}
		cursor = p.Next
	}
	want := slices.Clone(ids)
	slices.Reverse(want)
	if !slices.Equal(got, want) {
		t.Fatalf("newest first, in pages of 2: %v, want %v", got, want)
	}
	p, err := c.List(ctx, Filter{Newest: true, Kind: "k", Limit: 3})
	if err != nil || len(p.Jobs) != 3 || p.Next != ids[1] {
		t.Fatalf("newest first of kind k: %+v %v; want 3 jobs and next %s (the last)", p, err, ids[1])
	}
	for i, id := range []string{ids[4], ids[3], ids[1]} {
		if p.Jobs[i].ID != id {
			t.Errorf("newest first of kind k: job %d is %s, want %s", i, p.Jobs[i].ID, id)
		}
	}
	p, err = c.List(ctx, Filter{Newest: true, Kind: "k", Cursor: p.Next})
	if err != nil || len(p.Jobs) != 1 || p.Jobs[0].ID != ids[0] || p.Next != "" {
		t.Fatalf("newest first of kind k, second page: %+v %v; want %s only", p, err, ids[0])
	}
}

// Every listing made while jobs finish holds every job submitted before
// it: a job whose message leaves the work stream and whose outcome lands
// in the state bucket during the listing's reads is still listed, in one
// of its states. (List read the records first and the stream second, and
// a job that finished between the two reads was in neither.)
func TestListWhileJobsFinish(t *testing.T) {
	c := open(t, Config{})
	ctx := bg(t)
	Register(c, "k", func(ctx context.Context, j *Job[int]) (int, error) { return j.Args, nil })
	const n = 1000
	reqs := make([]Request, n)
	for i := range reqs {
		reqs[i] = Request{Kind: "k", Args: i}
	}
	ids, err := c.SubmitMany(ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- c.Work(wctx, WorkOptions{Queues: map[string]QueueConfig{DefaultQueue: {Concurrency: 8}}})
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	lists := 0
	for end := time.Now().Add(60 * time.Second); ; lists++ {
		p, err := c.List(ctx, Filter{Limit: 2 * n})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]State{}
		finished := 0
		for _, j := range p.Jobs {
			seen[j.ID] = j.State
			if j.State == StateSucceeded {
				finished++
			}
		}
		for _, id := range ids {
			if _, ok := seen[id]; !ok {
				t.Fatalf("listing %d (%d of %d jobs finished) lacks job %s", lists, finished, n, id)
			}
		}
		if finished == n {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("%d of %d jobs finished after 60 s", finished, n)
		}
	}
	t.Logf("%d listings while the jobs ran, each with every job", lists)
}
