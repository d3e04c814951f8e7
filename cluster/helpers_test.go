package cluster

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
)

// recorder collects a cluster's events for assertions.
type recorder struct {
	mu   sync.Mutex
	evs  []Event
	wake chan struct{}
}

func newRecorder() *recorder { return &recorder{wake: make(chan struct{})} }

func (r *recorder) add(e Event) {
	r.mu.Lock()
	r.evs = append(r.evs, e)
	close(r.wake)
	r.wake = make(chan struct{})
	r.mu.Unlock()
}

func (r *recorder) all() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.evs...)
}

// wait waits until pred holds for the events so far.
func (r *recorder) wait(t *testing.T, what string, d time.Duration, pred func([]Event) bool) []Event {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		evs := append([]Event(nil), r.evs...)
		wake := r.wake
		r.mu.Unlock()
		if pred(evs) {
			return evs
		}
		select {
		case <-wake:
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s; events: %s", d, what, fmtEvents(evs))
		}
	}
}

func count(evs []Event, f func(Event) bool) int {
	n := 0
	for _, e := range evs {
		if f(e) {
			n++
		}
	}
	return n
}

func fmtEvents(evs []Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "\n  %s w%d s%d pid %d", e.Kind, e.Worker, e.Slot, e.PID)
		if e.Kind == EventExit {
			fmt.Fprintf(&b, " %s expected=%v reason=%q", e.Status, e.Expected, e.Reason)
		}
	}
	return b.String()
}

// startReady runs c in the background until the test ends, and waits for
// it to be ready: the test fails if Run returns first or c is not ready
// within ready (naming rec's events, if rec is not nil). At the test's
// end, or at the returned stop if that comes first, c is shut down within
// shutdown, and the test fails if Shutdown or Run returns an error.
func startReady(t *testing.T, c *Cluster, ready, shutdown time.Duration, rec *recorder) (stop func()) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- c.Run(context.Background()) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), shutdown)
			defer cancel()
			if err := c.Shutdown(ctx); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			if err := <-errc; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	select {
	case <-c.Ready():
	case err := <-errc:
		errc <- err
		t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(ready):
		if rec != nil {
			t.Fatalf("cluster not ready after %v; events: %s", ready, fmtEvents(rec.all()))
		}
		t.Fatalf("cluster not ready after %v", ready)
	}
	return stop
}

// startLocal runs a scenario's cluster with this test process as the
// primary. It stops the cluster at cleanup.
func startLocal(t *testing.T, name string, tweak func(*Config)) (*Cluster, *recorder, string) {
	t.Helper()
	cfg, fn := scenario(name)
	cfg.NoSignals = true
	cfg.Logger = testLogger(t)
	rec := newRecorder()
	cfg.OnEvent = rec.add
	if tweak != nil {
		tweak(&cfg)
	}
	c := New(cfg, fn)
	startReady(t, c, 20*time.Second, 20*time.Second, rec)
	return c, rec, c.Addrs()[0].String()
}

// get fetches url on a new connection, within 10s, and returns the body; a
// status other than 200 is an error.
func get(url string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code, body, err := testutil.Get(ctx, url)
	if code == 0 { // no response
		return "", err
	}
	if code != http.StatusOK {
		return body, fmt.Errorf("status %d", code)
	}
	return body, err
}

// primary is a scenario primary running as a separate process.
type primary struct {
	t      *testing.T
	cmd    *exec.Cmd
	addr   string
	stderr *testutil.SyncBuffer
	mu     sync.Mutex
	evs    []ev
	wake   chan struct{}
	exited chan struct{}
	err    error
}

// startPrimary runs a scenario primary in a new process (this test binary)
// and waits for it to be ready unless noWait.
func startPrimary(t *testing.T, name string, noWait bool, env ...string) *primary {
	t.Helper()
	return startPrimaryExe(t, os.Args[0], name, noWait, env...)
}

func startPrimaryExe(t *testing.T, exe, name string, noWait bool, env ...string) *primary {
	t.Helper()
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), envScenario+"="+name, envPrimary+"=1")
	cmd.Env = append(cmd.Env, env...)
	p := &primary{t: t, cmd: cmd, stderr: &testutil.SyncBuffer{}, wake: make(chan struct{}), exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if a, ok := strings.CutPrefix(line, "ADDR "); ok {
				addrc <- a
				continue
			}
			if e, ok := parseEv(line); ok {
				p.mu.Lock()
				p.evs = append(p.evs, e)
				close(p.wake)
				p.wake = make(chan struct{})
				p.mu.Unlock()
			}
		}
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.exited:
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				<-p.exited
			}
		}
		if t.Failed() {
			t.Logf("primary stderr:\n%s", p.stderr.String())
		}
	})
	if noWait {
		return p
	}
	select {
	case p.addr = <-addrc:
	case <-p.exited:
		t.Fatalf("primary exited before ready: %v\n%s", p.err, p.stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("primary not ready after 20s\n%s", p.stderr.String())
	}
	return p
}

func (p *primary) events() []ev {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]ev(nil), p.evs...)
}

// waitEv waits until pred holds for the primary's events.
func (p *primary) waitEv(what string, d time.Duration, pred func([]ev) bool) []ev {
	p.t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		evs := append([]ev(nil), p.evs...)
		wake := p.wake
		p.mu.Unlock()
		if pred(evs) {
			return evs
		}
		select {
		case <-wake:
		case <-p.exited:
			p.mu.Lock()
			evs = append([]ev(nil), p.evs...)
			p.mu.Unlock()
			if pred(evs) {
				return evs
			}
			p.t.Fatalf("primary exited (%v) while waiting for %s\n%s", p.err, what, p.stderr.String())
		case <-deadline.C:
			p.t.Fatalf("timed out after %v waiting for %s; %d events\n%s", d, what, len(evs), p.stderr.String())
		}
	}
}

// wait waits for the primary to exit and returns its exit code.
func (p *primary) wait(d time.Duration) int {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(d):
		p.t.Fatalf("primary still running after %v\n%s", d, p.stderr.String())
	}
	return p.cmd.ProcessState.ExitCode()
}

func (p *primary) signal(sig syscall.Signal) {
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

// livePIDs returns the pids of workers that have forked and not exited.
func livePIDs(evs []ev) []int {
	live := map[int]bool{}
	var order []int
	for _, e := range evs {
		switch e.Kind {
		case "fork":
			live[e.PID] = true
			order = append(order, e.PID)
		case "exit":
			delete(live, e.PID)
		}
	}
	var out []int
	for _, pid := range order {
		if live[pid] {
			out = append(out, pid)
		}
	}
	return out
}

func countEv(evs []ev, f func(ev) bool) int {
	n := 0
	for _, e := range evs {
		if f(e) {
			n++
		}
	}
	return n
}
