package jobs_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/herdrun/herd/jobs"
)

type resize struct {
	Width, Height int
}

// A worker and a submitter in one process, on an embedded store.
func Example() {
	dir, _ := os.MkdirTemp("", "jobs-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	c, err := jobs.Open(ctx, jobs.Config{Dir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	jobs.Register(c, "resize", func(ctx context.Context, j *jobs.Job[resize]) (string, error) {
		_ = j.Progress(0.5, "scaling")
		return fmt.Sprintf("%dx%d.png", j.Args.Width, j.Args.Height), nil
	})
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- c.Work(wctx, jobs.WorkOptions{}) }()
	defer func() { stop(); <-done }()

	id, err := c.Submit(ctx, "resize", resize{Width: 640, Height: 480}, jobs.SubmitOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	info, err := c.Wait(ctx, id)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(info.State, info.Attempt, string(info.Result))
	// Output: succeeded 1 "640x480.png"
}

// A job that waits can be cancelled; it never runs.
func ExampleClient_Cancel() {
	dir, _ := os.MkdirTemp("", "jobs-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	c, err := jobs.Open(ctx, jobs.Config{Dir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	// No worker runs here: declare the kind so Submit accepts it.
	_ = c.Declare(ctx, "report")
	id, _ := c.Submit(ctx, "report", map[string]string{"month": "2026-11"}, jobs.SubmitOptions{Delay: time.Hour})
	before, _ := c.Get(ctx, id)
	_ = c.Cancel(ctx, id)
	after, _ := c.Get(ctx, id)
	fmt.Println(before.State, "->", after.State)
	// Output: scheduled -> cancelled
}

// Submitting a kind that no worker has registered is refused.
func ExampleClient_Submit_unknownKind() {
	dir, _ := os.MkdirTemp("", "jobs-example")
	defer os.RemoveAll(dir)
	c, err := jobs.Open(context.Background(), jobs.Config{Dir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	_, err = c.Submit(context.Background(), "typo", nil, jobs.SubmitOptions{})
	fmt.Println(err)
	// Output: jobs: unknown kind "typo": register a handler for it (Register) in a worker, or Declare it on this client
}
