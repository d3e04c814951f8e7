package jobs

import (
	"slices"
	"testing"
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
