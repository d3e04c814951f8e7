package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
)

// One instance that crashes at once is given up on, although its backoff
// spreads its restarts wider than the restart window (4 exits can never
// fall within 50ms when each restart waits 100ms): the rule is exits in a
// row without a stable uptime, not exits within a window.
func TestRunGivesUpOnOneCrashingInstance(t *testing.T) {
	code, out, errOut := runHerd(t, []string{"NO_COLOR=1"}, "run", "--backoff", "100ms", "--backoff-max", "100ms",
		"--restart-window", "50ms", "--max-restarts", "3", "--name", "crashy", "--",
		"sh", "-c", "echo boom >&2; exit 1")
	if code != exitErrored {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitErrored, out, errOut)
	}
	for _, want := range []string{"app crashy errored", "exited 4 times in a row", "min_uptime", "--max-restarts", "crashy[0] boom"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if n := strings.Count(out, "crashy[0] | boom"); n != 4 {
		t.Errorf("%d runs, want 4 (3 restarts tolerated)\n%s", n, out)
	}
}

// An instance that was up for --min-uptime before it exited starts the
// count afresh: it is restarted however often that happens.
func TestRunStableExitsAreNotACrashLoop(t *testing.T) {
	h := startHerd(t, []string{"NO_COLOR=1"}, "run", "--backoff", "10ms", "--backoff-max", "10ms",
		"--restart-window", "1ms", "--max-restarts", "1", "--min-uptime", "50ms", "--name", "stable", "--",
		"sh", "-c", "echo up; sleep 0.3; exit 1")
	waitOut(t, h, "stable[0] | up", 5)
	syscall.Kill(h.p.Pid, syscall.SIGTERM)
	if code := h.wait(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0\nstdout:\n%s\nstderr:\n%s", code, h.stdout.String(), h.stderr.String())
	}
}

// An instance stopped by hand (kill <pid>, the README's demo step) after
// --min-uptime is no failure: herd logs it at Info, without a failure
// count, and restarts it at once, however often that happens (here more
// often than --max-restarts 1 within the restart window); both a program
// that exits 0 on SIGTERM and one that dies of it.
func TestRunKilledInstanceIsNoFailure(t *testing.T) {
	for _, tc := range []struct{ name, script string }{
		{"exits0", `trap "exit 0" TERM; echo up; while :; do sleep 0.05; done`},
		{"dies", `echo up; exec sleep 1000`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startHerd(t, []string{"NO_COLOR=1"}, "run", "--max-restarts", "1", "--restart-window", "1h",
				"--min-uptime", "1ms", "--name", "k", "--", "sh", "-c", tc.script)
			for i := range 3 {
				waitOut(t, h, "instance ready", i+1)
				waitOut(t, h, "k[0] | up", i+1)
				pids := readyPIDs(h.stdout.String())[0]
				if err := syscall.Kill(pids[len(pids)-1], syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
			}
			waitOut(t, h, "instance ready", 4)
			syscall.Kill(h.p.Pid, syscall.SIGTERM)
			if code := h.wait(t); code != 0 {
				t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, h.stdout.String(), h.stderr.String())
			}
			out := h.stdout.String()
			if n := strings.Count(out, "after a stable run; respawning"); n != 3 {
				t.Errorf("%d clean-exit lines, want 3:\n%s", n, out)
			}
			if strings.Contains(out, "WARN") || strings.Contains(out, "failures=") || strings.Contains(out, "errored") {
				t.Errorf("a kill by hand counted as a failure:\n%s", out)
			}
		})
	}
}

// A last line without a newline reaches the console, the log files, the
// JSON records and the stderr tail of the error.
func TestRunLastLineWithoutNewline(t *testing.T) {
	code, out, errOut := runHerd(t, []string{"NO_COLOR=1"}, "run", "--restart", "never", "--ready", "start", "--",
		"sh", "-c", `printf "Fatal: boom" >&2; exit 3`)
	if code != 1 || !strings.Contains(errOut, "last lines on stderr:\n  sh[0] Fatal: boom") || strings.Contains(errOut, "no output on stderr") {
		t.Errorf("exit %d, stderr %q; want 1 and the last line", code, errOut)
	}
	if !strings.Contains(out, "sh[0] | Fatal: boom\n") {
		t.Errorf("stdout lacks the last stderr line:\n%s", out)
	}

	dir := t.TempDir()
	logf, outf, errf := filepath.Join(dir, "all.log"), filepath.Join(dir, "out.log"), filepath.Join(dir, "err.log")
	code, out, errOut = runHerd(t, nil, "run", "--json", "--restart", "never", "--ready", "start",
		"--log-file", logf, "--out-file", outf, "--error-file", errf, "--name", "p", "--",
		"sh", "-c", `printf "half out"; printf "Fatal: boom" >&2; exit 3`)
	if code != 1 || !strings.Contains(errOut, "p[0] Fatal: boom") {
		t.Errorf("--json: exit %d, stderr %q", code, errOut)
	}
	msgs := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec struct{ Msg, Stream string }
		if json.Unmarshal([]byte(l), &rec) == nil && rec.Stream != "" {
			msgs[rec.Stream] = rec.Msg
		}
	}
	if msgs["stdout"] != "half out" || msgs["stderr"] != "Fatal: boom" {
		t.Errorf("JSON records %v; want both last lines\n%s", msgs, out)
	}
	for _, f := range []struct{ path, want string }{{logf, "Fatal: boom"}, {logf, "half out"}, {outf, "half out"}, {errf, "Fatal: boom"}} {
		b, err := os.ReadFile(f.path)
		if err != nil || !strings.Contains(string(b), f.want) {
			t.Errorf("%s: %v; lacks %q:\n%s", filepath.Base(f.path), err, f.want, b)
		}
	}
}

func TestRunInstanceBound(t *testing.T) {
	code, _, errOut := runHerd(t, nil, "run", "-i", "100000", "--", "true")
	if code != 2 || !strings.Contains(errOut, "instances: 100000 is more than") || !strings.Contains(errOut, "--no-instance-limit") {
		t.Errorf("-i 100000: exit %d, stderr %q; want 2 naming --no-instance-limit", code, errOut)
	}
	code, _, errOut = runHerd(t, nil, "run", "-i", "0", "--", "true")
	if code != 2 || !strings.Contains(errOut, `instances must be a positive number or max, not "0"`) {
		t.Errorf("-i 0: exit %d, stderr %q; want 2", code, errOut)
	}
	// The flag lifts the bound: validation goes on to the command.
	code, _, errOut = runHerd(t, nil, "run", "-i", "100000", "--no-instance-limit", "--", "/no/such/program")
	if code != exitNotFound {
		t.Errorf("--no-instance-limit: exit %d, stderr %q; want %d", code, errOut, exitNotFound)
	}
	p := filepath.Join(t.TempDir(), "herd.yaml")
	os.WriteFile(p, []byte("apps:\n  - name: w\n    command: [true]\n    instances: 100000\n"), 0o644)
	code, _, errOut = runHerd(t, nil, "run", "-c", p)
	if code != 1 || !strings.Contains(errOut, "herd.yaml:4: instances: 100000 is more than") || !strings.Contains(errOut, "no_instance_limit: true") {
		t.Errorf("instances: 100000: exit %d, stderr %q", code, errOut)
	}
}

// --max-memory holds while an instance starts: one that grows before it is
// ready is killed as a failed start, long before its ready timeout.
func TestRunMaxMemoryBeforeReady(t *testing.T) {
	testutil.RequireNode(t)
	// 8 MiB more every 20ms, touched, up to 400 MiB; never ready.
	app := writeApp(t, `const keep = [];
const t = setInterval(() => { if (keep.length < 50) keep.push(Buffer.alloc(8 << 20, 1)); }, 20);
`)
	start := time.Now()
	code, out, errOut := runHerd(t, []string{"NO_COLOR=1"}, "run", "--ready", "message", "--ready-timeout", "10m",
		"--max-memory", "64M", "--memory-interval", "50ms", "--name", "leak", "--", "node", app)
	if code != 1 || !strings.Contains(errOut, "app leak failed to start") || !strings.Contains(errOut, "before it was ready") ||
		!strings.Contains(errOut, "max_memory") {
		t.Fatalf("exit %d after %v; want 1 naming the memory limit\nstdout:\n%s\nstderr:\n%s", code, time.Since(start), out, errOut)
	}
	if !strings.Contains(out, "killing instance: a failed start") {
		t.Errorf("no log line about the kill:\n%s", out)
	}
}

func TestRunCommandNotExecutable(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "job.sh")
	os.WriteFile(script, []byte("echo hi\n"), 0o644)
	for _, tc := range []struct{ cmd, want string }{
		{dir, "is a directory, not a program"},
		{script, "is not executable: make it so (chmod +x " + script + ") or give its interpreter first"},
	} {
		code, _, errOut := runHerd(t, nil, "run", "--", tc.cmd)
		if code != exitNotExec || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "not found") {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q", tc.cmd, code, errOut, exitNotExec, tc.want)
		}
	}
	p := filepath.Join(dir, "herd.yaml")
	os.WriteFile(p, []byte("apps:\n  - name: job\n    command: [./job.sh]\n"), 0o644)
	code, _, errOut := runHerd(t, nil, "run", "-c", p)
	if code != exitNotExec || !strings.Contains(errOut, "app job: command ./job.sh is not executable") {
		t.Errorf("config: exit %d, stderr %q", code, errOut)
	}
}

// A Python app that binds the port herd holds gets the hint too (Python
// says "Address already in use", with a capital A).
func TestRunPortHintForPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not in PATH: install it (apt-get install python3) to run this test")
	}
	port := strconv.Itoa(testutil.FreePort(t))
	code, _, errOut := runHerd(t, nil, "run", "--host", "127.0.0.1", "-p", port, "--", py, "-c",
		"import socket; s = socket.socket(); s.bind(('127.0.0.1', "+port+")); s.listen()")
	if code != 1 || !strings.Contains(errOut, "Address already in use") || !strings.Contains(errOut, "hint: the app bound a port that herd already holds") {
		t.Errorf("exit %d, stderr %q; want 1 with the hint", code, errOut)
	}
}
