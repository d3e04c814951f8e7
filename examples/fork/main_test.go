package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/internal/demo"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	demo.Register()
	child.Dispatch() // the workers the tests fork run here
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/herdrun/herd/child.startLoop"))
}

// output is a stdout for run that tests can read while it writes.
type output struct {
	mu sync.Mutex
	b  strings.Builder
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// waitFor polls cond every 5ms until it holds or 20s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// start runs the example with env until the test ends, and returns its
// base URL, its output, and a stop function that returns run's error.
func start(t *testing.T, env map[string]string) (string, *output, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &output{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, out, func(k string) string { return env[k] }) }()
	var url string
	waitFor(t, "the listening line", func() bool {
		line, _, ok := strings.Cut(out.String(), "\n")
		if ok {
			url = strings.TrimPrefix(line, "Server listening on ")
		}
		return ok
	})
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		cancel()
		t.Fatalf("first line %q, want Server listening on http://127.0.0.1:PORT", url)
	}
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { stop() })
	return url, out, stop
}

var client = &http.Client{
	Transport: &http.Transport{DisableKeepAlives: true},
	Timeout:   60 * time.Second, // a hung server fails the test instead of hanging it
}

func get(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("status %s: %s", resp.Status, b)
	}
	return string(b), err
}

// children returns the pids of this process's live children.
func children(t *testing.T) []int {
	t.Helper()
	files, _ := filepath.Glob("/proc/self/task/*/children")
	if len(files) == 0 {
		t.Fatal("no /proc/self/task/*/children")
	}
	var pids []int
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, w := range strings.Fields(string(b)) {
			var pid int
			fmt.Sscan(w, &pid)
			if !gone(pid) {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// gone reports whether pid no longer runs (absent, or a zombie).
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z' || s[i+2] == 'X'
}

func TestRootAndHeavy(t *testing.T) {
	url, out, stop := start(t, map[string]string{"PORT": "0", demo.EnvLimit: "1000"})
	ctx := context.Background()
	if body, err := get(ctx, url+"/"); err != nil || body != "OK" {
		t.Fatalf("GET / = %q, %v; want OK", body, err)
	}
	// 42 * (0 + 1 + ... + 999) = 20979000
	if body, err := get(ctx, url+"/heavy"); err != nil || body != "Result is 20979000" {
		t.Fatalf("GET /heavy = %q, %v; want Result is 20979000", body, err)
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if o := out.String(); !strings.Contains(o, `answer="Result is 20979000"`) || !strings.Contains(o, "msg=stopped") {
		t.Errorf("log lacks the answer or the stop:\n%s", o)
	}
}

// TestTutorialResult runs the tutorial's own 1e8 loop: the answer must be
// the text Node prints, float64 rounding included.
func TestTutorialResult(t *testing.T) {
	url, _, _ := start(t, map[string]string{"PORT": "0"})
	body, err := get(context.Background(), url+"/heavy")
	if err != nil || body != "Result is 209999997829288740" {
		t.Fatalf("GET /heavy = %q, %v; want Result is 209999997829288740", body, err)
	}
}

// TestRootWhileHeavy sends / while /heavy is in flight, by counts rather than
// timing: the /heavy worker runs a loop that would take years, it must be
// running before and after every / answer, and it must be gone once the
// client gives up on /heavy.
func TestRootWhileHeavy(t *testing.T) {
	url, _, stop := start(t, map[string]string{"PORT": "0", demo.EnvLimit: "1e15"})
	before := children(t)
	hctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	heavy := make(chan error, 1)
	go func() {
		_, err := get(hctx, url+"/heavy")
		heavy <- err
	}()
	var worker int
	waitFor(t, "the /heavy worker", func() bool {
		for _, pid := range children(t) {
			if !slices.Contains(before, pid) {
				worker = pid
				return true
			}
		}
		return false
	})
	for i := range 5 {
		if body, err := get(context.Background(), url+"/"); err != nil || body != "OK" {
			t.Fatalf("GET / #%d = %q, %v; want OK", i, body, err)
		}
		if gone(worker) {
			t.Fatalf("/heavy worker %d ended before GET / #%d answered", worker, i)
		}
	}
	select {
	case err := <-heavy:
		t.Fatalf("/heavy finished early: %v", err)
	default:
	}

	cancel() // the client goes away: its worker must die
	if err := <-heavy; err == nil {
		t.Fatal("cancelled /heavy returned no error")
	}
	waitFor(t, "the worker to be killed", func() bool { return gone(worker) })
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestBadEnv(t *testing.T) {
	for _, env := range []map[string]string{{"PORT": "http"}, {"PORT": "0", demo.EnvLimit: "-1"}} {
		if err := run(context.Background(), io.Discard, func(k string) string { return env[k] }); err == nil {
			t.Errorf("run with %v succeeded", env)
		}
	}
}
