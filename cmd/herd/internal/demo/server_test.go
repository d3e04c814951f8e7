package demo

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/herdrun/herd/internal/testutil"
)

// startServer serves s on a free port until the test ends and returns its
// base URL and a function that stops it and returns Serve's error.
func startServer(t *testing.T, s *Server) (string, func() error) {
	t.Helper()
	ln, err := Listen(context.Background(), "127.0.0.1", 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	var stopped bool
	var serr error
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			serr = <-done
		}
		return serr
	}
	t.Cleanup(func() { stop() })
	return "http://" + ln.Addr().String(), stop
}

func TestServerRoutes(t *testing.T) {
	url, stop := startServer(t, &Server{Limit: 1000})
	ctx := context.Background()
	for _, c := range []struct {
		path string
		code int
		body string
	}{
		{"/", 200, "OK"},
		{"/heavy", 200, "Result is 20979000"},
		{"/nope", 404, "404 page not found\n"},
	} {
		code, body, err := testutil.Get(ctx, url+c.path)
		if err != nil {
			t.Fatal(err)
		}
		if code != c.code || body != c.body {
			t.Errorf("GET %s = %d %q, want %d %q", c.path, code, body, c.code, c.body)
		}
	}
	resp, err := testutil.HTTPClient().Post(url+"/", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST / = %d, want 405", resp.StatusCode)
	}
	if err := stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// inFlightHeavy starts GET /heavy on a server whose Limit makes it run
// forever, and returns once the worker runs: its pid, the request's cancel
// function and a channel with the request's outcome.
type heavyCall struct {
	code int
	body string
	err  error
}

func inFlightHeavy(t *testing.T, url string, pids <-chan int) (int, context.CancelFunc, <-chan heavyCall) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	res := make(chan heavyCall, 1)
	go func() {
		code, body, err := testutil.Get(ctx, url+"/heavy")
		res <- heavyCall{code, body, err}
	}()
	var pid int
	testutil.WaitFor(t, "the worker to start", func() bool {
		select {
		case pid = <-pids:
			return true
		default:
			return false
		}
	})
	return pid, cancel, res
}

// TestRootAnswersWhileHeavyRuns checks by counts, not by timing: the worker
// of /heavy computes a loop that would take years, and / must answer every
// time while that worker still runs.
func TestRootAnswersWhileHeavyRuns(t *testing.T) {
	pids := make(chan int, 1)
	s := &Server{Limit: 1 << 60, OnFork: func(pid int) { pids <- pid }}
	url, stop := startServer(t, s)
	pid, cancel, res := inFlightHeavy(t, url, pids)

	for i := range 5 {
		code, body, err := testutil.Get(context.Background(), url+"/")
		if err != nil || code != 200 || body != "OK" {
			t.Fatalf("GET / #%d while /heavy runs = %d %q %v", i, code, body, err)
		}
	}
	if n := s.InFlight(); n != 1 || testutil.Gone(pid) {
		t.Fatalf("after the / requests: %d workers in flight, worker %d gone=%v; want it still running", n, pid, testutil.Gone(pid))
	}

	// The client gives up: the worker must be killed and reaped.
	cancel()
	if r := <-res; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("cancelled /heavy returned %+v", r)
	}
	testutil.WaitFor(t, "the worker to be killed", func() bool { return testutil.Gone(pid) && s.InFlight() == 0 })
	if err := stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// TestShutdownCancelsInFlight: with a short grace the never-ending worker is
// killed at shutdown and its client told 503.
func TestShutdownCancelsInFlight(t *testing.T) {
	pids := make(chan int, 1)
	s := &Server{Limit: 1 << 60, Grace: -1, OnFork: func(pid int) { pids <- pid }}
	url, stop := startServer(t, s)
	pid, _, res := inFlightHeavy(t, url, pids)
	if err := stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if !testutil.Gone(pid) {
		t.Fatalf("worker %d still runs after Serve returned", pid)
	}
	r := <-res
	if r.err != nil || r.code != http.StatusServiceUnavailable || r.body != "server is shutting down\n" {
		t.Fatalf("/heavy at shutdown = %+v, want 503 server is shutting down", r)
	}
}

// TestShutdownDrains: a request in flight when shutdown starts still gets
// its answer. The worker is held in OnFork until the listener is closed, so
// the request is in flight at shutdown whatever the timing.
func TestShutdownDrains(t *testing.T) {
	release := make(chan struct{})
	forked := make(chan int, 1)
	s := &Server{Limit: 1000, Grace: 20e9, OnFork: func(pid int) { forked <- pid; <-release }}
	url, stop := startServer(t, s)
	res := make(chan heavyCall, 1)
	go func() {
		code, body, err := testutil.Get(context.Background(), url+"/heavy")
		res <- heavyCall{code, body, err}
	}()
	<-forked
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	addr := strings.TrimPrefix(url, "http://")
	testutil.WaitFor(t, "the listener to close", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return false
		}
		return errors.Is(err, syscall.ECONNREFUSED)
	})
	close(release)
	if r := <-res; r.err != nil || r.code != 200 || r.body != "Result is 20979000" {
		t.Fatalf("/heavy in flight at shutdown = %+v, want 200 Result is 20979000", r)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

func TestListenPortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port
	ln, err := Listen(context.Background(), "127.0.0.1", port)
	if err == nil {
		ln.Close()
		t.Fatal("Listen on a busy port succeeded")
	}
	if !errors.Is(err, ErrPortInUse) {
		t.Fatalf("err = %v, want ErrPortInUse", err)
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, busy.Addr().String()) {
		t.Fatalf("message %q: want one line naming %s", msg, busy.Addr())
	}
	if _, err := Listen(context.Background(), "127.0.0.1", 70000); err == nil {
		t.Fatal("Listen on port 70000 succeeded")
	}
}
