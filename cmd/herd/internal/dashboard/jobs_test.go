package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herdrun/herd/cmd/herd/internal/jobsclient"
	"github.com/herdrun/herd/internal/testutil"
	"github.com/herdrun/herd/jobs"
	"github.com/herdrun/herd/jobs/jobshttp"
)

// jobsEnv is a real jobs store (embedded JetStream in a temp dir) with
// workers on the default queue, its HTTP API, and a dashboard over it.
type jobsEnv struct {
	t     *testing.T
	jobs  *jobsclient.Client // the jobs API
	dash  string             // the dashboard's URL
	token string
	pass  atomic.Bool // "flaky" jobs succeed once set
}

func newJobsEnv(t *testing.T) *jobsEnv {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c, err := jobs.Open(ctx, jobs.Config{Dir: t.TempDir()})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	e := &jobsEnv{t: t, token: strings.Repeat("cd", 32)}
	jobs.Register(c, "echo", func(_ context.Context, j *jobs.Job[json.RawMessage]) (json.RawMessage, error) {
		return j.Args, nil
	})
	jobs.Register(c, "flaky", func(context.Context, *jobs.Job[struct{}]) (string, error) {
		if !e.pass.Load() {
			return "", errors.New("not yet: the flag is down")
		}
		return "passed", nil
	})
	jobs.Register(c, "block", func(ctx context.Context, j *jobs.Job[struct{}]) (string, error) {
		_ = j.Progress(0.25, "blocked")
		<-ctx.Done()
		return "", ctx.Err()
	})
	worked := make(chan error, 1)
	go func() {
		worked <- c.Work(ctx, jobs.WorkOptions{Queues: map[string]jobs.QueueConfig{"default": {Concurrency: 2}}, ShutdownTimeout: 5 * time.Second})
	}()
	api := httptest.NewServer(jobshttp.New(c, jobshttp.Options{}))
	e.jobs = &jobsclient.Client{URL: api.URL, HTTP: testutil.HTTPClient()}
	s := New(Config{Token: e.token, Jobs: e.jobs, JobsInterval: 100 * time.Millisecond})
	dash := httptest.NewUnstartedServer(nil)
	dash.Config.Handler = s.Handler(dash.Listener.Addr().String())
	dash.Start()
	e.dash = dash.URL
	t.Cleanup(func() {
		dash.CloseClientConnections()
		dash.Close()
		api.CloseClientConnections()
		api.Close()
		cancel()
		select {
		case <-worked:
		case <-time.After(30 * time.Second):
			t.Errorf("Work did not return")
		}
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return e
}

func (e *jobsEnv) submit(kind, args string, opts ...string) string {
	e.t.Helper()
	req := jobshttp.SubmitRequest{Kind: kind, Args: json.RawMessage(args)}
	if len(opts) > 0 {
		req.Queue = opts[0]
	}
	if kind == "flaky" {
		req.MaxAttempts = 1
	}
	id, err := e.jobs.Submit(e.t.Context(), req)
	if err != nil {
		e.t.Fatalf("submit %s: %v", kind, err)
	}
	return id
}

// request sends a request to the dashboard with the token (and the CSRF
// value on a POST unless noCSRF).
func (e *jobsEnv) request(ctx context.Context, method, path string, noCSRF bool) *http.Response {
	e.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, method, e.dash+path, nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	if method == "POST" && !noCSRF {
		req.Header.Set("X-Herd-CSRF", csrfFor(e.token))
	}
	resp, err := testutil.HTTPClient().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

func (e *jobsEnv) call(method, path string, noCSRF bool) (int, string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.t.Context(), 30*time.Second)
	defer cancel()
	resp := e.request(ctx, method, path, noCSRF)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

type sseMsg struct{ name, data string }

// stream opens an event stream of the dashboard and returns its events.
func (e *jobsEnv) stream(path string) <-chan sseMsg {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	resp := e.request(ctx, "GET", path, false)
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		e.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	out := make(chan sseMsg, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var m sseMsg
		for sc.Scan() {
			switch l := sc.Text(); {
			case l == "":
				if m.name != "" {
					select {
					case out <- m:
					case <-ctx.Done():
						return
					}
				}
				m = sseMsg{}
			case strings.HasPrefix(l, "event: "):
				m.name = l[7:]
			case strings.HasPrefix(l, "data: "):
				m.data = l[6:]
			}
		}
	}()
	e.t.Cleanup(func() { cancel(); <-done })
	return out
}

// until reads "jobs" events until ok accepts one.
func until(t *testing.T, what string, ch <-chan sseMsg, ok func(jobsEvent) bool) jobsEvent {
	t.Helper()
	deadline := time.After(testutil.WaitTimeout)
	for {
		select {
		case m, open := <-ch:
			if !open {
				t.Fatalf("%s: the stream ended", what)
			}
			if m.name != "jobs" {
				t.Fatalf("%s: event %q %s", what, m.name, m.data)
			}
			if strings.Contains(m.data, `"args"`) || strings.Contains(m.data, `"result"`) {
				t.Fatalf("%s: the list carries args or results: %s", what, m.data)
			}
			var ev jobsEvent
			if err := json.Unmarshal([]byte(m.data), &ev); err != nil {
				t.Fatal(err)
			}
			if ok(ev) {
				return ev
			}
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func ids(ev jobsEvent) string {
	var s []string
	for _, j := range ev.Jobs {
		s = append(s, j.ID+":"+string(j.State))
	}
	return strings.Join(s, " ")
}

// The jobs page's server side against a real jobs store: the page, the
// live list with its filters, a job's detail stream, cancel and retry
// with the CSRF guard, and what the jobs API refuses.
func TestJobsPage(t *testing.T) {
	e := newJobsEnv(t)
	ctx := t.Context()
	ok := e.submit("echo", `{"w":16}`)
	if info, err := e.jobs.Wait(ctx, ok); err != nil || info.State != jobs.StateSucceeded {
		t.Fatalf("echo: %+v %v", info, err)
	}
	bad := e.submit("flaky", "")
	if info, err := e.jobs.Wait(ctx, bad); err != nil || info.State != jobs.StateFailed {
		t.Fatalf("flaky: %+v %v", info, err)
	}
	idle := e.submit("echo", `{}`, "other") // no worker takes queue "other"
	blocked := e.submit("block", "")
	testutil.WaitFor(t, "the block job to run", func() bool {
		info, err := e.jobs.Get(ctx, blocked)
		return err == nil && info.State == jobs.StateRunning
	})

	// The page comes with the queues and jobs inline, and a link back.
	code, page := e.call("GET", "/jobs?state=failed", false)
	if code != 200 || !strings.Contains(page, "// herd dashboard: the jobs page.") || !strings.Contains(page, `"id":"`+bad+`"`) ||
		strings.Contains(page, `"id":"`+ok+`"`) || !strings.Contains(page, `"queue":"other"`) || strings.Contains(page, "{{") {
		t.Fatalf("GET /jobs?state=failed: %d\n%s", code, page)
	}
	// Its first view drawn in the HTML: the failed job's row with its
	// Retry, the state buttons with their counts (failed pressed), the
	// queues and their options.
	for _, want := range []string{
		`<tr data-id="` + bad + `" data-state="failed"><td><button type="button" title="show job ` + bad + `" class="link id">` + bad + `</button></td><td class="kind">flaky</td>`,
		`<td class="state st-failed" title="not yet: the flag is down">failed</td><td class="attempt num">1/1</td>`,
		`<button type="button" title="retry job ` + bad + `">Retry</button></td></tr></tbody>`,
		`<button type="button" title="show the failed jobs" data-state="failed" aria-pressed="true">failed 1</button>`,
		`<button type="button" title="show every job" data-state="" aria-pressed="false">all</button>`,
		`<tr data-queue="other"><td class="name">other</td><td class="depth num">1</td>`,
		`<select id="f-queue"><option value="">all</option><option value="default">default</option><option value="other">other</option></select>`,
		`<p id="no-jobs" class="muted" hidden>`, `<button id="order" type="button" title="list the oldest jobs first">Newest first</button>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("GET /jobs?state=failed: no %s in\n%s", want, page)
		}
	}
	if strings.Contains(page, `<tr data-id="`+ok+`"`) {
		t.Errorf("GET /jobs?state=failed: a row for the succeeded job %s", ok)
	}
	if code, page := e.call("GET", "/jobs?queue=gone&order=oldest&kind=%3Cb%3E", false); code != 200 ||
		!strings.Contains(page, `<option value="gone" selected>gone</option></select>`) || !strings.Contains(page, `value="&lt;b&gt;"`) ||
		!strings.Contains(page, `<p id="no-jobs" class="muted">`) || !strings.Contains(page, `title="list the newest jobs first">Oldest first</button>`) {
		t.Errorf("GET /jobs for no job: %d\n%s", code, page)
	}
	if code, page := e.call("GET", "/", false); code != 200 || !strings.Contains(page, `<a href="/jobs">Jobs</a>`) {
		t.Fatalf("GET /: %d, no link to the jobs page\n%s", code, page)
	}

	// The list, live, per filter, newest first unless asked otherwise.
	all := e.stream("/api/jobs/stream")
	ev := until(t, "every job listed", all, func(ev jobsEvent) bool { return len(ev.Jobs) == 4 })
	want := blocked + ":running " + idle + ":queued " + bad + ":failed " + ok + ":succeeded"
	if got := ids(ev); got != want {
		t.Fatalf("jobs %s, want %s (newest first)", got, want)
	}
	if len(ev.Queues) != 2 || ev.Queues[0].Queue != "default" || ev.Queues[0].Running != 1 || ev.Queues[0].Failed != 1 || ev.Queues[1].Depth != 1 {
		t.Fatalf("queues %+v", ev.Queues)
	}
	if j := ev.Jobs[2]; j.Error != "not yet: the flag is down" || j.Attempt != 1 || j.MaxAttempts != 1 || j.Finished == 0 {
		t.Fatalf("the failed job in the list: %+v", j)
	}
	for path, want := range map[string]string{
		"/api/jobs/stream?state=failed":                bad + ":failed",
		"/api/jobs/stream?queue=other":                 idle + ":queued",
		"/api/jobs/stream?kind=block":                  blocked + ":running",
		"/api/jobs/stream?kind=echo&state=succeeded":   ok + ":succeeded",
		"/api/jobs/stream?cursor=" + idle:              bad + ":failed " + ok + ":succeeded",
		"/api/jobs/stream?order=newest&cursor=" + bad:  ok + ":succeeded",
		"/api/jobs/stream?order=oldest":                ok + ":succeeded " + bad + ":failed " + idle + ":queued " + blocked + ":running",
		"/api/jobs/stream?order=oldest&cursor=" + idle: blocked + ":running",
		"/api/jobs/stream?state=cancelled&queue=none":  "",
	} {
		until(t, path, e.stream(path), func(ev jobsEvent) bool {
			if ev.Error != "" || ids(ev) != want {
				t.Fatalf("%s: %s (error %q), want %s", path, ids(ev), ev.Error, want)
			}
			return true
		})
	}
	if code, body := e.call("GET", "/api/jobs/stream?color=red", false); code != 400 || !strings.Contains(body, `unknown parameter \"color\"`) {
		t.Errorf("an unknown parameter: %d %s", code, body)
	}
	if code, body := e.call("GET", "/api/jobs/stream?order=up", false); code != 400 || !strings.Contains(body, `order \"up\": write newest (the default) or oldest`) {
		t.Errorf("a bad order: %d %s", code, body)
	}
	until(t, "the jobs API's refusal of a state", e.stream("/api/jobs/stream?state=done"), func(ev jobsEvent) bool {
		if !strings.Contains(ev.Error, `"done" is not a state`) {
			t.Fatalf("state=done: error %q", ev.Error)
		}
		return true
	})

	// A job's detail: args and result as text, then the end.
	det := e.stream("/api/jobs/" + ok + "/events")
	m := <-det
	var d jobDetail
	if err := json.Unmarshal([]byte(m.data), &d); err != nil || m.name != "job" || d.ArgsText != `{"w":16}` || d.ResultText != `{"w":16}` ||
		!d.Final || d.Attempt != 1 || d.MaxAttempts != 3 || d.Priority != "normal" || strings.Contains(m.data, `"args":`) {
		t.Fatalf("detail: %s %s %v", m.name, m.data, err)
	}
	if m := <-det; m.name != "end" {
		t.Fatalf("after the final state: %+v", m)
	}
	if m := <-e.stream("/api/jobs/01NOSUCHJOB0000000000000000/events"); m.name != "failure" || !strings.Contains(m.data, "no such job") {
		t.Fatalf("an unknown job's detail: %+v", m)
	}

	// Cancel and retry: the CSRF guard first, then the jobs API's answer,
	// and every open list hears of it at once.
	if code, _ := e.call("POST", "/api/jobs/"+blocked+"/cancel", true); code != 403 {
		t.Fatalf("cancel without CSRF: %d", code)
	}
	live := e.stream("/api/jobs/" + blocked + "/events")
	if m := <-live; !strings.Contains(m.data, `"state":"running"`) || !strings.Contains(m.data, `"note":"blocked"`) {
		t.Fatalf("the running job's detail: %+v", m)
	}
	code, body := e.call("POST", "/api/jobs/"+blocked+"/cancel", false)
	if code != 200 || !strings.Contains(body, `"state":"cancelled"`) {
		t.Fatalf("cancel: %d %s", code, body)
	}
	until(t, "the cancel in the list", all, func(ev jobsEvent) bool { return strings.Contains(ids(ev), blocked+":cancelled") })
	if m := <-live; m.name != "job" || !strings.Contains(m.data, `"state":"cancelled"`) {
		t.Fatalf("the cancel in the detail: %+v", m)
	}
	if code, body := e.call("POST", "/api/jobs/"+blocked+"/cancel", false); code != 200 || !strings.Contains(body, `"state":"cancelled"`) {
		t.Errorf("cancel again (the jobs API makes it a no-op): %d %s", code, body)
	}
	if code, body := e.call("POST", "/api/jobs/"+ok+"/retry", false); code != 409 || !strings.Contains(body, "only a failed or cancelled job") {
		t.Errorf("retry a succeeded job: %d %s", code, body)
	}
	if code, body := e.call("POST", "/api/jobs/"+ok+"/explode", false); code != 404 || !strings.Contains(body, "cancel or retry") {
		t.Errorf("an unknown action: %d %s", code, body)
	}
	e.pass.Store(true)
	if code, body := e.call("POST", "/api/jobs/"+bad+"/retry", false); code != 200 || strings.Contains(body, `"state":"failed"`) {
		t.Fatalf("retry: %d %s", code, body)
	}
	until(t, "the retried job succeeded in the list", all, func(ev jobsEvent) bool { return strings.Contains(ids(ev), bad+":succeeded") })
}

// A jobs API that does not answer is an error in the stream, and the page
// still loads; a dashboard without one has no jobs page.
func TestJobsPageUnreachable(t *testing.T) {
	dead := httptest.NewServer(nil)
	url := dead.URL
	dead.Close()
	e := &jobsEnv{t: t, token: strings.Repeat("ef", 32), jobs: &jobsclient.Client{URL: url, HTTP: testutil.HTTPClient()}}
	for _, jc := range []*jobsclient.Client{e.jobs, nil} {
		srv := httptest.NewUnstartedServer(nil)
		srv.Config.Handler = New(Config{Token: e.token, Jobs: jc}).Handler(srv.Listener.Addr().String())
		srv.Start()
		e.dash = srv.URL
		if jc != nil {
			if code, page := e.call("GET", "/jobs", false); code != 200 || !strings.Contains(page, `id="herd-initial">null<`) {
				t.Errorf("GET /jobs: %d\n%s", code, page)
			}
			until(t, "the error", e.stream("/api/jobs/stream"), func(ev jobsEvent) bool {
				if !strings.Contains(ev.Error, "cannot reach the jobs API at "+url) {
					t.Fatalf("error %q", ev.Error)
				}
				return true
			})
		} else {
			if code, body := e.call("GET", "/jobs", false); code != 404 || !strings.Contains(body, "HERD_JOBS_URL") {
				t.Errorf("GET /jobs without jobs: %d %s", code, body)
			}
			if code, body := e.call("POST", "/api/jobs/x/cancel", false); code != 404 || !strings.Contains(body, "--jobs-url") {
				t.Errorf("POST cancel without jobs: %d %s", code, body)
			}
			if code, page := e.call("GET", "/", false); code != 200 || !strings.Contains(page, "Jobs: not enabled") {
				t.Errorf("GET / without jobs: %d\n%s", code, page)
			}
		}
		srv.CloseClientConnections()
		srv.Close()
	}
}

func TestCheckJobsURL(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:3000", "https://jobs.example/api", "http://[::1]:3000/"} {
		if err := CheckJobsURL(u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	for _, u := range []string{"127.0.0.1:3000", "ftp://x", "http://", "http://x/?a=1", "://", "http://x/#f"} {
		if err := CheckJobsURL(u); err == nil || !strings.Contains(err.Error(), "such as http://127.0.0.1:3000") {
			t.Errorf("%s: %v", u, err)
		}
	}
}

// roundTripFunc lets a test cut a client off from a real server.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A jobs page loaded again within JobsInterval paints the last read of its
// filter without asking the jobs API; after an action it asks again.
func TestJobsPageRecent(t *testing.T) {
	e := newJobsEnv(t)
	id := e.submit("echo", `{}`, "other")
	var cut atomic.Bool
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if cut.Load() {
			return nil, errors.New("cut off")
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
	srv := httptest.NewUnstartedServer(nil)
	srv.Config.Handler = New(Config{Token: e.token, Jobs: &jobsclient.Client{URL: e.jobs.URL, HTTP: hc}, JobsInterval: time.Minute}).Handler(srv.Listener.Addr().String())
	srv.Start()
	defer srv.Close()
	e.dash = srv.URL
	if code, page := e.call("GET", "/jobs?queue=other", false); code != 200 || !strings.Contains(page, `"id":"`+id+`"`) {
		t.Fatalf("first load: %d\n%s", code, page)
	}
	cut.Store(true)
	if code, page := e.call("GET", "/jobs?queue=other", false); code != 200 || !strings.Contains(page, `"id":"`+id+`"`) {
		t.Fatalf("a reload with the jobs API cut off: %d, the jobs are not inline\n%s", code, page)
	}
	if code, page := e.call("GET", "/jobs?queue=default", false); code != 200 || !strings.Contains(page, `id="herd-initial">null<`) {
		t.Fatalf("another filter with the jobs API cut off: %d\n%s", code, page)
	}
	cut.Store(false)
	if code, body := e.call("POST", "/api/jobs/"+id+"/cancel", false); code != 200 {
		t.Fatalf("cancel: %d %s", code, body)
	}
	cut.Store(true)
	if code, page := e.call("GET", "/jobs?queue=other", false); code != 200 || !strings.Contains(page, `id="herd-initial">null<`) {
		t.Fatalf("after an action, the page painted an old read: %d\n%s", code, page)
	}
}

// CheckJobsURL never panics, and what it accepts is an http or https URL
// with a host and no query that jobsclient can call.
func FuzzCheckJobsURL(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:3000", "https://h/api", "127.0.0.1:3000", "http://", "ftp://x", "http://x/?q", "http://[::1", "", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, u string) {
		if CheckJobsURL(u) != nil {
			return
		}
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.RawQuery != "" {
			t.Fatalf("%q accepted: %+v %v", u, p, err)
		}
		if _, err := http.NewRequest("GET", strings.TrimRight(u, "/")+"/queues", nil); err != nil {
			t.Fatalf("%q accepted, but no request can be made of it: %v", u, err)
		}
	})
}
