package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// The reliability test re-executes the test binary as worker processes:
// workerEnv holds the server URL, and these the queue and concurrency.
const (
	workerEnv   = "HERD_JOBS_TEST_WORKER"
	workerQueue = "HERD_JOBS_TEST_QUEUE"
	workerConc  = "HERD_JOBS_TEST_CONC"
	ranSubject  = "test.ran"
)

type mixArgs struct {
	Mode string `json:"mode"`
	N    int    `json:"n"`
}

// mixHandler is the reliability test's handler, in the test process (t
// set) and in the worker processes (t nil). Every start is announced on
// ranSubject. Only a worker process kills itself on a kill job: in the
// test process such a job fails the test instead of the test binary.
func mixHandler(c *Client, t testing.TB) Handler[mixArgs, int] {
	return func(ctx context.Context, j *Job[mixArgs]) (int, error) {
		_ = c.nc.Publish(ranSubject, []byte(j.ID+" "+strconv.Itoa(j.Attempt)))
		switch j.Args.Mode {
		case "flaky":
			if j.Attempt == 1 {
				return 0, errors.New("flaky: first attempt fails")
			}
		case "panic":
			panic(fmt.Sprintf("mix %d", j.Args.N))
		case "timeout":
			<-ctx.Done()
			return 0, ctx.Err()
		case "cancelr":
			if err := j.Progress(0.5, "waiting to be cancelled"); err != nil {
				return 0, err
			}
			<-ctx.Done()
			return 0, ctx.Err()
		case "kill":
			if t != nil {
				t.Errorf("kill job %s of queue %q ran in the test process; only the worker processes of queue \"crash\" may run it", j.ID, j.Queue)
				return 0, fmt.Errorf("%w: kill job %s of queue %q in the test process", ErrPermanent, j.ID, j.Queue)
			}
			if j.Attempt == 1 {
				_ = c.nc.Flush()
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
		}
		return j.Args.N, nil
	}
}

// workerMain is a worker process: it runs the mix until its stdin closes.
func workerMain() {
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); cancel() }()
	c, err := Open(ctx, Config{URLs: []string{os.Getenv(workerEnv)}, AckWait: 2 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	Register(c, "mix", mixHandler(c, nil))
	conc, _ := strconv.Atoi(os.Getenv(workerConc))
	err = c.Work(ctx, WorkOptions{
		Queues:          map[string]QueueConfig{os.Getenv(workerQueue): {Concurrency: conc}},
		Backoff:         func(int) time.Duration { return 5 * time.Millisecond },
		ShutdownTimeout: 5 * time.Second,
	})
	_ = c.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

type proc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
}

func startWorker(t *testing.T, url, queue string, conc int) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), workerEnv+"="+url, workerQueue+"="+queue, workerConc+"="+strconv.Itoa(conc))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, stdin: in, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p
}

func (p *proc) stop() {
	_ = p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func TestReliabilityMix(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 jobs over worker processes")
	}
	ctx, cancelAll := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancelAll()
	c := open(t, Config{Listen: "127.0.0.1:0", AckWait: 2 * time.Second})
	url := c.URL()

	// Count every start, over all processes.
	var mu sync.Mutex
	starts := map[string]int{}
	sub, err := c.nc.Subscribe(ranSubject, func(m *nats.Msg) {
		id, _, _ := strings.Cut(string(m.Data), " ")
		mu.Lock()
		starts[id]++
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = sub.SetPendingLimits(-1, -1)
	defer func() { _ = sub.Unsubscribe() }()

	Register(c, "mix", mixHandler(c, t))
	// The kinds become known when a worker starts; this process's worker
	// serves the default queue with the two worker processes.
	work(t, c, WorkOptions{
		Queues:          map[string]QueueConfig{DefaultQueue: {Concurrency: 32}},
		Backoff:         func(int) time.Duration { return 5 * time.Millisecond },
		ShutdownTimeout: 5 * time.Second,
	})
	var procs []*proc
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	for range 2 {
		procs = append(procs, startWorker(t, url, DefaultQueue, 16))
	}

	const total = 10_000
	counts := map[string]int{"kill": 4, "cancelq": 500, "cancelr": 100, "timeout": 100, "panic": 200, "flaky": 1000}
	counts["ok"] = total - 4 - 500 - 100 - 100 - 200 - 1000
	var reqs []Request
	mode := map[string]string{}
	for m, n := range counts {
		for i := range n {
			opts := SubmitOptions{}
			switch m {
			case "kill":
				opts.Queue = "crash"
			case "cancelq":
				opts.Queue = "later"
			case "panic":
				opts.MaxAttempts = 2
			case "timeout":
				opts.MaxAttempts, opts.Timeout = 1, 100*time.Millisecond
			}
			reqs = append(reqs, Request{Kind: "mix", Args: mixArgs{Mode: m, N: i}, Options: opts})
		}
	}
	// Wait for every job from the start: 10,000 waiters on one watch.
	type result struct {
		in  Info
		err error
	}
	results := make(map[string]chan result, total)
	var ids []string
	for start := 0; start < len(reqs); start += 1000 {
		got, err := c.SubmitMany(ctx, reqs[start:min(start+1000, len(reqs))])
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range got {
			mode[id] = reqs[start+i].Args.(mixArgs).Mode
			ch := make(chan result, 1)
			results[id] = ch
			go func() { in, err := c.Wait(ctx, id); ch <- result{in, err} }()
		}
		ids = append(ids, got...)
	}
	// Cancel the queued ones (no worker serves "later" yet), and the
	// cancelr ones once they run.
	var cancelled []string
	for _, id := range ids {
		if mode[id] == "cancelq" {
			if err := c.Cancel(ctx, id); err != nil {
				t.Fatal(err)
			}
			cancelled = append(cancelled, id)
		}
	}
	var cwg sync.WaitGroup
	var cancelErrs atomic.Int32
	for _, id := range ids {
		if mode[id] != "cancelr" {
			continue
		}
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			ch, err := c.Watch(ctx, id)
			if err != nil {
				cancelErrs.Add(1)
				return
			}
			for in := range ch {
				if in.State == StateRunning && in.Progress > 0 {
					if err := c.Cancel(ctx, id); err != nil {
						cancelErrs.Add(1)
					}
				}
			}
		}()
	}
	// Now serve "later": none of its jobs may run.
	work(t, c, WorkOptions{Queues: map[string]QueueConfig{"later": {Concurrency: 4}}})
	// The crash queue: worker processes that SIGKILL themselves on a kill
	// job's first attempt; keep two alive until the kill jobs are done.
	crashDone := make(chan struct{})
	var crashWG sync.WaitGroup
	crashWG.Add(1)
	kills := 0
	go func() {
		defer crashWG.Done()
		live := []*proc{startWorker(t, url, "crash", 1), startWorker(t, url, "crash", 1)}
		for {
			for i, p := range live {
				select {
				case <-p.done:
					kills++
					live[i] = startWorker(t, url, "crash", 1)
				default:
				}
			}
			select {
			case <-crashDone:
				for _, p := range live {
					p.stop()
				}
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()

	finals := map[string]Info{}
	for _, id := range ids {
		select {
		case r := <-results[id]:
			if r.err != nil {
				t.Fatalf("Wait %s (%s): %v", id, mode[id], r.err)
			}
			finals[id] = r.in
		case <-ctx.Done():
			t.Fatalf("Wait did not return for %s (%s)", id, mode[id])
		}
	}
	close(crashDone)
	crashWG.Wait()
	cwg.Wait()
	if n := cancelErrs.Load(); n != 0 {
		t.Fatalf("%d cancels failed", n)
	}

	want := map[string]struct {
		state   State
		attempt int
		errHas  string
		starts  int
	}{
		"ok":      {StateSucceeded, 1, "", 1},
		"flaky":   {StateSucceeded, 2, "", 2},
		"panic":   {StateFailed, 2, "panicked", 2},
		"timeout": {StateFailed, 1, "timed out", 1},
		"cancelq": {StateCancelled, 0, "", 0},
		"cancelr": {StateCancelled, 1, "", 1},
		"kill":    {StateSucceeded, 2, "", 2},
	}
	// Let late start notices arrive, then check nothing ran again.
	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	bad := 0
	for _, id := range ids {
		in, w := finals[id], want[mode[id]]
		if in.State != w.state || in.Attempt != w.attempt || !strings.Contains(in.Error, w.errHas) || starts[id] != w.starts {
			if bad++; bad < 10 {
				t.Errorf("%s %s: state %s attempt %d starts %d error %q; want %s %d %d", id, mode[id], in.State, in.Attempt, starts[id], in.Error, w.state, w.attempt, w.starts)
			}
		}
		if mode[id] == "ok" && string(in.Result) != strconv.Itoa(mixN(in)) {
			t.Errorf("%s: result %s", id, in.Result)
		}
	}
	if bad > 0 {
		t.Fatalf("%d jobs ended wrong", bad)
	}
	if kills < counts["kill"] {
		t.Errorf("%d worker processes died, want %d", kills, counts["kill"])
	}
	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var sum QueueStats
	for _, s := range st {
		sum.Succeeded += s.Succeeded
		sum.Failed += s.Failed
		sum.Cancelled += s.Cancelled
		sum.Retried += s.Retried
		sum.Depth += s.Depth + s.Running + s.Scheduled
	}
	wantSum := QueueStats{
		Succeeded: uint64(counts["ok"] + counts["flaky"] + counts["kill"]),
		Failed:    uint64(counts["panic"] + counts["timeout"]),
		Cancelled: uint64(counts["cancelq"] + counts["cancelr"]),
		Retried:   uint64(counts["flaky"] + counts["panic"] + counts["kill"]),
	}
	if sum != wantSum || sum.Succeeded+sum.Failed+sum.Cancelled != total {
		t.Fatalf("stats %+v, want %+v", sum, wantSum)
	}
	_ = cancelled
}

func mixN(in Info) int {
	var a struct{ N int }
	_ = json.Unmarshal(in.Args, &a)
	return a.N
}
