package cluster

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/loadgen"
	"github.com/herdrun/herd/internal/testutil"
	"github.com/herdrun/herd/ipc"
)

// The servers below take the listener on fd 3, say "ready" on the Node
// channel, answer every request after a delay (so that a worker is nearly
// always in the middle of one) and die at once on SIGTERM, the default of
// each runtime.

// pyAbrupt is Python's http.server.
const pyAbrupt = `import os, socket, time, http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(0.02)
        b = ("py %d" % os.getpid()).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer(("", 0), H, bind_and_activate=False)
srv.socket.close()
srv.socket = socket.socket(fileno=3)
os.write(int(os.environ["NODE_CHANNEL_FD"]), b'"ready"\n')
srv.serve_forever()
`

// nodeAbrupt is Node's http server.
const nodeAbrupt = `const http = require("http");
const srv = http.createServer((req, res) => {
  setTimeout(() => res.end("node " + process.pid), 20);
});
srv.listen({ fd: 3 }, () => process.send("ready"));
`

// runAbrupt is the same in Go, with net/http and no signal handling.
func runAbrupt() int {
	ln, err := netFileListener(os.NewFile(3, "listener"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "abrupt:", err)
		return 3
	}
	conn, err := ipc.FromEnv(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "abrupt:", err)
		return 3
	}
	go http.Serve(ln, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
		fmt.Fprintf(rw, "go %d", os.Getpid())
	}))
	_ = conn.Send(context.Background(), "ready")
	select {}
}

// quiesceDeadline is the tests' QuiesceTimeout. Catching a single-threaded
// server idle takes luck under load: each time it is resumed to answer the
// connections it holds, it may take the next one from a busy queue before
// it can be stopped again. On a machine loaded by other work and two busy
// loops, Python's http.server took up to 3.6s of tries and once more than
// the default 5s (then it is signalled anyway, with a warning, and a
// request may be lost, as documented). These tests are about what
// quiescing keeps once it succeeds, so they give it a generous deadline.
const quiesceDeadline = testutil.WaitTimeout

// reloadsUnderLoad runs two workers of cmd, reloads them five times under
// new-connection load and returns the load's result.
func reloadsUnderLoad(t *testing.T, cmd []string, env []string, quiesce time.Duration) loadgen.Result {
	t.Helper()
	lw := newLogWatch(t)
	c := New(Config{
		Workers:         2,
		Listen:          []Addr{{Address: "127.0.0.1:0"}},
		Command:         cmd,
		Env:             env,
		NoSignals:       true,
		QuiesceTimeout:  quiesce,
		ShutdownTimeout: 10 * time.Second,
		Logger:          lw.logger(),
	}, nil)
	defer startReady(t, c, 60*time.Second, 30*time.Second, nil)()

	addr := c.Addrs()[0].String()
	var served countingObserver
	stop := load(addr, loadgen.Options{Conns: 8, Observe: served.observe})
	for i := range 5 {
		// Each reload starts with requests in flight on every worker.
		served.waitFor(t, served.n()+20)
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		err := c.Reload(ctx)
		cancel()
		if err != nil {
			stop()
			t.Fatalf("reload %d: %v", i+1, err)
		}
	}
	served.waitFor(t, served.n()+20)
	res := stop()
	t.Logf("%s: 5 reloads under load: %d ok, %d failed %v; quiesced %d of 10, forced %d, accept clamps %d", cmd[0], res.OK, res.Failed, res.Errors,
		lw.count("quiesced_in="), lw.count("still held connections"), lw.count("accept_clamped="))
	return res
}

// countingObserver counts finished requests, for waits on progress.
type countingObserver struct {
	rec recorder
}

func (o *countingObserver) observe(loadgen.Sample) { o.rec.add(Event{}) }
func (o *countingObserver) n() int {
	o.rec.mu.Lock()
	defer o.rec.mu.Unlock()
	return len(o.rec.evs)
}

func (o *countingObserver) waitFor(t *testing.T, n int) {
	t.Helper()
	if o.rec.wake == nil {
		o.rec.mu.Lock()
		if o.rec.wake == nil {
			o.rec.wake = make(chan struct{})
		}
		o.rec.mu.Unlock()
	}
	o.rec.wait(t, fmt.Sprintf("%d requests", n), 60*time.Second, func(evs []Event) bool { return len(evs) >= n })
}

// A rolling reload of programs that die at once on SIGTERM loses no
// request: each old worker is signalled only while stopped and holding no
// connection, and a Go one (whose runtime catches SIGTERM, so that its
// other threads run on until it dies) with its accepts clamped. Without
// quiescing (QuiesceTimeout < 0) the same runs lose requests that the old
// workers had accepted.
func TestReloadAbruptProgramsLoseNothing(t *testing.T) {
	dir := t.TempDir()
	py := filepath.Join(dir, "server.py")
	js := filepath.Join(dir, "server.js")
	for f, src := range map[string]string{py: pyAbrupt, js: nodeAbrupt} {
		if err := os.WriteFile(f, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name string
		cmd  []string
		env  []string
	}{
		{"python", []string{"python3", py}, nil},
		{"go", []string{os.Args[0]}, []string{envAbrupt + "=1"}},
		{"node", []string{"node", js}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "node" {
				testutil.RequireNode(t)
			}
			if tc.name == "python" {
				if _, err := exec.LookPath("python3"); err != nil {
					t.Skip("python3 not in PATH; install python3 to run this test")
				}
			}
			// HERD_TEST_NO_QUIESCE=1 measures the loss without it.
			quiesce, off := quiesceDeadline, os.Getenv("HERD_TEST_NO_QUIESCE") != ""
			if off {
				quiesce = -1
			}
			res := reloadsUnderLoad(t, tc.cmd, tc.env, quiesce)
			if off {
				t.Skipf("without quiescing: %d ok, %d failed", res.OK, res.Failed)
			}
			if res.Failed != 0 || res.OK < 100 {
				t.Fatalf("5 reloads under load: %d ok, %d failed (want 0): %v", res.OK, res.Failed, res.Errors)
			}
		})
	}
}

// Scaling down quiesces the surplus Command workers too: five rounds of
// 3 -> 1 -> 3 workers of a Node server that dies at once on SIGTERM, under
// load, lose no request.
func TestScaleDownAbruptLosesNothing(t *testing.T) {
	node := testutil.RequireNode(t)
	js := filepath.Join(t.TempDir(), "server.js")
	if err := os.WriteFile(js, []byte(nodeAbrupt), 0o644); err != nil {
		t.Fatal(err)
	}
	quiesce, off := quiesceDeadline, os.Getenv("HERD_TEST_NO_QUIESCE") != ""
	if off {
		quiesce = -1
	}
	lw := newLogWatch(t)
	rec := newRecorder()
	c := New(Config{
		Workers:        3,
		Listen:         []Addr{{Address: "127.0.0.1:0"}},
		Command:        []string{node, js},
		NoSignals:      true,
		QuiesceTimeout: quiesce,
		Logger:         lw.logger(),
		OnEvent:        rec.add,
	}, nil)
	defer startReady(t, c, 60*time.Second, 30*time.Second, nil)()

	var served countingObserver
	stop := load(c.Addrs()[0].String(), loadgen.Options{Conns: 8, Observe: served.observe})
	exits := func(evs []Event) int { return count(evs, func(e Event) bool { return e.Kind == EventExit }) }
	readies := func(evs []Event) int { return count(evs, func(e Event) bool { return e.Kind == EventReady }) }
	for i := 1; i <= 5; i++ {
		served.waitFor(t, served.n()+20)
		if err := c.Scale(1); err != nil {
			t.Fatal(err)
		}
		rec.wait(t, "two workers gone", 60*time.Second, func(evs []Event) bool { return exits(evs) == 2*i })
		if err := c.Scale(3); err != nil {
			t.Fatal(err)
		}
		rec.wait(t, "three workers ready", 60*time.Second, func(evs []Event) bool { return readies(evs) == 3+2*i })
	}
	served.waitFor(t, served.n()+20)
	res := stop()
	t.Logf("5 rounds of 3 -> 1 -> 3 workers under load: %d ok, %d failed %v; quiesced %d of 10", res.OK, res.Failed, res.Errors, lw.count("quiesced_in="))
	if off {
		t.Skipf("without quiescing: %d ok, %d failed", res.OK, res.Failed)
	}
	if res.Failed != 0 || res.OK < 100 {
		t.Fatalf("%d ok, %d failed: %v", res.OK, res.Failed, res.Errors)
	}
}

// Answered keep-alive connections left open by their client, and
// connections opened ahead of use, do not hold a worker's quiescing until
// the timeout: once they have carried no data for quiesceIdle (or
// quiesceUnused), the worker is signalled.
func TestQuiesceIdleKeepAlive(t *testing.T) {
	lw := newLogWatch(t)
	c := New(Config{
		Workers:        2,
		Listen:         []Addr{{Address: "127.0.0.1:0"}},
		Command:        []string{os.Args[0]},
		Env:            []string{envAbrupt + "=1"},
		NoSignals:      true,
		QuiesceTimeout: time.Minute,
		Logger:         lw.logger(),
	}, nil)
	defer startReady(t, c, 60*time.Second, 30*time.Second, nil)()

	// Keep-alive connections to both workers (a few, as the kernel picks
	// the worker), answered and left open.
	tr := &http.Transport{MaxIdleConnsPerHost: 8}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	url := "http://" + c.Addrs()[0].String() + "/"
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			resp, err := client.Get(url)
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// And connections opened ahead of use, on which nothing is sent.
	for range 4 {
		conn, err := net.Dial("tcp", c.Addrs()[0].String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if n := lw.count("quiesced_in="); n != 2 {
		t.Fatalf("%d of 2 workers quiesced:\n%s", n, lw.String())
	}
	t.Logf("reload with idle keep-alive connections open took %v", time.Since(start).Round(time.Millisecond))
}
