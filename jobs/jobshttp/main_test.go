package jobshttp_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
	"github.com/herdrun/herd/jobs"
	"github.com/herdrun/herd/jobs/jobshttp"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

// gate lets a test decide when a "gate" job reports progress and ends.
type gate struct {
	started  chan string   // the job's ID, once it runs
	progress chan float64  // each value is reported as progress
	release  chan struct{} // closed: the job succeeds
}

// env is a real jobs.Client in a temporary directory, working, served by
// the handler under test through a real HTTP server.
type env struct {
	t      testing.TB
	c      *jobs.Client
	srv    *httptest.Server
	url    string // where the handler is mounted (srv.URL + prefix)
	gate   *gate
	active atomic.Int64 // requests in the handler now
}

type envOptions struct {
	cfg    jobs.Config
	opts   jobshttp.Options
	prefix string // mount under this path ("" or "/api")
	// writeTimeout is the http.Server's WriteTimeout (0: none).
	writeTimeout time.Duration
}

type echoArgs struct {
	Text string `json:"text"`
}

// newEnv opens the client, registers the test kinds (echo, fail, gate),
// starts its workers on the default queue and serves the handler.
func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	o.cfg.Dir = t.TempDir()
	c, err := jobs.Open(ctx, o.cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	e := &env{t: t, c: c, gate: &gate{
		started:  make(chan string, 16),
		progress: make(chan float64),
		release:  make(chan struct{}),
	}}
	jobs.Register(c, "echo", func(ctx context.Context, j *jobs.Job[echoArgs]) (echoArgs, error) {
		return j.Args, nil
	})
	jobs.Register(c, "fail", func(ctx context.Context, j *jobs.Job[json.RawMessage]) (struct{}, error) {
		return struct{}{}, errors.New("it failed on purpose")
	})
	jobs.Register(c, "gate", func(ctx context.Context, j *jobs.Job[json.RawMessage]) (string, error) {
		e.gate.started <- j.ID
		for {
			select {
			case f := <-e.gate.progress:
				if err := j.Progress(f, "step"); err != nil {
					return "", err
				}
			case <-e.gate.release:
				return "released", nil
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
	})
	worked := make(chan error, 1)
	go func() {
		worked <- c.Work(ctx, jobs.WorkOptions{
			Queues:          map[string]jobs.QueueConfig{"default": {Concurrency: 4}},
			ShutdownTimeout: 5 * time.Second,
		})
	}()
	h := jobshttp.New(c, o.opts)
	count := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.active.Add(1)
		defer e.active.Add(-1)
		h.ServeHTTP(w, r)
	})
	var root http.Handler = count
	if o.prefix != "" {
		mux := http.NewServeMux()
		mux.Handle(o.prefix+"/", http.StripPrefix(o.prefix, count))
		root = mux
	}
	e.srv = httptest.NewUnstartedServer(root)
	e.srv.Config.WriteTimeout = o.writeTimeout
	e.srv.Start()
	e.url = e.srv.URL + o.prefix
	t.Cleanup(func() {
		e.srv.CloseClientConnections()
		e.srv.Close()
		cancel()
		select {
		case err := <-worked:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("Work: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("Work did not return")
		}
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return e
}

// do sends a request and returns the status, headers and body.
func (e *env) do(method, path, body string) (int, http.Header, []byte) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := testutil.HTTPClient().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, b
}

// doJSON is do, decoding the body into v when the status is want.
func (e *env) doJSON(method, path, body string, want int, v any) http.Header {
	e.t.Helper()
	code, h, b := e.do(method, path, body)
	if code != want {
		e.t.Fatalf("%s %s %s: %d %s, want %d", method, path, body, code, b, want)
	}
	if ct := h.Get("Content-Type"); ct != "application/json" {
		e.t.Fatalf("%s %s: Content-Type %q", method, path, ct)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			e.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return h
}

// submit posts body and returns the new job's ID.
func (e *env) submit(body string) string {
	e.t.Helper()
	var r jobshttp.SubmitResponse
	h := e.doJSON("POST", "/jobs", body, 202, &r)
	if r.ID == "" {
		e.t.Fatalf("submit %s: no id", body)
	}
	if loc, want := h.Get("Location"), strings.TrimPrefix(e.url, e.srv.URL)+"/jobs/"+r.ID; loc != want {
		e.t.Fatalf("Location %q, want %q", loc, want)
	}
	return r.ID
}

// started waits for a gate job to run and returns its ID.
func (e *env) started() string {
	e.t.Helper()
	select {
	case id := <-e.gate.started:
		return id
	case <-time.After(testutil.WaitTimeout):
		e.t.Fatal("timed out waiting for the gate job to start")
		return ""
	}
}

// sseEvent is one event of a stream.
type sseEvent struct {
	id, name string
	info     jobs.Info
}

// readEvents reads events from r and sends them on out until the stream
// ends; then it closes out.
func readEvents(t *testing.T, r io.Reader, out chan<- sseEvent) {
	defer close(out)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.name != "" {
				out <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "id: "):
			ev.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.name = line[7:]
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(line[6:]), &ev.info); err != nil {
				t.Errorf("event data %q: %v", line, err)
			}
		default:
			t.Errorf("unexpected line in the stream: %q", line)
		}
	}
}
