package jobsclient_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/herdrun/herd/cmd/herd/internal/jobsclient"
	"github.com/herdrun/herd/internal/testutil"
	"github.com/herdrun/herd/jobs"
	"github.com/herdrun/herd/jobs/jobshttp"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

// serve runs a real jobs.Client with a "sleep" kind (sleeps its args, a
// duration string) behind the handler, mounted under /api, and returns a
// client of it.
func serve(t *testing.T, opts jobshttp.Options) *jobsclient.Client {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c, err := jobs.Open(ctx, jobs.Config{Dir: t.TempDir()})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	jobs.Register(c, "sleep", func(ctx context.Context, j *jobs.Job[string]) (string, error) {
		d, err := time.ParseDuration(j.Args)
		if err != nil {
			return "", err
		}
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return "", ctx.Err()
		}
		return "slept " + j.Args, nil
	})
	worked := make(chan error, 1)
	go func() { worked <- c.Work(ctx, jobs.WorkOptions{ShutdownTimeout: time.Second}) }()
	mux := http.NewServeMux()
	mux.Handle("/api/", http.StripPrefix("/api", jobshttp.New(c, opts)))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		cancel()
		<-worked
		c.Close()
	})
	return &jobsclient.Client{URL: srv.URL + "/api/", HTTP: testutil.HTTPClient()}
}

func TestClient(t *testing.T) {
	// A server that lets a wait last at most 100ms: Wait asks again until
	// the job ends.
	cl := serve(t, jobshttp.Options{MaxWait: 100 * time.Millisecond})
	ctx := context.Background()
	id, err := cl.Submit(ctx, jobshttp.SubmitRequest{Kind: "sleep", Args: []byte(`"400ms"`), Priority: "high"})
	if err != nil {
		t.Fatal(err)
	}
	info, err := cl.WaitOnce(ctx, id, 0)
	if err != nil || info.State.Final() {
		t.Fatalf("WaitOnce = %+v, %v; want the job before its end", info, err)
	}
	info, err = cl.Wait(ctx, id)
	if err != nil || info.State != jobs.StateSucceeded || string(info.Result) != `"slept 400ms"` || info.Priority != jobs.PriorityHigh {
		t.Fatalf("Wait = %+v, %v", info, err)
	}
	page, err := cl.List(ctx, jobs.Filter{Kind: "sleep", State: jobs.StateSucceeded, Limit: 10})
	if err != nil || len(page.Jobs) != 1 || page.Jobs[0].ID != id {
		t.Fatalf("List = %+v, %v", page, err)
	}
	qs, err := cl.Stats(ctx)
	if err != nil || len(qs) == 0 {
		t.Fatalf("Stats = %+v, %v", qs, err)
	}

	long, err := cl.Submit(ctx, jobshttp.SubmitRequest{Kind: "sleep", Args: []byte(`"1m"`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Cancel(ctx, long); err != nil {
		t.Fatal(err)
	}
	if info, err = cl.Wait(ctx, long); err != nil || info.State != jobs.StateCancelled {
		t.Fatalf("Wait after Cancel = %+v, %v", info, err)
	}
	// Newest first: the cancelled job, then the first one.
	page, err = cl.List(ctx, jobs.Filter{Kind: "sleep", Newest: true, Limit: 1})
	if err != nil || len(page.Jobs) != 1 || page.Jobs[0].ID != long || page.Next != long {
		t.Fatalf("List newest first = %+v, %v; want %s", page, err, long)
	}
	page, err = cl.List(ctx, jobs.Filter{Kind: "sleep", Newest: true, Cursor: page.Next})
	if err != nil || len(page.Jobs) != 1 || page.Jobs[0].ID != id {
		t.Fatalf("List newest first, second page = %+v, %v; want %s", page, err, id)
	}
	// Events: every change until the end.
	evID, err := cl.Submit(ctx, jobshttp.SubmitRequest{Kind: "sleep", Args: []byte(`"200ms"`)})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	last, err := cl.Events(ctx, evID, func(ev jobsclient.Event) error {
		if ev.Info.ID != evID {
			t.Errorf("event of job %q", ev.Info.ID)
		}
		names = append(names, ev.Name+" "+string(ev.Info.State))
		return nil
	})
	if err != nil || last.State != jobs.StateSucceeded || len(names) < 2 || names[0][:6] != "state " || names[len(names)-1] != "state succeeded" {
		t.Fatalf("Events = %v, %+v, %v", names, last, err)
	}
	var ae *jobsclient.APIError
	if _, err := cl.Events(ctx, "01NOSUCHJOB", func(jobsclient.Event) error { return nil }); !errors.As(err, &ae) || !ae.NotFound() {
		t.Fatalf("Events of no job: %v", err)
	}
	if _, err := cl.Get(ctx, "01NOSUCHJOB"); !errors.As(err, &ae) || !ae.NotFound() {
		t.Fatalf("Get of no job: %v", err)
	}
	_, err = cl.Submit(ctx, jobshttp.SubmitRequest{Kind: "sleep", Timeout: "a while"})
	if !errors.As(err, &ae) || ae.Status != 400 || ae.Field != "timeout" {
		t.Fatalf("Submit with a bad timeout: %#v", err)
	}
}

// TestClientStuckServer: a server that never answers is an error after the
// client's timeout, not a hang.
func TestClientStuckServer(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	cl := &jobsclient.Client{URL: srv.URL, HTTP: testutil.HTTPClient(), Timeout: 100 * time.Millisecond}
	_, err := cl.Get(context.Background(), "x")
	if err == nil || !strings.Contains(err.Error(), "no answer within 100ms") {
		t.Fatalf("Get from a stuck server: %v", err)
	}
	var ue *jobsclient.UnreachableError
	if errors.As(err, &ue) {
		t.Fatalf("a stuck server reported as unreachable: %v", err)
	}
}
