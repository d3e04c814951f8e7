package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
	"github.com/herdrun/herd/jobs"
	"github.com/herdrun/herd/jobs/jobshttp"
)

var idRE = regexp.MustCompile(`^[0-9A-Z]{26}\n$`)

// herdJobs runs `herd jobs args... --url url` and returns its status,
// stdout and stderr.
func herdJobs(t *testing.T, url string, args ...string) (int, string, string) {
	t.Helper()
	return runHerd(t, nil, append(append([]string{"jobs"}, args...), "--url", url)...)
}

// startDemoJobs starts herd demo with args and returns its URL.
func startDemoJobs(t *testing.T, args ...string) (*herdRun, string) {
	t.Helper()
	h := startHerd(t, []string{"HERD_DEMO_LIMIT=1000"}, append([]string{"demo", "--port", "0"}, args...)...)
	url, _ := waitListening(t, h)
	return h, url
}

// stopHerd sends SIGTERM and checks that herd exits 0.
func stopHerd(t *testing.T, h *herdRun) {
	t.Helper()
	syscall.Kill(h.p.Pid, syscall.SIGTERM)
	if code := h.wait(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM\nstderr:\n%s", code, h.stderr.String())
	}
}

func TestJobsCLI(t *testing.T) {
	h, url := startDemoJobs(t, "--workers", "0", "--grace", "1s")
	if out := h.stdout.String(); !strings.Contains(out, "curl -s -d '{\"kind\":\"resize\"}' "+url+"/jobs ") ||
		!strings.Contains(out, "curl -sN "+url+"/jobs/<id>/events") || !strings.Contains(out, "herd jobs submit resize --wait --url "+url) {
		t.Errorf("banner lacks the jobs lines:\n%s", out)
	}
	code, out, errOut := herdJobs(t, url, "submit", "resize", `{"width":32}`, "--priority", "high")
	if code != 0 || !idRE.MatchString(out) {
		t.Fatalf("submit: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	id := strings.TrimSpace(out)
	code, out, errOut = herdJobs(t, url, "wait", id)
	if code != 0 || !regexp.MustCompile(`(?m)^state +succeeded$`).MatchString(out) || !regexp.MustCompile(`(?m)^priority +high$`).MatchString(out) {
		t.Fatalf("wait: exit %d\n%s%s", code, out, errOut)
	}
	var info jobs.Info
	code, out, _ = herdJobs(t, url, "get", id, "--json")
	if err := json.Unmarshal([]byte(out), &info); code != 0 || err != nil || info.ID != id || info.State != jobs.StateSucceeded {
		t.Fatalf("get --json: exit %d, %v\n%.300s", code, err, out)
	}
	code, out, _ = herdJobs(t, url, "ls")
	if code != 0 || !strings.HasPrefix(out, "ID ") || !strings.Contains(out, id+"  resize  default  succeeded") {
		t.Fatalf("ls: exit %d\n%s", code, out)
	}
	// Newest first: a second job comes before the first, one per page.
	code, out, _ = herdJobs(t, url, "submit", "resize", `{"width":8}`)
	second := strings.TrimSpace(out)
	if code != 0 || !idRE.MatchString(out) {
		t.Fatalf("submit: exit %d, stdout %q", code, out)
	}
	code, out, _ = herdJobs(t, url, "ls", "--newest", "--limit", "1")
	if code != 0 || !strings.Contains(out, second+"  resize") || strings.Contains(out, id) || !strings.HasSuffix(out, "more: herd jobs ls --newest --cursor "+second+"\n") {
		t.Fatalf("ls --newest --limit 1: exit %d\n%s", code, out)
	}
	code, out, _ = herdJobs(t, url, "ls", "--newest", "--limit", "1", "--cursor", second)
	if code != 0 || !strings.Contains(out, id+"  resize") {
		t.Fatalf("ls --newest --cursor %s: exit %d\n%s", second, code, out)
	}
	var qs jobshttp.QueuesResponse
	code, out, _ = herdJobs(t, url, "stats", "--json")
	if err := json.Unmarshal([]byte(out), &qs); code != 0 || err != nil || len(qs.Queues) == 0 || qs.Queues[0].Succeeded < 1 {
		t.Fatalf("stats --json: exit %d, %v\n%s", code, err, out)
	}
	if code, out, _ = herdJobs(t, url, "stats"); code != 0 || !strings.Contains(out, "SUCCEEDED") || !strings.Contains(out, "default") {
		t.Fatalf("stats: exit %d\n%s", code, out)
	}

	// A slow job: wait gives up at its timeout, cancel ends it, wait then
	// fails, retry runs it again.
	code, out, _ = herdJobs(t, url, "submit", "resize", `{"pause":"3s"}`)
	if code != 0 {
		t.Fatalf("submit: exit %d", code)
	}
	slow := strings.TrimSpace(out)
	code, _, errOut = herdJobs(t, url, "wait", slow, "--timeout", "300ms")
	if code != 1 || !strings.Contains(errOut, "herd: job "+slow+" is still ") || !strings.Contains(errOut, "herd jobs cancel "+slow) {
		t.Fatalf("wait --timeout: exit %d, stderr %q", code, errOut)
	}
	if code, out, errOut = herdJobs(t, url, "cancel", slow); code != 0 || !strings.HasPrefix(out, slow+" ") {
		t.Fatalf("cancel: exit %d, %q %q", code, out, errOut)
	}
	code, _, errOut = herdJobs(t, url, "wait", slow)
	if want := "herd: job " + slow + " was cancelled; run it again with `herd jobs retry " + slow + "`\n"; code != 1 || errOut != want {
		t.Fatalf("wait for a cancelled job: exit %d, stderr %q, want %q", code, errOut, want)
	}
	if code, out, errOut = herdJobs(t, url, "retry", slow); code != 0 || !strings.HasPrefix(out, slow+" ") {
		t.Fatalf("retry: exit %d, %q %q", code, out, errOut)
	}
	if code, out, errOut = herdJobs(t, url, "submit", "resize", "--wait", "--json"); code != 0 || !strings.Contains(out, `"state": "succeeded"`) {
		t.Fatalf("submit --wait --json: exit %d\n%.300s%s", code, out, errOut)
	}

	// --follow prints every change: as lines, or as JSON lines.
	code, out, errOut = herdJobs(t, url, "submit", "resize", `{"width":8,"pause":"100ms"}`, "--wait", "--follow", "--json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var first, last jobs.Info
	json.Unmarshal([]byte(lines[0]), &first)
	json.Unmarshal([]byte(lines[len(lines)-1]), &last)
	if code != 0 || len(lines) < 3 || first.State.Final() || last.State != jobs.StateSucceeded || last.ID != first.ID {
		t.Fatalf("submit --wait --follow --json: exit %d\n%.2000s%s", code, out, errOut)
	}
	code, out, _ = herdJobs(t, url, "wait", last.ID, "-f")
	if code != 0 || !regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d  succeeded  \(attempt 1 of 3\)$`).MatchString(out) || !strings.Contains(out, "\nstate     succeeded\n") {
		t.Fatalf("wait -f of an ended job: exit %d\n%s", code, out)
	}

	// The environment variable gives the URL.
	code, out, _ = runHerd(t, []string{"HERD_JOBS_URL=" + url}, "jobs", "get", id)
	if code != 0 || !strings.Contains(out, id) {
		t.Fatalf("get with HERD_JOBS_URL: exit %d\n%s", code, out)
	}

	// Mistakes, one by one: exit 2 for what the command line got wrong, 1
	// for what failed; one line that says what to do.
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"get", "01NOSUCHJOB"}, 1, "herd: no job 01NOSUCHJOB on this server; `herd jobs ls` lists the jobs\n"},
		{[]string{"cancel", "01NOSUCHJOB"}, 1, "herd: no job 01NOSUCHJOB on this server"},
		{[]string{"submit", "nope"}, 2, `herd: kind: "nope" is not a kind any worker handles`},
		{[]string{"submit", "resize", "--delay", "soon"}, 2, `herd: --delay: "soon" is not a duration; write one such as "90s"`},
		{[]string{"submit", "resize", "--run-at", "noon"}, 2, `herd: --run-at: "noon" is not an RFC 3339 time`},
		{[]string{"submit", "resize", "--priority", "urgent"}, 2, `herd: --priority: "urgent" is not a priority; write low, normal, high or critical`},
		{[]string{"submit", "resize", "{bad"}, 2, `herd: ARGS "{bad" is not JSON`},
		{[]string{"submit"}, 2, "herd: accepts between 1 and 2 arg(s), received 0\n"},
		{[]string{"get"}, 2, "herd: accepts 1 arg(s), received 0\n"},
		{[]string{"ls", "--state", "done"}, 2, `herd: --state: "done" is not a state; write one of queued`},
		{[]string{"ls", "--limit", "0"}, 0, "ID "},
		{[]string{"retry", id}, 1, "herd: job " + id + " is succeeded: cannot retry it; only a failed or cancelled job can be retried\n"},
	} {
		code, out, errOut := herdJobs(t, url, c.args...)
		got := errOut
		if c.code == 0 {
			got = out
		}
		if code != c.code || !strings.HasPrefix(got, c.want) || strings.Count(strings.TrimSuffix(errOut, "Run 'herd jobs "+c.args[0]+" --help' for usage.\n"), "\n") > 1 {
			t.Errorf("herd jobs %v: exit %d, stderr %q; want exit %d and %q", c.args, code, errOut, c.code, c.want)
		}
	}
	stopHerd(t, h)
}

func TestJobsCLIUnreachable(t *testing.T) {
	port := testutil.FreePort(t)
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	code, _, errOut := herdJobs(t, url, "ls")
	want := "herd: cannot reach the jobs API at " + url + " (connection refused); start it with `herd demo`, or give its address with --url or HERD_JOBS_URL\n"
	if code != 1 || errOut != want {
		t.Fatalf("exit %d, stderr %q; want 1 and %q", code, errOut, want)
	}
}

// TestDemoClusterJobs: in a cluster, every worker forwards the jobs API to
// the primary, the event stream included; the temporary jobs directory
// goes with herd.
func TestDemoClusterJobs(t *testing.T) {
	h, url := startDemoJobs(t, "--workers", "2")
	m := regexp.MustCompile(`stored in (\S+) \(removed at exit`).FindStringSubmatch(h.stdout.String())
	if m == nil {
		t.Fatalf("banner lacks the jobs directory:\n%s", h.stdout.String())
	}
	dir := m[1]
	code, out, errOut := herdJobs(t, url, "submit", "resize", `{"width":16,"pause":"200ms"}`)
	if code != 0 {
		t.Fatalf("submit: exit %d %s", code, errOut)
	}
	id := strings.TrimSpace(out)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/jobs/"+id+"/events", nil)
	resp, err := testutil.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" || resp.Header.Get("X-Herd-Worker") == "" {
		t.Fatalf("events: %d %v", resp.StatusCode, resp.Header)
	}
	var states []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	progress := 0
	for sc.Scan() {
		line := sc.Text()
		if line == "event: progress" {
			progress++
		}
		if d, ok := strings.CutPrefix(line, "data: "); ok {
			var info jobs.Info
			if err := json.Unmarshal([]byte(d), &info); err != nil {
				t.Fatal(err)
			}
			if len(states) == 0 || states[len(states)-1] != string(info.State) {
				states = append(states, string(info.State))
			}
		}
	}
	if len(states) == 0 || states[len(states)-1] != "succeeded" || progress == 0 {
		t.Fatalf("states %v, %d progress events; want progress and the end in succeeded", states, progress)
	}
	code, b, err := testutil.Get(context.Background(), url+"/resized/"+id)
	if err != nil || code != 200 || !strings.HasPrefix(b, "\x89PNG") {
		t.Fatalf("resized: %d %v", code, err)
	}
	stopHerd(t, h)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the temporary jobs directory %s after herd: %v", dir, err)
	}
}

// TestDemoJobsDirInUse: a second demo on the same --jobs-dir stops with
// one line that says why and what to do; the jobs of the first are still
// there after it stops and a new demo opens the directory.
func TestDemoJobsDirInUse(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "jobs")
	h, url := startDemoJobs(t, "--workers", "0", "--jobs-dir", dir)
	if !strings.Contains(h.stdout.String(), "stored in "+dir+" (kept; --jobs-dir)") {
		t.Errorf("banner:\n%s", h.stdout.String())
	}
	code, out, _ := herdJobs(t, url, "submit", "resize", "--delay", "1h")
	if code != 0 {
		t.Fatalf("submit: exit %d", code)
	}
	id := strings.TrimSpace(out)
	code, out, errOut := runHerd(t, nil, "demo", "--workers", "0", "--port", "0", "--jobs-dir", dir)
	want := "herd: " + dir + ": the jobs directory is in use by another herd demo (pid " + strconv.Itoa(h.p.Pid) + "); stop that demo, or give this one another --jobs-dir\n"
	if code != 1 || errOut != want || out != "" {
		t.Fatalf("second demo: exit %d, stdout %q, stderr %q; want exit 1 and %q", code, out, errOut, want)
	}
	stopHerd(t, h)
	h2, url2 := startDemoJobs(t, "--workers", "0", "--jobs-dir", dir)
	code, out, _ = herdJobs(t, url2, "get", id)
	if code != 0 || !regexp.MustCompile(`(?m)^state +scheduled$`).MatchString(out) {
		t.Fatalf("the scheduled job after a restart: exit %d\n%s", code, out)
	}
	stopHerd(t, h2)
}

// TestJobsCLIQueueFull: a full queue is a failure that says when to try
// again (in process, against a real handler whose queues hold one job).
func TestJobsCLIQueueFull(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := jobs.Open(ctx, jobs.Config{Dir: t.TempDir(), MaxQueueDepth: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Declare(ctx, "later"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(jobshttp.New(c, jobshttp.Options{}))
	defer srv.Close()
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := execute(ctx, append([]string{"jobs", "--url", srv.URL}, args...), &out, &errOut, func(string) string { return "" })
		return code, out.String(), errOut.String()
	}
	if code, out, errOut := run("submit", "later"); code != 0 || !idRE.MatchString(out) {
		t.Fatalf("first submit: exit %d, %q %q", code, out, errOut)
	}
	code, _, errOut := run("submit", "later")
	if !regexp.MustCompile(`^herd: queue "default" is full \(1 of 1 jobs waiting\); try again in [1-9][0-9]*s\n$`).MatchString(errOut) || code != 1 {
		t.Fatalf("second submit: exit %d, stderr %q", code, errOut)
	}
}
