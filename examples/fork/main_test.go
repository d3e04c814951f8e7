package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/internal/testutil"
)

// envLimit is the variable that replaces the tutorial's loop bound.
const envLimit = "HERD_DEMO_LIMIT"

func TestMain(m *testing.M) {
	child.Dispatch() // the workers the tests fork run here
	testutil.VerifyTestMain(m)
}

// start runs the example with env until the test ends, and returns its
// base URL, its output, and a stop function that returns run's error.
func start(t *testing.T, env map[string]string) (string, *testutil.SyncBuffer, func() error) {
	t.Helper()
	url, out, stop := testutil.StartRun(t, run, env, "Server listening on ")
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("first line %q, want Server listening on http://127.0.0.1:PORT", url)
	}
	return url, out, stop
}

// get fetches url and returns the body; a status other than 200 is an error.
func get(ctx context.Context, url string) (string, error) {
	code, body, err := testutil.Get(ctx, url)
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("status %d %s: %s", code, http.StatusText(code), body)
	}
	return body, err
}

func TestRootAndHeavy(t *testing.T) {
	url, out, stop := start(t, map[string]string{"PORT": "0", envLimit: "1000"})
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
	url, _, stop := start(t, map[string]string{"PORT": "0", envLimit: "1e15"})
	before := testutil.ChildrenOf(t, os.Getpid())
	hctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	heavy := make(chan error, 1)
	go func() {
		_, err := get(hctx, url+"/heavy")
		heavy <- err
	}()
	var worker int
	testutil.WaitFor(t, "the /heavy worker", func() bool {
		for _, pid := range testutil.ChildrenOf(t, os.Getpid()) {
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
		if testutil.Gone(worker) {
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
	testutil.WaitFor(t, "the worker to be killed", func() bool { return testutil.Gone(worker) })
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestBadEnv(t *testing.T) {
	for _, env := range []map[string]string{{"PORT": "http"}, {"PORT": "0", envLimit: "-1"}} {
		if err := run(context.Background(), io.Discard, func(k string) string { return env[k] }); err == nil {
			t.Errorf("run with %v succeeded", env)
		}
	}
}
