package cluster

import (
	"context"
	"sync"
	"syscall"
	"testing"
	"time"
)

// gatedProbe is a ReadyProbe that makes the first worker ready at once and
// holds every later one (a reload's) until open is called; entered gets a
// value each time a held probe starts.
type gatedProbe struct {
	mu      sync.Mutex
	calls   int
	gate    chan struct{}
	entered chan struct{}
}

func newGatedProbe() *gatedProbe {
	return &gatedProbe{gate: make(chan struct{}), entered: make(chan struct{}, 16)}
}

func (g *gatedProbe) probe(ctx context.Context, pid int) error {
	g.mu.Lock()
	g.calls++
	first, gate := g.calls == 1, g.gate
	g.mu.Unlock()
	if first {
		return nil
	}
	g.entered <- struct{}{}
	select {
	case <-gate:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *gatedProbe) open() {
	g.mu.Lock()
	close(g.gate)
	g.mu.Unlock()
}

func (g *gatedProbe) waitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-g.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("no reload worker reached its readiness probe within 30s")
	}
}

// startGated runs one Command worker whose replacements wait for the gate.
func startGated(t *testing.T, signals bool) (*Cluster, *gatedProbe, *logWatch, *recorder) {
	g := newGatedProbe()
	lw := newLogWatch(t)
	rec := newRecorder()
	c := New(Config{
		Workers:    1,
		Command:    []string{"sleep", "1000"},
		ReadyProbe: g.probe,
		NoSignals:  !signals,
		Logger:     lw.logger(),
		OnEvent:    rec.add,
	}, nil)
	startReady(t, c, 30*time.Second, 20*time.Second, rec)

	return c, g, lw, rec
}

func forks(evs []Event) int { return count(evs, func(e Event) bool { return e.Kind == EventFork }) }

// Reload requests that arrive while a reload runs are neither lost nor run
// one by one: the first queues one more reload, the others join it, and
// the log says which. Four calls give two reloads.
func TestReloadQueuesOne(t *testing.T) {
	c, g, lw, rec := startGated(t, false)
	errc := make(chan error, 4)
	go func() { errc <- c.Reload(context.Background()) }()
	g.waitEntered(t) // the first reload waits for its new worker
	for range 3 {
		go func() { errc <- c.Reload(context.Background()) }()
	}
	lw.waitFor("reload queued: a reload is in progress", 1, 30*time.Second)
	lw.waitFor("merged into the queued reload", 2, 30*time.Second)
	g.open()
	for range 4 {
		select {
		case err := <-errc:
			if err != nil {
				t.Fatalf("Reload: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("Reload did not return within 60s")
		}
	}
	if n := lw.count("cluster: reload done"); n != 2 {
		t.Fatalf("%d reloads done, want 2 (one running, one queued)", n)
	}
	if n := forks(rec.all()); n != 3 {
		t.Fatalf("%d workers started, want 3 (1 + 2 reloads): %s", n, fmtEvents(rec.all()))
	}
}

// The same through SIGHUP: a SIGHUP during a reload queues one reload, the
// next ones are merged into it, each with its log line.
func TestSIGHUPDuringReloadQueuesOne(t *testing.T) {
	_, g, lw, rec := startGated(t, true)
	hup := func() {
		t.Helper()
		if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	hup()
	g.waitEntered(t)
	hup()
	lw.waitFor("reload queued: a reload is in progress", 1, 30*time.Second)
	hup()
	lw.waitFor("merged into the queued reload", 1, 30*time.Second)
	hup()
	lw.waitFor("merged into the queued reload", 2, 30*time.Second)
	g.open()
	lw.waitFor("cluster: reload done", 2, 60*time.Second)
	if n := forks(rec.all()); n != 3 {
		t.Fatalf("%d workers started, want 3 (1 + 2 reloads): %s", n, fmtEvents(rec.all()))
	}
	if n := lw.count("reload queued"); n != 1 {
		t.Fatalf("%d \"reload queued\" lines, want 1", n)
	}
}
