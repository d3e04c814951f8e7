package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
	"github.com/herdrun/herd/jobs"
)

// TestJobsDevCluster: dev-cluster prints three URLs, jobs run on them with
// three replicas, and SIGTERM stops every node and removes the stores.
func TestJobsDevCluster(t *testing.T) {
	h := startHerd(t, nil, "jobs", "dev-cluster", "--port", "0")
	var line string
	testutil.WaitFor(t, "dev-cluster to print its URLs", func() bool {
		select {
		case <-h.p.Done():
			t.Fatalf("herd exited early\nstderr:\n%s", h.stderr.String())
		default:
		}
		// One read of stdout for both: it may grow between two.
		var ok bool
		line, _, ok = strings.Cut(h.stdout.String(), "\n")
		return ok && strings.Contains(h.stderr.String(), "Ctrl-C")
	})
	urls := strings.Split(line, ",")
	if len(urls) != 3 {
		t.Fatalf("stdout %q: want three URLs", line)
	}
	_, rest, _ := strings.Cut(h.stderr.String(), "stores in ")
	dir, _, _ := strings.Cut(rest, ")")
	if _, err := os.Stat(filepath.Join(dir, "n1")); err != nil {
		t.Fatalf("stderr %q: no store dir: %v", h.stderr.String(), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Each try bounded: a JetStream API request that reaches a node still
	// catching up with the cluster can go unanswered.
	var c *jobs.Client
	var err error
	for try := 0; try < 4; try++ {
		octx, ocancel := context.WithTimeout(ctx, 15*time.Second)
		c, err = jobs.Open(octx, jobs.Config{URLs: urls, Replicas: 3})
		ocancel()
		if err == nil {
			break
		}
		t.Logf("Open, try %d: %v", try+1, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	jobs.Register(c, "twice", func(ctx context.Context, j *jobs.Job[int]) (int, error) { return 2 * j.Args, nil })
	wctx, wcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Work(wctx, jobs.WorkOptions{}) }()
	id, err := c.Submit(ctx, "twice", 21, jobs.SubmitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Wait(ctx, id)
	wcancel()
	if werr := <-done; werr != nil {
		t.Errorf("Work: %v", werr)
	}
	_ = c.Close()
	if err != nil || string(info.Result) != "42" {
		t.Fatalf("Wait: %+v %v", info, err)
	}
	stopHerd(t, h)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("store dir %s still there after exit: %v", dir, err)
	}
}

// TestJobsNodeFlags: bad node flags are usage errors naming the flag.
func TestJobsNodeFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--store", "x"}, "--name:"},
		{[]string{"--name", "n1"}, "--store:"},
		{[]string{"--name", "n1", "--store", "x", "--listen", "nope"}, "--listen:"},
		{[]string{"--name", "n1", "--store", "x", "--cluster", "127.0.0.1:6222"}, "--routes:"},
		{[]string{"--name", "n1", "--store", "x", "--cluster", "127.0.0.1:6222", "--routes", "bad"}, "--routes:"},
	} {
		code, _, stderr := runHerd(t, nil, append([]string{"jobs", "node"}, tc.args...)...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}
