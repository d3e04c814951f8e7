package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/herdrun/herd/jobs"
	"github.com/herdrun/herd/jobs/jobsnode"
)

// replicaCost measures what replication costs on loopback: enqueue (bulk
// SubmitMany in batches of 100) and burn-down (n no-op jobs, one worker at
// concurrency 64) on the embedded server, on R1 and on R3 streams of one
// three-node cluster, in alternating rounds; it prints the medians.
func replicaCost(n, rounds int) error {
	dir, err := os.MkdirTemp("", "jobsreplicas-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	var routes []string
	for range 3 {
		p, err := freePort()
		if err != nil {
			return err
		}
		routes = append(routes, "127.0.0.1:"+strconv.Itoa(p))
	}
	var urls []string
	var nodes []*jobsnode.Node
	for i := range 3 {
		nd, err := jobsnode.Start(ctx, jobsnode.Config{Name: "n" + strconv.Itoa(i+1), StoreDir: filepath.Join(dir, strconv.Itoa(i)),
			Listen: "127.0.0.1:0", Cluster: routes[i], Routes: routes})
		if err != nil {
			return err
		}
		defer nd.Close()
		urls = append(urls, nd.ClientURL())
		nodes = append(nodes, nd)
	}
	for _, nd := range nodes {
		if err := nd.Ready(ctx); err != nil {
			return err
		}
	}
	// The nodes are up; wait for the JetStream leader through a client.
	fmt.Fprintln(os.Stderr, "nodes up:", urls)
	wctx, wcancel := context.WithTimeout(ctx, 2*time.Minute)
	c, err := jobs.Open(wctx, jobs.Config{URLs: urls, Replicas: 3, Prefix: "warm"})
	wcancel()
	if err != nil {
		return err
	}
	_ = c.Close()
	type setup struct {
		name string
		cfg  func(round int) jobs.Config
	}
	setups := []setup{
		{"embedded R1", func(r int) jobs.Config { return jobs.Config{Dir: filepath.Join(dir, "emb"+strconv.Itoa(r))} }},
		{"cluster R1", func(r int) jobs.Config { return jobs.Config{URLs: urls, Replicas: 1, Prefix: "r1_" + strconv.Itoa(r)} }},
		{"cluster R3", func(r int) jobs.Config { return jobs.Config{URLs: urls, Replicas: 3, Prefix: "r3_" + strconv.Itoa(r)} }},
	}
	enq := make([][]float64, len(setups))
	burn := make([][]float64, len(setups))
	for r := range rounds {
		for i, s := range setups {
			rctx, rcancel := context.WithTimeout(ctx, 3*time.Minute)
			e, b, err := replicaRound(rctx, s.cfg(r), n)
			rcancel()
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			enq[i] = append(enq[i], e)
			burn[i] = append(burn[i], b)
			fmt.Fprintf(os.Stderr, "round %d %-12s enqueue %8.0f jobs/s  burn-down %8.0f jobs/s\n", r+1, s.name, e, b)
		}
	}
	med := func(v []float64) float64 { slices.Sort(v); return v[len(v)/2] }
	fmt.Printf("%d jobs, %d alternating rounds, medians (jobs/s):\n", n, rounds)
	for i, s := range setups {
		e, b := med(enq[i]), med(burn[i])
		fmt.Printf("  %-12s enqueue %8.0f  burn-down %8.0f  (vs embedded R1: %.2fx, %.2fx)\n", s.name, e, b, e/med(enq[0]), b/med(burn[0]))
	}
	return nil
}

// replicaRound enqueues n jobs, then runs them all; it returns both rates.
func replicaRound(ctx context.Context, cfg jobs.Config, n int) (enqueue, burn float64, err error) {
	c, err := jobs.Open(ctx, cfg)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	var left atomic.Int64
	left.Store(int64(n))
	all := make(chan struct{})
	jobs.Register(c, "noop", func(ctx context.Context, j *jobs.Job[int]) (int, error) {
		if left.Add(-1) == 0 {
			close(all)
		}
		return 0, nil
	})
	if err := c.Declare(ctx, "noop"); err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	for sent := 0; sent < n; sent += 100 {
		reqs := make([]jobs.Request, min(100, n-sent))
		for i := range reqs {
			reqs[i] = jobs.Request{Kind: "noop", Args: sent + i}
		}
		if _, err := c.SubmitMany(ctx, reqs); err != nil {
			return 0, 0, err
		}
	}
	enqueue = float64(n) / time.Since(t0).Seconds()
	wctx, wcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	t1 := time.Now()
	go func() {
		done <- c.Work(wctx, jobs.WorkOptions{Queues: map[string]jobs.QueueConfig{jobs.DefaultQueue: {Concurrency: 64}}})
	}()
	select {
	case <-all:
	case <-ctx.Done():
	}
	burn = float64(n) / time.Since(t1).Seconds()
	wcancel()
	if err := <-done; err != nil {
		return 0, 0, err
	}
	return enqueue, burn, ctx.Err()
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
