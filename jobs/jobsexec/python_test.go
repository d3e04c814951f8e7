package jobsexec_test

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/herdrun/herd/jobs"
	"github.com/herdrun/herd/jobs/jobsexec"
)

// oncepy is a one-shot handler: args on stdin, result on stdout,
// progress on stderr.
const oncepy = `import json, os, subprocess, sys, time
args = json.load(sys.stdin)
mode = args.get("mode", "ok")
print("starting " + mode, file=sys.stderr, flush=True)
print(json.dumps({"progress": 0.5, "note": "half"}), file=sys.stderr, flush=True)
if mode == "fail":
    print("Traceback (most recent call last):", file=sys.stderr)
    print("ValueError: bad width " + str(args.get("width")), file=sys.stderr)
    sys.exit(3)
if mode == "garbage":
    print("this is not JSON")
    sys.exit(0)
if mode == "hang":
    g = subprocess.Popen(["sleep", "300"])
    with open(os.path.join(args["dir"], args["pidfile"]), "w") as f:
        f.write("%d %d\n" % (os.getpid(), g.pid))
    time.sleep(300)
print(json.dumps({"width": args["width"] * 2, "job": os.environ["HERD_JOB_ID"],
                  "attempt": int(os.environ["HERD_JOB_ATTEMPT"])}))
`

func requirePython(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatalf("python3 is needed: %v", err)
	}
}

func TestPythonOnce(t *testing.T) {
	requirePython(t)
	h := newHarness(t, jobsexec.Config{Command: []string{"python3", "$DIR/once.py"}})
	h.script("once.py", oncepy)
	if got := h.r.Transport(); got != jobsexec.TransportStdio {
		t.Fatalf("transport %v, want stdio", got)
	}

	t.Run("result", func(t *testing.T) {
		info := h.run(map[string]any{"width": 21}, jobs.SubmitOptions{})
		res := result[struct {
			Width   int
			Job     string
			Attempt int
		}](t, info)
		if res.Width != 42 || res.Job != info.ID || res.Attempt != 1 {
			t.Errorf("result %s, want width 42, job %s, attempt 1", info.Result, info.ID)
		}
		if info.Note != "half" {
			t.Errorf("note %q, want the progress line's \"half\"", info.Note)
		}
		if !strings.Contains(h.out.String(), "job "+info.ID+": starting ok\n") {
			t.Errorf("output does not have the job's log line:\n%s", h.out.String())
		}
		if strings.Contains(h.out.String(), `"progress"`) {
			t.Errorf("a progress line was logged:\n%s", h.out.String())
		}
	})

	t.Run("exit code", func(t *testing.T) {
		info := h.run(map[string]any{"mode": "fail", "width": 7}, jobs.SubmitOptions{MaxAttempts: 1})
		if info.State != jobs.StateFailed {
			t.Fatalf("state %s, want failed", info.State)
		}
		for _, want := range []string{"exited with code 3: ValueError: bad width 7", "Traceback (most recent call last):", "starting fail"} {
			if !strings.Contains(info.Error, want) {
				t.Errorf("error does not contain %q:\n%s", want, info.Error)
			}
		}
		if strings.Contains(info.Error, `"progress"`) {
			t.Errorf("the stderr tail has a progress line:\n%s", info.Error)
		}
	})

	t.Run("retried", func(t *testing.T) {
		info := h.run(map[string]any{"mode": "fail"}, jobs.SubmitOptions{MaxAttempts: 2})
		if info.State != jobs.StateFailed || info.Attempt != 2 {
			t.Fatalf("state %s after attempt %d, want failed after 2", info.State, info.Attempt)
		}
	})

	t.Run("not JSON", func(t *testing.T) {
		info := h.run(map[string]any{"mode": "garbage"}, jobs.SubmitOptions{MaxAttempts: 1})
		if info.State != jobs.StateFailed || !strings.Contains(info.Error, `stdout is not one JSON value: "this is not JSON"`) {
			t.Fatalf("state %s, error %q; want failed, naming stdout", info.State, info.Error)
		}
	})

	t.Run("timeout kills the tree", func(t *testing.T) {
		id, pid, gpid := h.hang("hang.pid", jobs.SubmitOptions{MaxAttempts: 1, Timeout: 10 * time.Second})
		info := h.endsAs(id, jobs.StateFailed, "timed out after 10s")
		if !strings.Contains(info.Error, "starting hang") {
			t.Errorf("error has no stderr tail: %q", info.Error)
		}
		h.reaped(pid, gpid)
	})

	t.Run("cancel kills the tree", func(t *testing.T) {
		id, pid, gpid := h.hang("cancel.pid", jobs.SubmitOptions{MaxAttempts: 1})
		h.watchProgress(id, 0.5)
		start := time.Now()
		waited := h.cancel(id)
		h.reaped(pid, gpid)
		t.Logf("Cancel to Wait's return %v, to the group gone %v", waited, time.Since(start))
	})
}

// keptpy is a long-lived handler: one JSON line per job on stdin, replies
// as JSON lines on stdout.
const keptpy = `import json, os, subprocess, sys, time
print("worker up", file=sys.stderr, flush=True)
for line in sys.stdin:
    job = json.loads(line)
    args = job["args"] or {}
    mode = args.get("mode", "ok")
    print("job " + job["id"] + " " + mode, file=sys.stderr, flush=True)
    print("a stray line on stdout", flush=True)
    print(json.dumps({"progress": 0.25, "note": "quarter"}), flush=True)
    if mode == "fail":
        print(json.dumps({"id": job["id"], "error": "bad width", "permanent": args.get("permanent", False)}), flush=True)
        continue
    if mode == "crash":
        print("giving up", file=sys.stderr, flush=True)
        sys.exit(4)
    if mode == "hang":
        g = subprocess.Popen(["sleep", "300"])
        with open(os.path.join(args["dir"], args["pidfile"]), "w") as f:
            f.write("%d %d\n" % (os.getpid(), g.pid))
        time.sleep(300)
    print(json.dumps({"id": job["id"], "result": {"pid": os.getpid(), "kind": job["kind"], "attempt": job["attempt"]}}), flush=True)
`

func TestPythonKept(t *testing.T) {
	requirePython(t)
	h := newHarness(t, jobsexec.Config{Command: []string{"python3", "$DIR/kept.py"}, Keep: true, Timeout: 10 * time.Second})
	h.script("kept.py", keptpy)
	type res struct {
		Pid     int
		Kind    string
		Attempt int
	}

	first := result[res](t, h.run(nil, jobs.SubmitOptions{}))
	if first.Kind != "k" || first.Attempt != 1 {
		t.Fatalf("result %+v\noutput:\n%s", first, h.out.String())
	}
	for range 3 {
		info := h.run(nil, jobs.SubmitOptions{})
		if r := result[res](t, info); r.Pid != first.Pid {
			t.Fatalf("job ran in pid %d, want the kept process %d", r.Pid, first.Pid)
		}
		if info.Note != "quarter" {
			t.Errorf("note %q, want quarter", info.Note)
		}
	}
	if !strings.Contains(h.out.String(), ": a stray line on stdout\n") {
		t.Errorf("a stdout line that is no reply was not logged:\n%s", h.out.String())
	}

	info := h.run(map[string]any{"mode": "fail"}, jobs.SubmitOptions{MaxAttempts: 3})
	if info.State != jobs.StateFailed || info.Attempt != 3 || !strings.HasPrefix(info.Error, "bad width") {
		t.Fatalf("state %s, attempt %d, error %q; want failed after 3 with the reply's error", info.State, info.Attempt, info.Error)
	}
	info = h.run(map[string]any{"mode": "fail", "permanent": true}, jobs.SubmitOptions{MaxAttempts: 3})
	if info.State != jobs.StateFailed || info.Attempt != 1 {
		t.Fatalf("permanent error: state %s after attempt %d, want failed after 1", info.State, info.Attempt)
	}
	if r := result[res](t, h.run(nil, jobs.SubmitOptions{})); r.Pid != first.Pid {
		t.Fatalf("an error reply replaced the process (%d, was %d)", r.Pid, first.Pid)
	}

	info = h.run(map[string]any{"mode": "crash"}, jobs.SubmitOptions{MaxAttempts: 1})
	// stdout's stray line and stderr's lines come on two pipes: either may
	// be the last line of the tail.
	if info.State != jobs.StateFailed || !strings.Contains(info.Error, "exited with code 4: ") || !strings.Contains(info.Error, "\n  giving up") {
		t.Fatalf("crash: state %s, error %q", info.State, info.Error)
	}
	second := result[res](t, h.run(nil, jobs.SubmitOptions{}))
	if second.Pid == first.Pid {
		t.Fatalf("the job after a crash ran in the dead pid %d", first.Pid)
	}

	// Config.Timeout (10s: generous, since a loaded machine can take seconds to start python) ends the attempt; the job's own is 30 min.
	id, pid, gpid := h.hang("kept.pid", jobs.SubmitOptions{MaxAttempts: 1})
	h.endsAs(id, jobs.StateFailed, "timed out after 10s")
	h.reaped(pid, gpid)
	if r := result[res](t, h.run(nil, jobs.SubmitOptions{})); r.Pid == pid {
		t.Fatalf("a job ran in the killed pid %d", pid)
	}
}

func TestPermanentReplyError(t *testing.T) {
	err := error(&jobsexec.ReplyError{Message: "x", Permanent: true})
	if !errors.Is(err, jobs.ErrPermanent) {
		t.Fatal("a permanent ReplyError is not jobs.ErrPermanent")
	}
	if errors.Is(&jobsexec.ReplyError{Message: "x"}, jobs.ErrPermanent) {
		t.Fatal("a ReplyError is jobs.ErrPermanent")
	}
}
