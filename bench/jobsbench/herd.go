package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herdrun/herd/jobs"
)

// herdBench is herd's jobs package with an embedded server (JetStream file
// store, SyncInterval 1s), or, with cl set, on that cluster with replicas
// replicas. Every measurement runs on a fresh store (on the cluster, a fresh
// Prefix, whose streams are deleted after), as the peers' run on an emptied
// Redis, job table or stream.
type herdBench struct {
	dir      string
	cl       *cluster
	replicas int
	gen      int
	c        *jobs.Client
	// handled, when set, is called by the handler with each job's ID as it
	// returns (the burn-down round counts with it).
	handled atomic.Pointer[func(id string)]
}

type herdArgs struct {
	I int `json:"i"`
}

type herdResult struct {
	I int `json:"i"`
}

const (
	herdKind   = "noop"
	herdParked = "parked" // the queue nobody works in the Waits row
	herdWarm   = "warm"   // the queue of each fresh store's warm-up jobs
)

func startHerd(ctx context.Context, dir string) (*herdBench, error) {
	h := &herdBench{dir: dir}
	return h, h.reset(ctx)
}

// startHerdCluster is herd on cl: jobs.Config{URLs, Replicas: replicas}.
func startHerdCluster(ctx context.Context, cl *cluster, replicas int) (*herdBench, error) {
	h := &herdBench{cl: cl, replicas: replicas}
	return h, h.reset(ctx)
}

// tag names the contender in profile file names: herd or herd-r3.
func (h *herdBench) tag() string {
	if h.cl == nil {
		return "herd"
	}
	return "herd-r" + strconv.Itoa(h.replicas)
}

// clusterPrefix is the Prefix of the gen-th store on the cluster.
func clusterPrefix(gen int) string { return "r" + strconv.Itoa(gen) }

// open opens the next store: a new directory, or a new Prefix on the
// cluster (a JetStream API request to a busy cluster may go unanswered, so
// it tries up to three times).
func (h *herdBench) open(ctx context.Context) (*jobs.Client, error) {
	if h.cl == nil {
		d := h.dir + "/" + strconv.Itoa(h.gen)
		os.RemoveAll(h.dir + "/" + strconv.Itoa(h.gen-1))
		return jobs.Open(ctx, jobs.Config{Dir: d, SyncInterval: syncInterval, Logger: quietLogger()})
	}
	if h.gen > 1 {
		if err := h.cl.deleteStreams(ctx, clusterPrefix(h.gen-1)); err != nil {
			return nil, err
		}
	}
	cfg := jobs.Config{URLs: h.cl.urls, Replicas: h.replicas, Prefix: clusterPrefix(h.gen), Logger: quietLogger()}
	var err error
	for range 3 {
		octx, cancel := context.WithTimeout(ctx, time.Minute)
		var c *jobs.Client
		c, err = jobs.Open(octx, cfg)
		cancel()
		if err == nil || ctx.Err() != nil {
			return c, err
		}
	}
	return nil, err
}

// reset closes the client (if any) and opens a new one on an empty
// directory, warmed up with a few submits, a Get and a Wait.
func (h *herdBench) reset(ctx context.Context) error {
	if h.c != nil {
		if err := h.c.Close(); err != nil {
			return fmt.Errorf("herd: close: %w", err)
		}
		h.c = nil
	}
	h.gen++
	c, err := h.open(ctx)
	if err != nil {
		return fmt.Errorf("herd: open: %w", err)
	}
	h.c = c
	jobs.Register(c, herdKind, func(ctx context.Context, j *jobs.Job[herdArgs]) (herdResult, error) {
		if f := h.handled.Load(); f != nil {
			(*f)(j.ID)
		}
		return herdResult(j.Args), nil
	})
	wctx, cancel := context.WithCancel(ctx)
	worked := make(chan error, 1)
	go func() { worked <- c.Work(wctx, jobs.WorkOptions{Queues: map[string]jobs.QueueConfig{herdWarm: {}}}) }()
	defer func() { cancel(); <-worked }()
	for i := range 20 {
		id, err := c.Submit(ctx, herdKind, herdArgs{I: i}, jobs.SubmitOptions{Queue: herdWarm})
		if err != nil {
			return fmt.Errorf("herd: warm-up: %w", err)
		}
		wc, wcancel := context.WithTimeout(ctx, latencyTimeout)
		_, err = c.Wait(wc, id)
		wcancel()
		if err != nil {
			return fmt.Errorf("herd: warm-up: %w", err)
		}
	}
	return nil
}

func (h *herdBench) one(ctx context.Context, n int) (float64, error) {
	defer h.reset(ctx)
	defer profile(h.tag() + "-one")()
	t0 := time.Now()
	for i := range n {
		if _, err := h.c.Submit(ctx, herdKind, herdArgs{I: i}, jobs.SubmitOptions{}); err != nil {
			return 0, err
		}
	}
	return rate(n, t0), nil
}

func (h *herdBench) fill(ctx context.Context, n, batch int, queue string) ([]string, error) {
	ids := make([]string, 0, n)
	reqs := make([]jobs.Request, 0, batch)
	for i := 0; i < n; i += batch {
		reqs = reqs[:0]
		for j := i; j < min(n, i+batch); j++ {
			reqs = append(reqs, jobs.Request{Kind: herdKind, Args: herdArgs{I: j}, Options: jobs.SubmitOptions{Queue: queue}})
		}
		got, err := h.c.SubmitMany(ctx, reqs)
		if err != nil {
			return nil, err
		}
		ids = append(ids, got...)
	}
	return ids, nil
}

func (h *herdBench) bulk(ctx context.Context, n, batch int) (float64, error) {
	defer h.reset(ctx)
	defer profile(h.tag() + "-bulk")()
	t0 := time.Now()
	if _, err := h.fill(ctx, n, batch, ""); err != nil {
		return 0, err
	}
	return rate(n, t0), nil
}

// work runs Work on queue with conc workers until the returned stop is
// called.
func (h *herdBench) work(ctx context.Context, queue string, conc int) (stop func() error) {
	wctx, cancel := context.WithCancel(ctx)
	worked := make(chan error, 1)
	go func() {
		worked <- h.c.Work(wctx, jobs.WorkOptions{Queues: map[string]jobs.QueueConfig{queue: {Concurrency: conc}}})
	}()
	return func() error {
		cancel()
		if err := <-worked; err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("herd: Work: %w", err)
		}
		return nil
	}
}

// burn fills the queue, then counts handler returns until all n have
// returned and Waits for the last 2*conc of them. A worker stores every
// outcome through one connection, in the order the handlers return, so once
// the last ones are stored every earlier one is too.
func (h *herdBench) burn(ctx context.Context, n, conc, batch int) (burnResult, error) {
	defer h.reset(ctx)
	if _, err := h.fill(ctx, n, batch, jobs.DefaultQueue); err != nil {
		return burnResult{}, err
	}
	var mu sync.Mutex
	last := make([]string, 0, n)
	all := make(chan struct{})
	count := func(id string) {
		mu.Lock()
		last = append(last, id)
		if len(last) == n {
			close(all)
		}
		mu.Unlock()
	}
	h.handled.Store(&count)
	defer h.handled.Store(nil)
	defer profile(h.tag() + "-burn")()
	meter := cpuMeter(selfCPU)
	t0, c0 := time.Now(), meter()
	stop := h.work(ctx, jobs.DefaultQueue, conc)
	select {
	case <-all:
	case <-time.After(burnTimeout):
		mu.Lock()
		done := len(last)
		mu.Unlock()
		stop()
		return burnResult{}, fmt.Errorf("herd: %d of %d jobs handled after %s", done, n, burnTimeout)
	case <-ctx.Done():
		stop()
		return burnResult{}, ctx.Err()
	}
	mu.Lock()
	tail := last[max(0, len(last)-2*conc):]
	mu.Unlock()
	for _, id := range tail {
		wc, cancel := context.WithTimeout(ctx, latencyTimeout)
		info, err := h.c.Wait(wc, id)
		cancel()
		if err == nil && info.State != jobs.StateSucceeded {
			err = fmt.Errorf("job %s ended %s", id, info.State)
		}
		if err != nil {
			stop()
			return burnResult{}, fmt.Errorf("herd: %w", err)
		}
	}
	r := meter.measure(n, t0, c0)
	return r, stop()
}

func (h *herdBench) latency(ctx context.Context, n, warm int) ([]float64, error) {
	defer h.reset(ctx)
	stop := h.work(ctx, jobs.DefaultQueue, 64)
	defer profile(h.tag() + "-latency")()
	ms := make([]float64, 0, n)
	for i := range warm + n {
		t0 := time.Now()
		id, err := h.c.Submit(ctx, herdKind, herdArgs{I: i}, jobs.SubmitOptions{})
		if err != nil {
			stop()
			return nil, err
		}
		wc, cancel := context.WithTimeout(ctx, latencyTimeout)
		info, err := h.c.Wait(wc, id)
		cancel()
		if err != nil {
			stop()
			return nil, err
		}
		var r herdResult
		if info.State != jobs.StateSucceeded || json.Unmarshal(info.Result, &r) != nil || r.I != i {
			stop()
			return nil, fmt.Errorf("herd: job %s ended %s with result %s, want {\"i\":%d}", id, info.State, info.Result, i)
		}
		if i >= warm {
			ms = append(ms, msSince(t0))
		}
	}
	return ms, stop()
}

// rss returns this process's resident set size in bytes.
func rss() (int64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, fmt.Errorf("/proc/self/statm: %q", b)
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize()), err
}

// settle runs the collector a few times, as a long-lived process would
// while its waiters stay parked (each cycle may halve a parked goroutine's
// oversized stack), and returns the freed memory to the OS.
func settle() {
	for range 3 {
		runtime.GC()
	}
	debug.FreeOSMemory()
}

// waitSettle is how long the Waits row lets n fresh waiters settle into
// their blocked state before it reads the process's memory.
const waitSettle = time.Second

// waits submits n jobs to a queue nobody works, parks one Wait on each in a
// goroutine of its own, and returns the megabytes (10^6 bytes) of RSS the
// process gained, after a GC on both sides. Then it works the queue and
// checks that every Wait returns the job succeeded.
func (h *herdBench) waits(ctx context.Context, n int) (float64, error) {
	defer h.reset(ctx)
	ids, err := h.fill(ctx, n, 1000, herdParked)
	if err != nil {
		return 0, err
	}
	settle()
	before, err := rss()
	if err != nil {
		return 0, err
	}
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	wctx, cancel := context.WithTimeout(ctx, burnTimeout)
	defer cancel()
	var started sync.WaitGroup
	var failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for _, id := range ids {
		started.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			started.Done()
			info, err := h.c.Wait(wctx, id)
			if err == nil && info.State != jobs.StateSucceeded {
				err = fmt.Errorf("job %s ended %s", id, info.State)
			}
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
			}
		}()
	}
	started.Wait()
	time.Sleep(waitSettle)
	settle()
	after, err := rss()
	if err != nil {
		return 0, err
	}
	var ms1 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	stop := h.work(ctx, herdParked, 64)
	wg.Wait()
	if err := stop(); err != nil {
		return 0, err
	}
	if f := failed.Load(); f > 0 {
		return 0, fmt.Errorf("herd: %d of %d Waits failed, the first: %v", f, n, firstErr.Load())
	}
	mb := float64(after-before) / 1e6
	heap := (float64(ms1.HeapInuse) - float64(ms0.HeapInuse)) / 1e6
	stack := (float64(ms1.StackInuse) - float64(ms0.StackInuse)) / 1e6
	fmt.Fprintf(os.Stderr, "  %d Waits: RSS +%.1f MB (Go heap in use +%.1f MB, goroutine stacks +%.1f MB)\n", n, mb, heap, stack)
	return mb, nil
}

// bareWaits is the Waits row's baseline: the RSS, in MB, that n goroutines
// parked on a channel add, measured the same way, so that the row shows
// how much of herd's figure is the waiters' own goroutines.
func bareWaits(n int) (float64, error) {
	settle()
	before, err := rss()
	if err != nil {
		return 0, err
	}
	release := make(chan struct{})
	var started, wg sync.WaitGroup
	for range n {
		started.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			started.Done()
			<-release
		}()
	}
	started.Wait()
	time.Sleep(waitSettle)
	settle()
	after, err := rss()
	close(release)
	wg.Wait()
	return float64(after-before) / 1e6, err
}

func (h *herdBench) Close() error {
	if h.c == nil {
		return nil
	}
	return h.c.Close()
}
