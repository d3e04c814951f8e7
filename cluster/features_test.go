package cluster

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/loadgen"
	"github.com/herdrun/herd/internal/testutil"
)

func TestPolicies(t *testing.T) {
	for _, tc := range []struct {
		policy Policy
		sticky bool
	}{{PolicyShared, false}, {PolicyReusePort, false}, {PolicyDispatch, false}, {PolicyDispatch, true}} {
		t.Run(tc.policy.String()+map[bool]string{true: "-sticky"}[tc.sticky], func(t *testing.T) {
			c, _, addr := startLocal(t, "hello", func(cfg *Config) { cfg.Policy, cfg.Sticky = tc.policy, tc.sticky })
			res := loadgen.Run(context.Background(), loadgen.Options{Addr: addr, Conns: 4, Requests: 50, CountBodies: true})
			if res.Failed != 0 || res.OK != 200 {
				t.Fatalf("%+v", res)
			}
			if tc.sticky && len(res.Bodies) != 1 {
				t.Fatalf("sticky: one client IP served by %d workers: %v", len(res.Bodies), res.Bodies)
			}
			if tc.policy == PolicyDispatch && !tc.sticky {
				// Least-loaded dispatch spreads sequential-ish load evenly.
				for body, n := range res.Bodies {
					if n < 50 {
						t.Fatalf("dispatch balance: %s served only %d of 200: %v", body, n, res.Bodies)
					}
				}
				time.Sleep(100 * time.Millisecond)
				for _, w := range c.Workers() {
					if w.Inflight != 0 {
						t.Fatalf("worker %d has %d open dispatched connections after the load", w.ID, w.Inflight)
					}
				}
			}
			if err := c.Reload(context.Background()); err != nil {
				t.Fatal(err)
			}
			// Under shared and dispatch a reload loses nothing. Under
			// reuseport a connection hashed to the socket of a worker that
			// just left is reset (documented): a retry gets through.
			_, err := get("http://" + addr + "/")
			if err != nil && tc.policy == PolicyReusePort {
				_, err = get("http://" + addr + "/")
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestReloadAbortKeepsOldWorkers(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "bad-release")
	t.Setenv("HERD_TEST_MARKER", marker)
	c, rec, addr := startLocal(t, "reloadfail", nil)
	before := c.Workers()
	os.WriteFile(marker, nil, 0o644)
	err := c.Reload(context.Background())
	var re *ReloadError
	if !errors.As(err, &re) || re.Slot != 0 || re.Old != before[0].ID || !strings.Contains(err.Error(), "exited before it was ready: exited with code 1: bad release") {
		t.Fatalf("Reload = %v", err)
	}
	after := c.Workers()
	if len(after) != 2 || after[0].PID != before[0].PID || after[1].PID != before[1].PID {
		t.Fatalf("workers changed after an aborted reload: %+v -> %+v", before, after)
	}
	if _, err := get("http://" + addr + "/"); err != nil {
		t.Fatal(err)
	}
	if n := count(rec.all(), func(e Event) bool { return e.Kind == EventExit && e.Worker != re.New }); n != 0 {
		t.Fatalf("an old worker exited: %s", fmtEvents(rec.all()))
	}
	os.Remove(marker)
	if err := c.Reload(context.Background()); err != nil {
		t.Fatalf("reload after the fix: %v", err)
	}
}

func TestRecycle(t *testing.T) {
	t.Run("max-requests", func(t *testing.T) {
		_, rec, addr := startLocal(t, "hello", func(cfg *Config) { cfg.MaxRequests = 10 })
		// Requests go on until two workers were recycled, not for a
		// fixed count: a worker that asked to be recycled serves on until
		// its replacement is ready, and the shared queue splits new
		// connections unevenly, so no number of requests is sure to bring
		// two workers to 10 (45 brought only one, under CPU load).
		ctx, cancel := context.WithCancel(context.Background())
		var res loadgen.Result
		done := make(chan struct{})
		go func() {
			defer close(done)
			res = loadgen.Run(ctx, loadgen.Options{Addr: addr, Conns: 1, Duration: 3 * testutil.WaitTimeout})
		}()
		t.Cleanup(func() { cancel(); <-done }) // also when rec.wait fails the test
		rec.wait(t, "recycled workers", 2*testutil.WaitTimeout, func(evs []Event) bool {
			return count(evs, func(e Event) bool {
				return e.Kind == EventExit && e.Expected && strings.HasPrefix(e.Reason, "recycle: served 10 requests")
			}) >= 2
		})
		cancel()
		<-done
		if res.Failed != 0 || res.OK < 20 {
			t.Fatalf("%+v; want no failure and at least 20 requests", res)
		}
	})
	t.Run("max-lifetime", func(t *testing.T) {
		_, rec, addr := startLocal(t, "hello", func(cfg *Config) { cfg.MaxLifetime = 500 * time.Millisecond; cfg.RecycleJitter = 0.2 })
		evs := rec.wait(t, "both workers recycled", 20*time.Second, func(evs []Event) bool {
			return count(evs, func(e Event) bool { return e.Kind == EventExit && e.Reason == "recycle: max lifetime" }) >= 2
		})
		if n := count(evs, func(e Event) bool { return e.Kind == EventExit && !e.Expected }); n != 0 {
			t.Fatalf("unexpected exits: %s", fmtEvents(evs))
		}
		if _, err := get("http://" + addr + "/"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestListenOnDemand(t *testing.T) {
	// No Config.Listen: the first worker's Listen makes the primary open it.
	cfg, fn := scenario("hello")
	cfg.Listen = nil
	cfg.NoSignals, cfg.Logger = true, testLogger(t)
	c := New(cfg, fn)
	errc := make(chan error, 1)
	go func() { errc <- c.Run(context.Background()) }()
	select {
	case <-c.Ready():
	case err := <-errc:
		t.Fatal(err)
	case <-time.After(20 * time.Second):
		t.Fatal("not ready")
	}
	addrs := c.Addrs()
	if len(addrs) != 1 {
		t.Fatalf("Addrs = %v", addrs)
	}
	if body, err := get("http://" + addrs[0].String() + "/"); err != nil || !strings.HasPrefix(body, "Handled by worker ") {
		t.Fatalf("%q %v", body, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// TestCommandWorkers runs a socket-activated program that is not a cluster
// worker: it gets LISTEN_PID equal to its own pid (through the trampoline),
// LISTEN_FDS and LISTEN_FDNAMES, and readiness over the Node channel.
func TestCommandWorkers(t *testing.T) {
	c, rec, addr := startLocal(t, "hello", func(cfg *Config) {
		cfg.Command = []string{os.Args[0], "-test.run=^$"}
		cfg.Env = []string{envActivated + "=1"}
		cfg.Listen[0].Name = "web"
	})
	seen := map[string]bool{}
	for range 20 {
		body, err := get("http://" + addr + "/")
		if err != nil || !strings.HasPrefix(body, "activated ") || !strings.HasSuffix(body, " web") {
			t.Fatalf("%q %v", body, err)
		}
		seen[body] = true
	}
	if err := c.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	evs := rec.wait(t, "4 ready", 10*time.Second, func(evs []Event) bool {
		return count(evs, func(e Event) bool { return e.Kind == EventReady }) == 4
	})
	_ = evs
	if _, err := get("http://" + addr + "/"); err != nil {
		t.Fatal(err)
	}
}

// Listener gives a supervisor the primary's shared socket for an address:
// a configured one as written or as bound, or one it opens on demand, the
// same file for the same address from then on, and a worker started later
// inherits it.
func TestListenerForASupervisor(t *testing.T) {
	c, _, addr := startLocal(t, "hello", nil)
	f, err := c.Listener("", addr)
	if err != nil || f == nil {
		t.Fatalf("Listener(%s) = %v, %v", addr, f, err)
	}
	g, err := c.Listener("tcp", "localhost:0")
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.Listener("tcp", "localhost:0")
	if err != nil || again != g {
		t.Fatalf("second Listener for the same address = %v, %v; want the same file", again, err)
	}
	addrs := c.Addrs()
	if len(addrs) != 2 {
		t.Fatalf("Addrs = %v, want the configured address and the new one", addrs)
	}
	if _, err := c.Listener("tcp", addrs[0].String()); err != nil {
		t.Fatalf("Listener(as bound %s): %v", addrs[0], err)
	}
	// The new socket is a listening one: a connection to it is queued.
	conn, err := net.DialTimeout("tcp", addrs[1].String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if _, err := c.Listener("tcp", "256.0.0.1:1"); err == nil {
		t.Fatal("Listener for an address that cannot be opened: no error")
	} else if _, ok := errors.AsType[*ListenError](err); !ok {
		t.Fatalf("Listener(bad address) = %v, want a *ListenError", err)
	}
}
