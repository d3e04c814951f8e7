package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestServeEventsAndWorkers(t *testing.T) {
	c, rec, addr := startLocal(t, "hello", nil)
	ws := c.Workers()
	if len(ws) != 2 {
		t.Fatalf("Workers() = %+v, want 2", ws)
	}
	pids := map[string]bool{}
	for _, w := range ws {
		if w.State != "ready" || w.RSS <= 0 || w.PID <= 0 {
			t.Fatalf("worker info %+v", w)
		}
		pids["Handled by worker "+itoa(w.PID)] = true
	}
	seen := map[string]int{}
	for range 40 {
		body, err := get("http://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		if !pids[body] {
			t.Fatalf("body %q from no known worker %v", body, pids)
		}
		seen[body]++
	}
	evs := rec.all()
	for _, k := range []EventKind{EventFork, EventOnline, EventListening, EventReady} {
		if n := count(evs, func(e Event) bool { return e.Kind == k }); n != 2 {
			t.Errorf("%d %s events, want 2: %s", n, k, fmtEvents(evs))
		}
	}
	// Messages both ways.
	if err := c.Broadcast(context.Background(), map[string]int{"n": 7}); err != nil {
		t.Fatal(err)
	}
	evs = rec.wait(t, "2 echo messages", 10*time.Second, func(evs []Event) bool {
		return count(evs, func(e Event) bool { return e.Kind == EventMessage }) == 2
	})
	for _, e := range evs {
		if e.Kind == EventMessage {
			var m struct {
				Echo   map[string]int
				Worker int
			}
			if err := json.Unmarshal(e.Data, &m); err != nil || m.Echo["n"] != 7 || m.Worker != e.Worker {
				t.Fatalf("message %s from worker %d: %v", e.Data, e.Worker, err)
			}
		}
	}
	if err := c.Send(context.Background(), ws[0].ID, "direct"); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, "direct echo", 10*time.Second, func(evs []Event) bool {
		return count(evs, func(e Event) bool {
			return e.Kind == EventMessage && e.Worker == ws[0].ID && strings.Contains(string(e.Data), "direct")
		}) == 1
	})
}

func TestRespawnAfterKill(t *testing.T) {
	c, rec, addr := startLocal(t, "hello", nil)
	victim := c.Workers()[0]
	if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	evs := rec.wait(t, "exit and replacement ready", 20*time.Second, func(evs []Event) bool {
		return count(evs, func(e Event) bool { return e.Kind == EventReady }) == 3
	})
	var exit Event
	for _, e := range evs {
		if e.Kind == EventExit {
			exit = e
		}
	}
	if exit.PID != victim.PID || exit.Status.Signal != syscall.SIGKILL || exit.Expected || exit.Slot != victim.Slot {
		t.Fatalf("exit event %+v for victim %+v", exit, victim)
	}
	ws := c.Workers()
	if len(ws) != 2 {
		t.Fatalf("after respawn: %+v", ws)
	}
	for _, w := range ws {
		if w.PID == victim.PID {
			t.Fatal("victim still listed")
		}
		if w.Slot == victim.Slot && w.Restarts != 1 {
			t.Fatalf("replacement %+v: Restarts %d, want 1", w, w.Restarts)
		}
	}
	if _, err := get("http://" + addr + "/"); err != nil {
		t.Fatal(err)
	}
}

func TestScale(t *testing.T) {
	c, rec, _ := startLocal(t, "hello", nil)
	if err := c.Scale(3); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, "3 ready", 20*time.Second, func(evs []Event) bool {
		return count(evs, func(e Event) bool { return e.Kind == EventReady }) == 3
	})
	if err := c.Scale(1); err != nil {
		t.Fatal(err)
	}
	evs := rec.wait(t, "2 exits", 20*time.Second, func(evs []Event) bool {
		return count(evs, func(e Event) bool { return e.Kind == EventExit }) == 2
	})
	for _, e := range evs {
		if e.Kind == EventExit && (!e.Expected || e.Reason != "scale down" || e.Status.Code != 0 || e.Slot == 0) {
			t.Fatalf("scale-down exit %+v", e)
		}
	}
	if ws := c.Workers(); len(ws) != 1 || ws[0].Slot != 0 {
		t.Fatalf("after Scale(1): %+v", ws)
	}
	if err := c.Scale(0); err == nil {
		t.Fatal("Scale(0) accepted")
	}
}

func TestReloadReplacesEveryWorker(t *testing.T) {
	c, rec, addr := startLocal(t, "hello", func(cfg *Config) { cfg.ShutdownTimeout = 3 * time.Second })
	before := c.Workers()
	if err := c.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	after := c.Workers()
	rec.wait(t, "old workers exited", 20*time.Second, func(evs []Event) bool {
		return count(evs, func(e Event) bool { return e.Kind == EventExit && e.Expected && e.Reason == "reload" }) == 2
	})
	ready := 0
	for _, w := range c.Workers() {
		for _, b := range before {
			if w.PID == b.PID {
				t.Fatalf("worker %d survived the reload", b.PID)
			}
		}
		if w.State == "ready" {
			ready++
		}
	}
	if ready != 2 || len(after) < 2 {
		t.Fatalf("after reload: %+v", c.Workers())
	}
	if _, err := get("http://" + addr + "/"); err != nil {
		t.Fatal(err)
	}
	// Every worker, old and new, drained on SIGTERM: none needed SIGKILL.
	// (Spawning must not switch the shared socket to blocking mode, which
	// would leave Accept stuck in the kernel and Close waiting for it.)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	evs := rec.all()
	if n := count(evs, func(e Event) bool {
		return e.Kind == EventExit && e.Status.Signal == 0 && e.Status.Code == 0 && e.Expected
	}); n != 4 {
		t.Fatalf("%d clean exits of 4: %s", n, fmtEvents(evs))
	}
}

func TestListenErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		policy Policy
		addr   string
		want   string
		in     syscall.Errno
	}{
		{PolicyShared, busy.Addr().String(), "address already in use (another process holds", syscall.EADDRINUSE},
		{PolicyReusePort, busy.Addr().String(), "address already in use", syscall.EADDRINUSE},
		{PolicyDispatch, busy.Addr().String(), "address already in use", syscall.EADDRINUSE},
		{PolicyShared, "127.0.0.1:99999", "invalid port", 0},
		{PolicyShared, "no-such-host.invalid:80", "cannot listen", 0},
	} {
		cfg := Config{Workers: 1, Policy: tc.policy, Listen: []Addr{{Address: tc.addr}}, NoSignals: true, Logger: testLogger(t)}
		err := Run(context.Background(), cfg, func(ctx context.Context, w *Worker) error { return nil })
		var le *ListenError
		if !errors.As(err, &le) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: err = %v, want a *ListenError with %q", tc.policy, tc.addr, err, tc.want)
		}
		if tc.in != 0 && !errors.Is(err, tc.in) {
			t.Errorf("%s %s: err = %v, not %v", tc.policy, tc.addr, err, tc.in)
		}
	}
}
