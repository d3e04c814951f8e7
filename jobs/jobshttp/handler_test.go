package jobshttp_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
	"github.com/herdrun/herd/jobs"
	"github.com/herdrun/herd/jobs/jobshttp"
)

func TestSubmitGetWait(t *testing.T) {
	e := newEnv(t, envOptions{})
	id := e.submit(`{"kind":"echo","args":{"text":"hi"},"priority":"high","max_attempts":2,"timeout":"1m","queue":"default"}`)
	var got jobs.Info
	e.doJSON("GET", "/jobs/"+id+"/wait?timeout=30s", "", 200, &got)
	if got.ID != id || got.State != jobs.StateSucceeded || got.Kind != "echo" || got.Priority != jobs.PriorityHigh || got.MaxAttempts != 2 {
		t.Fatalf("wait = %+v", got)
	}
	if string(got.Result) != `{"text":"hi"}` {
		t.Fatalf("result %s, want the args back", got.Result)
	}
	var again jobs.Info
	e.doJSON("GET", "/jobs/"+id, "", 200, &again)
	if again.State != jobs.StateSucceeded || string(again.Result) != `{"text":"hi"}` {
		t.Fatalf("get = %+v", again)
	}
	// The number of a priority, and a kind alone, are valid too.
	id2 := e.submit(`{"kind":"echo","priority":2}`)
	e.doJSON("GET", "/jobs/"+id2+"/wait", "", 200, &got)
	if got.Priority != jobs.PriorityCritical || got.State != jobs.StateSucceeded {
		t.Fatalf("wait = %+v", got)
	}
}

func TestFailedJob(t *testing.T) {
	e := newEnv(t, envOptions{})
	id := e.submit(`{"kind":"fail","max_attempts":1}`)
	var got jobs.Info
	e.doJSON("GET", "/jobs/"+id+"/wait", "", 200, &got)
	if got.State != jobs.StateFailed || !strings.Contains(got.Error, "it failed on purpose") {
		t.Fatalf("wait = %+v", got)
	}
}

// TestBadInput sends each bad request alone to a real server and checks the
// status, the field named, and that the text says what to write.
func TestBadInput(t *testing.T) {
	e := newEnv(t, envOptions{opts: jobshttp.Options{MaxBodyBytes: 256, MaxWait: time.Minute, MaxListLimit: 50}})
	done := e.submit(`{"kind":"echo"}`)
	e.doJSON("GET", "/jobs/"+done+"/wait", "", 200, nil)
	cases := []struct {
		name, method, path, body string
		code                     int
		field, text              string
	}{
		{"empty body", "POST", "/jobs", "", 400, "body", "empty"},
		{"not JSON", "POST", "/jobs", `kind=echo`, 400, "body", "invalid JSON"},
		{"cut short", "POST", "/jobs", `{"kind":"echo"`, 400, "body", "ends early"},
		{"two values", "POST", "/jobs", `{"kind":"echo"} {}`, 400, "body", "more than one"},
		{"an array", "POST", "/jobs", `[{"kind":"echo"}]`, 400, "body", "send an object"},
		{"unknown field", "POST", "/jobs", `{"kind":"echo","kinds":"x"}`, 400, "kinds", "unknown field"},
		{"no kind", "POST", "/jobs", `{"args":{}}`, 400, "kind", "missing"},
		{"kind a number", "POST", "/jobs", `{"kind":7}`, 400, "kind", "a JSON number"},
		{"kind with spaces", "POST", "/jobs", `{"kind":" echo"}`, 400, "kind", `write "echo"`},
		{"unknown kind", "POST", "/jobs", `{"kind":"nope"}`, 400, "kind", `"nope" is not a kind`},
		{"priority name", "POST", "/jobs", `{"kind":"echo","priority":"urgent"}`, 400, "priority", "low, normal, high or critical"},
		{"priority number", "POST", "/jobs", `{"kind":"echo","priority":7}`, 400, "priority", "low, normal, high or critical"},
		{"priority bool", "POST", "/jobs", `{"kind":"echo","priority":true}`, 400, "priority", "neither a name nor a number"},
		{"delay text", "POST", "/jobs", `{"kind":"echo","delay":"soon"}`, 400, "delay", `"90s"`},
		{"delay number", "POST", "/jobs", `{"kind":"echo","delay":90}`, 400, "delay", "duration string"},
		{"delay negative", "POST", "/jobs", `{"kind":"echo","delay":"-1s"}`, 400, "delay", "negative"},
		{"run_at text", "POST", "/jobs", `{"kind":"echo","run_at":"tomorrow"}`, 400, "run_at", "RFC 3339"},
		{"delay and run_at", "POST", "/jobs", `{"kind":"echo","delay":"1s","run_at":"2030-01-01T00:00:00Z"}`, 400, "delay", "not both"},
		{"max_attempts negative", "POST", "/jobs", `{"kind":"echo","max_attempts":-1}`, 400, "max_attempts", "1 or more"},
		{"max_attempts text", "POST", "/jobs", `{"kind":"echo","max_attempts":"3"}`, 400, "max_attempts", "whole number"},
		{"max_attempts fraction", "POST", "/jobs", `{"kind":"echo","max_attempts":1.5}`, 400, "max_attempts", "whole number"},
		{"queue name", "POST", "/jobs", `{"kind":"echo","queue":"a.b"}`, 400, "queue", "letters, digits"},
		{"max_attempts too many", "POST", "/jobs", `{"kind":"echo","max_attempts":1000}`, 400, "max_attempts", "1 to 100"},
		{"timeout text", "POST", "/jobs", `{"kind":"echo","timeout":"forever"}`, 400, "timeout", "duration"},
		{"args bad JSON", "POST", "/jobs", `{"kind":"echo","args":{"text":}}`, 400, "body", "invalid JSON"},
		{"too large", "POST", "/jobs", `{"kind":"echo","args":"` + strings.Repeat("x", 300) + `"}`, 413, "body", "too large"},
		{"submit parameter", "POST", "/jobs?wait=1", `{"kind":"echo"}`, 400, "wait", "takes none"},
		{"unknown id", "GET", "/jobs/01NOSUCHJOB", "", 404, "id", "no such job"},
		{"odd id", "GET", "/jobs/a*b%2F..", "", 404, "id", "no such job"},
		{"get parameter", "GET", "/jobs/" + done + "?x=1", "", 400, "x", "takes none"},
		{"wait unknown id", "GET", "/jobs/01NOSUCHJOB/wait?timeout=1s", "", 404, "id", "no such job"},
		{"wait timeout text", "GET", "/jobs/" + done + "/wait?timeout=abc", "", 400, "timeout", `"90s"`},
		{"wait timeout negative", "GET", "/jobs/" + done + "/wait?timeout=-5s", "", 400, "timeout", "negative"},
		{"wait timeout too long", "GET", "/jobs/" + done + "/wait?timeout=2h", "", 400, "timeout", `at most "1m0s"`},
		{"wait parameter", "GET", "/jobs/" + done + "/wait?time=1s", "", 400, "time", "the parameters are timeout"},
		{"wait twice", "GET", "/jobs/" + done + "/wait?timeout=1s&timeout=2s", "", 400, "timeout", "give it once"},
		{"events unknown id", "GET", "/jobs/01NOSUCHJOB/events", "", 404, "id", "no such job"},
		{"cancel unknown id", "POST", "/jobs/01NOSUCHJOB/cancel", "", 404, "id", "no such job"},
		{"retry unknown id", "POST", "/jobs/01NOSUCHJOB/retry", "", 404, "id", "no such job"},
		{"cancel succeeded", "POST", "/jobs/" + done + "/cancel", "", 409, "", "it has already ended"},
		{"retry succeeded", "POST", "/jobs/" + done + "/retry", "", 409, "", "only a failed or cancelled job"},
		{"list state", "GET", "/jobs?state=done", "", 400, "state", "queued, scheduled, running"},
		{"list limit zero", "GET", "/jobs?limit=0", "", 400, "limit", "from 1 to 50"},
		{"list limit text", "GET", "/jobs?limit=ten", "", 400, "limit", "from 1 to 50"},
		{"list limit too big", "GET", "/jobs?limit=51", "", 400, "limit", "from 1 to 50"},
		{"list parameter", "GET", "/jobs?status=queued", "", 400, "status", "the parameters are state, queue, kind, limit, cursor, order"},
		{"list order", "GET", "/jobs?order=desc", "", 400, "order", `"desc"; write oldest (the default) or newest`},
		{"queues parameter", "GET", "/queues?queue=x", "", 400, "queue", "takes none"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			code, h, b := e.do(c.method, c.path, c.body)
			if code != c.code {
				t.Fatalf("%s %s %s: %d %s, want %d", c.method, c.path, c.body, code, b, c.code)
			}
			if ct := h.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
			var er jobshttp.ErrorResponse
			if err := json.Unmarshal(b, &er); err != nil {
				t.Fatalf("%v in %s", err, b)
			}
			if er.Field != c.field || !strings.Contains(er.Error, c.text) {
				t.Fatalf("error %+v, want field %q and text containing %q", er, c.field, c.text)
			}
			if c.field != "" && c.field != "body" && c.field != "id" && !strings.Contains(er.Error, c.field) {
				t.Fatalf("error %q does not name the field %q", er.Error, c.field)
			}
		})
	}
	e.t = t
}

func TestRouting(t *testing.T) {
	e := newEnv(t, envOptions{})
	if code, h, _ := e.do("DELETE", "/jobs/x", ""); code != 405 || !strings.Contains(h.Get("Allow"), "GET") {
		t.Fatalf("DELETE /jobs/x: %d, Allow %q; want 405", code, h.Get("Allow"))
	}
	if code, _, _ := e.do("GET", "/nothing", ""); code != 404 {
		t.Fatalf("GET /nothing: %d, want 404", code)
	}
}

func TestQueueFull(t *testing.T) {
	e := newEnv(t, envOptions{cfg: jobs.Config{MaxQueueDepth: 2}})
	// Nothing works the queue "later", so what is submitted there stays.
	e.submit(`{"kind":"echo","queue":"later"}`)
	e.submit(`{"kind":"echo","queue":"later"}`)
	code, h, b := e.do("POST", "/jobs", `{"kind":"echo","queue":"later"}`)
	if code != 429 {
		t.Fatalf("third submit: %d %s, want 429", code, b)
	}
	ra, err := strconv.Atoi(h.Get("Retry-After"))
	if err != nil || ra < 1 {
		t.Fatalf("Retry-After %q, want a number of seconds >= 1", h.Get("Retry-After"))
	}
	var er jobshttp.ErrorResponse
	if json.Unmarshal(b, &er); er.Field != "queue" || !strings.Contains(er.Error, `"later" is full`) {
		t.Fatalf("error %+v", er)
	}
	var stats jobshttp.QueuesResponse
	e.doJSON("GET", "/queues", "", 200, &stats)
	found := false
	for _, q := range stats.Queues {
		if q.Queue == "later" {
			found = true
			if q.Depth != 2 {
				t.Fatalf("queue later: depth %d, want 2", q.Depth)
			}
		}
	}
	if !found {
		t.Fatalf("GET /queues lacks the queue later: %+v", stats)
	}
}

func TestWaitTimeout(t *testing.T) {
	e := newEnv(t, envOptions{})
	id := e.submit(`{"kind":"gate"}`)
	e.started()
	var got jobs.Info
	start := time.Now()
	e.doJSON("GET", "/jobs/"+id+"/wait?timeout=200ms", "", 202, &got)
	if got.ID != id || got.State.Final() {
		t.Fatalf("wait at the timeout = %+v, want the job before its end", got)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("wait answered after %v, before its timeout", d)
	}
	close(e.gate.release)
	e.doJSON("GET", "/jobs/"+id+"/wait?timeout=1m", "", 200, &got)
	if got.State != jobs.StateSucceeded || string(got.Result) != `"released"` {
		t.Fatalf("wait = %+v", got)
	}
}

// TestEvents watches a job through its whole life: its state, each
// progress update, the final state, then the end of the stream.
func TestEvents(t *testing.T) {
	e := newEnv(t, envOptions{})
	id := e.submit(`{"kind":"gate"}`)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.url+"/jobs/"+id+"/events", nil)
	resp, err := testutil.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	evs := make(chan sseEvent, 64)
	go readEvents(t, resp.Body, evs)
	next := func(what string) sseEvent {
		t.Helper()
		select {
		case ev, ok := <-evs:
			if !ok {
				t.Fatalf("stream ended, waiting for %s", what)
			}
			return ev
		case <-time.After(testutil.WaitTimeout):
			t.Fatalf("timed out waiting for %s", what)
		}
		return sseEvent{}
	}
	// The first event is the job as it is: queued, or already running.
	ev := next("the first event")
	if ev.name != jobshttp.EventState || ev.id != "1" || ev.info.ID != id {
		t.Fatalf("first event %+v", ev)
	}
	e.started()
	for ev.info.State != jobs.StateRunning {
		ev = next("the running state")
		if ev.name != jobshttp.EventState {
			t.Fatalf("event %+v before running", ev)
		}
	}
	for _, f := range []float64{0.25, 0.5} {
		e.gate.progress <- f
		ev = next("progress")
		for ev.name == jobshttp.EventState && ev.info.State == jobs.StateRunning && ev.info.Progress == 0 {
			ev = next("progress") // the running attempt's start and worker, stored after it began
		}
		if ev.name != jobshttp.EventProgress || ev.info.Progress != f || ev.info.Note != "step" {
			t.Fatalf("event %+v, want progress %v", ev, f)
		}
	}
	close(e.gate.release)
	ev = next("the final state")
	for ev.info.State == jobs.StateRunning {
		ev = next("the final state")
	}
	if ev.name != jobshttp.EventState || ev.info.State != jobs.StateSucceeded {
		t.Fatalf("last event %+v", ev)
	}
	select {
	case ev, ok := <-evs:
		if ok {
			t.Fatalf("event %+v after the final state", ev)
		}
	case <-time.After(testutil.WaitTimeout):
		t.Fatal("the stream did not end after the final state")
	}
}

// TestEventsClientGone: an idle stream sends keep-alive comments, and a
// client that hangs up ends the stream's handler.
func TestEventsClientGone(t *testing.T) {
	e := newEnv(t, envOptions{opts: jobshttp.Options{KeepAlive: 20 * time.Millisecond}})
	id := e.submit(`{"kind":"gate"}`)
	e.started()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", e.url+"/jobs/"+id+"/events", nil)
	resp, err := testutil.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var events, keepAlives int
	for keepAlives < 2 && sc.Scan() {
		switch line := sc.Text(); {
		case strings.HasPrefix(line, "event: "):
			events++
		case line == ": keep-alive":
			keepAlives++
		}
	}
	// The job runs, but its stream may still be catching up from queued.
	if events < 1 || events > 2 || keepAlives != 2 {
		t.Fatalf("%d events and %d keep-alives before the stream ended (%v); want 1 or 2 and 2", events, keepAlives, sc.Err())
	}
	if e.active.Load() != 1 {
		t.Fatalf("%d requests in the handler, want the stream's", e.active.Load())
	}
	cancel()
	resp.Body.Close()
	testutil.WaitFor(t, "the stream's handler to return", func() bool { return e.active.Load() == 0 })
	close(e.gate.release)
}

func TestCancelRetry(t *testing.T) {
	e := newEnv(t, envOptions{})
	id := e.submit(`{"kind":"gate","max_attempts":1}`)
	e.started()
	var got jobs.Info
	e.doJSON("POST", "/jobs/"+id+"/cancel", "", 200, &got)
	if got.ID != id {
		t.Fatalf("cancel = %+v", got)
	}
	e.doJSON("GET", "/jobs/"+id+"/wait", "", 200, &got)
	if got.State != jobs.StateCancelled {
		t.Fatalf("after cancel: %+v", got)
	}
	// Cancelling a cancelled job does nothing.
	if code, _, b := e.do("POST", "/jobs/"+id+"/cancel", ""); code != 200 {
		t.Fatalf("second cancel: %d %s", code, b)
	}
	close(e.gate.release)
	// The retried run returns at once (the gate is open), so the answer
	// may show it finished already; it must not show the cancelled run.
	var retried jobs.Info
	e.doJSON("POST", "/jobs/"+id+"/retry", "", 202, &retried)
	if retried.State == jobs.StateCancelled || retried.State == jobs.StateFailed || retried.Error != "" {
		t.Fatalf("after retry: %+v", retried)
	}
	var done jobs.Info
	e.doJSON("GET", "/jobs/"+id+"/wait", "", 200, &done)
	if done.State != jobs.StateSucceeded || done.Attempt != 1 || done.Error != "" {
		t.Fatalf("retried job: %+v; want succeeded on attempt 1", done)
	}
}

func TestListAndPrefix(t *testing.T) {
	e := newEnv(t, envOptions{prefix: "/api/v1"})
	ids := map[string]bool{}
	for i := range 3 {
		id := e.submit(`{"kind":"echo","args":{"text":"` + strconv.Itoa(i) + `"}}`)
		e.doJSON("GET", "/jobs/"+id+"/wait", "", 200, nil)
		ids[id] = true
	}
	e.submit(`{"kind":"fail","max_attempts":1}`)
	seen := map[string]bool{}
	cursor := ""
	for range 10 {
		var page jobshttp.ListResponse
		e.doJSON("GET", "/jobs?kind=echo&limit=2&cursor="+cursor, "", 200, &page)
		if len(page.Jobs) > 2 {
			t.Fatalf("page of %d jobs, limit 2", len(page.Jobs))
		}
		for _, j := range page.Jobs {
			if j.Kind != "echo" || seen[j.ID] {
				t.Fatalf("job %+v in the list (seen: %v)", j, seen[j.ID])
			}
			seen[j.ID] = true
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	if len(seen) != 3 {
		t.Fatalf("listed %v, want %v", seen, ids)
	}
	// Newest first: the same jobs, in the reverse order, also by pages.
	var oldest, newest []string
	for _, order := range []string{"oldest", "newest"} {
		cursor = ""
		for range 10 {
			var page jobshttp.ListResponse
			e.doJSON("GET", "/jobs?kind=echo&limit=2&order="+order+"&cursor="+cursor, "", 200, &page)
			for _, j := range page.Jobs {
				if order == "oldest" {
					oldest = append(oldest, j.ID)
				} else {
					newest = append(newest, j.ID)
				}
			}
			if cursor = page.Next; cursor == "" {
				break
			}
		}
	}
	slices.Reverse(newest)
	if len(oldest) != 3 || !slices.Equal(oldest, newest) {
		t.Fatalf("oldest first %v; newest first, reversed, %v", oldest, newest)
	}
	var page jobshttp.ListResponse
	e.doJSON("GET", "/jobs?state=succeeded&queue=default", "", 200, &page)
	if len(page.Jobs) != 3 {
		t.Fatalf("succeeded: %d jobs, want 3", len(page.Jobs))
	}
	e.doJSON("GET", "/jobs?queue=nothing", "", 200, &page)
	if len(page.Jobs) != 0 || page.Next != "" {
		t.Fatalf("queue nothing: %+v", page)
	}
}

// TestServerWriteTimeout: a wait and an event stream outlast the server's
// WriteTimeout.
func TestServerWriteTimeout(t *testing.T) {
	e := newEnv(t, envOptions{writeTimeout: 300 * time.Millisecond, opts: jobshttp.Options{KeepAlive: 100 * time.Millisecond}})
	id := e.submit(`{"kind":"gate"}`)
	e.started()
	var got jobs.Info
	e.doJSON("GET", "/jobs/"+id+"/wait?timeout=900ms", "", 202, &got)
	if got.State.Final() {
		t.Fatalf("wait = %+v", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.url+"/jobs/"+id+"/events", nil)
	resp, err := testutil.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	evs := make(chan sseEvent, 64)
	go readEvents(t, resp.Body, evs)
	<-evs
	time.Sleep(900 * time.Millisecond) // three WriteTimeouts, with keep-alives
	close(e.gate.release)
	for ev := range evs {
		got = ev.info
	}
	if got.State != jobs.StateSucceeded {
		t.Fatalf("the stream's last event: %+v; want succeeded", got)
	}
}
