package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/herdrun/herd/internal/testutil"
)

// startWorker starts herd jobs worker with args and waits for its ready
// line; it returns the run and the line's fields by name.
func startWorker(t *testing.T, env []string, args ...string) (*herdRun, map[string]string) {
	t.Helper()
	h := startHerd(t, env, append([]string{"jobs", "worker"}, args...)...)
	var line string
	testutil.WaitFor(t, "the worker's ready line", func() bool {
		select {
		case <-h.p.Done():
			t.Fatalf("herd exited early\nstderr:\n%s", h.stderr.String())
		default:
		}
		var found bool
		line, _, found = strings.Cut(h.stdout.String(), "\n") // one read: stdout may grow between two
		return found
	})
	f := strings.Fields(line)
	if len(f) < 2 || f[0] != "ready" || len(f)%2 != 1 {
		t.Fatalf("ready line %q", line)
	}
	m := map[string]string{}
	for i := 1; i+1 < len(f); i += 2 {
		m[f[i]] = f[i+1]
	}
	return h, m
}

// TestJobsWorker: a Python handler run by herd jobs worker serves jobs
// submitted with herd jobs submit over the worker's own HTTP API; a
// failing one carries its stderr; SIGTERM ends the worker cleanly.
func TestJobsWorker(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "h.py")
	if err := os.WriteFile(script, []byte(`import json, os, sys
a = json.load(sys.stdin) or {}
print("resizing " + os.environ["HERD_JOB_ID"], file=sys.stderr)
print(json.dumps({"progress": 0.5, "note": "half"}), file=sys.stderr, flush=True)
if a.get("escape"):
    import subprocess
    g = subprocess.Popen(["sleep", "300"], start_new_session=True)
    print(json.dumps({"pid": g.pid}))
    sys.exit(0)
if a.get("fail"):
    print("ValueError: width must be positive", file=sys.stderr)
    sys.exit(2)
print(json.dumps({"width": a["width"] * 2}))
`), 0o644); err != nil {
		t.Fatal(err)
	}
	h, ready := startWorker(t, nil, "--kind", "resize", "--concurrency", "2", "--dir", filepath.Join(dir, "store"),
		"--http", "127.0.0.1:0", "--", "python3", script)
	if ready["kind"] != "resize" || ready["concurrency"] != "2" || ready["transport"] != "stdio" || !strings.HasPrefix(ready["http"], "http://127.0.0.1:") {
		t.Fatalf("ready %v", ready)
	}
	url := ready["http"]

	code, out, errOut := herdJobs(t, url, "submit", "resize", `{"width":21}`, "--wait", "--json")
	if code != 0 || !strings.Contains(out, `"result": {`) || !strings.Contains(out, `"width": 42`) || !strings.Contains(out, `"note": "half"`) {
		t.Fatalf("submit --wait: exit %d\nstdout:\n%s\nstderr:\n%s\nworker:\n%s", code, out, errOut, h.stderr.String())
	}
	code, out, errOut = herdJobs(t, url, "submit", "resize", `{"fail":true}`, "--max-attempts", "1", "--wait", "--json")
	if code != 1 || !strings.Contains(out, `exited with code 2: ValueError: width must be positive`) {
		t.Fatalf("failing job: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(h.stderr.String(), ": resizing ") {
		t.Errorf("the handler's log is not on the worker's stderr:\n%s", h.stderr.String())
	}
	// A process that leaves the handler's group (setsid) is the worker's
	// to reap, and is stopped when the worker stops.
	code, out, errOut = herdJobs(t, url, "submit", "resize", `{"escape":true}`, "--wait", "--json")
	m := regexp.MustCompile(`"pid": (\d+)`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("escaping job: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	pid, _ := strconv.Atoi(m[1])
	if testutil.Gone(pid) {
		t.Fatalf("the escaped process %d is already gone", pid)
	}
	stopHerd(t, h)
	if !testutil.WaitGone(pid, testutil.WaitTimeout) {
		t.Errorf("the escaped process %d outlived the worker", pid)
	}
	if !strings.Contains(h.stderr.String(), "stopped 1 process(es)") {
		t.Errorf("the worker did not say it stopped the escaped process:\n%s", h.stderr.String())
	}
}

// TestJobsWorkerFlags: bad command lines are usage errors that say what
// to write.
func TestJobsWorkerFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"--dir", "x", "--", "true"}, nil, "--kind is required"},
		{[]string{"--kind", "k", "--dir", "x"}, nil, "no CMD"},
		{[]string{"--kind", "k", "--", "true"}, []string{"HERD_JOBS_NATS=", "HERD_JOBS_DIR="}, "no jobs store: give --dir"},
		{[]string{"--kind", "k", "--dir", "x", "--nats", "nats://127.0.0.1:1", "--", "true"}, nil, "--dir and --nats are both given"},
		{[]string{"--kind", "k", "--nats", "nats://127.0.0.1:1", "--listen", "127.0.0.1:0", "--", "true"}, nil, "--listen serves an embedded store"},
		{[]string{"--kind", "k", "--dir", "x", "--transport", "pipe", "--", "true"}, nil, "--transport"},
		{[]string{"--kind", "k", "--dir", "x", "--concurrency", "0", "--", "true"}, nil, "--concurrency 0"},
		{[]string{"--kind", "k", "--dir", "x", "--", "no-such-program-here"}, nil, `CMD "no-such-program-here"`},
		{[]string{"--kind", "k", "--dir", "x", "--", "missing.js"}, nil, `CMD "missing.js"`},
	} {
		code, _, stderr := runHerd(t, tc.env, append([]string{"jobs", "worker"}, tc.args...)...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}
