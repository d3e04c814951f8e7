package jobs

import (
	"context"
	"errors"
	"testing"
	"time"
)

type addArgs struct{ A, B int }

func TestSubmitWait(t *testing.T) {
	c := open(t, Config{})
	Register(c, "add", func(ctx context.Context, j *Job[addArgs]) (int, error) {
		if err := j.Progress(0.5, "half"); err != nil {
			return 0, err
		}
		return j.Args.A + j.Args.B, nil
	})
	work(t, c, WorkOptions{})
	ctx := bg(t)
	id, err := c.Submit(ctx, "add", addArgs{2, 3}, SubmitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	in, err := c.Wait(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if in.State != StateSucceeded || string(in.Result) != "5" || in.Attempt != 1 || in.Worker == "" || in.Started.IsZero() || in.Finished.IsZero() {
		t.Fatalf("got %+v", in)
	}
	if _, err := c.Get(ctx, "01ARZ3NDEKTSV4RRFFQ69G5FAV"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of an unknown ID: %v", err)
	}
	_ = time.Second
}
