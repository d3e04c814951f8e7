package jobsexec_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
	"github.com/herdrun/herd/jobs"
	"github.com/herdrun/herd/jobs/jobsexec"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

// harness is a jobs store in a temporary directory with a worker that runs
// the kind "k" with a Runner.
type harness struct {
	t   *testing.T
	c   *jobs.Client
	r   *jobsexec.Runner
	dir string // for scripts and pid files
	out *testutil.SyncBuffer
}

func newHarness(t *testing.T, cfg jobsexec.Config) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), out: &testutil.SyncBuffer{}}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := jobs.Open(ctx, jobs.Config{Dir: filepath.Join(h.dir, "store")})
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	for i, a := range cfg.Command {
		cfg.Command[i] = strings.ReplaceAll(a, "$DIR", h.dir)
	}
	if cfg.Output == nil {
		cfg.Output = h.out
	}
	if cfg.Warn == nil {
		cfg.Warn = func(msg string) { t.Logf("warn: %s", msg) }
	}
	r, err := jobsexec.New(cfg)
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	h.r = r
	jobsexec.Register(c, "k", r)
	wctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- c.Work(wctx, jobs.WorkOptions{Queues: map[string]jobs.QueueConfig{jobs.DefaultQueue: {Concurrency: 2}}, ShutdownTimeout: 10 * time.Second})
	}()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Work: %v", err)
		}
		r.Close()
		c.Close()
	})
	return h
}

// script writes a file into the harness's directory.
func (h *harness) script(name, text string) {
	h.t.Helper()
	if err := os.WriteFile(filepath.Join(h.dir, name), []byte(text), 0o755); err != nil {
		h.t.Fatal(err)
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return c
}

// submit submits a job of kind "k".
func (h *harness) submit(args any, o jobs.SubmitOptions) string {
	h.t.Helper()
	id, err := h.c.Submit(ctx(h.t), "k", args, o)
	if err != nil {
		h.t.Fatal(err)
	}
	return id
}

// run submits a job and waits for it to end.
func (h *harness) run(args any, o jobs.SubmitOptions) jobs.Info {
	h.t.Helper()
	info, err := h.c.Wait(ctx(h.t), h.submit(args, o))
	if err != nil {
		h.t.Fatal(err)
	}
	return info
}

// result decodes a succeeded job's result.
func result[T any](t *testing.T, info jobs.Info) T {
	t.Helper()
	var v T
	if info.State != jobs.StateSucceeded {
		t.Fatalf("job %s is %s, want succeeded (error: %s)", info.ID, info.State, info.Error)
	}
	if err := json.Unmarshal(info.Result, &v); err != nil {
		t.Fatalf("result %s: %v", info.Result, err)
	}
	return v
}

// pids reads the pid file a handler wrote: "<pid> <grandchild pid>".
func (h *harness) pids(name string) (int, int) {
	h.t.Helper()
	var b []byte
	testutil.WaitFor(h.t, "pid file "+name, func() bool {
		var err error
		b, err = os.ReadFile(filepath.Join(h.dir, name))
		return err == nil && strings.HasSuffix(string(b), "\n")
	})
	f := strings.Fields(string(b))
	if len(f) != 2 {
		h.t.Fatalf("pid file %s: %q", name, b)
	}
	p, _ := strconv.Atoi(f[0])
	g, _ := strconv.Atoi(f[1])
	return p, g
}

// hang submits a job in the mode "hang": its handler writes the pid file
// pidfile, "<pid> <grandchild pid>", into the harness's directory, and
// then hangs. It returns the job's ID and the two pids.
func (h *harness) hang(pidfile string, o jobs.SubmitOptions) (id string, pid, gpid int) {
	h.t.Helper()
	id = h.submit(map[string]any{"mode": "hang", "dir": h.dir, "pidfile": pidfile}, o)
	pid, gpid = h.pids(pidfile)
	return id, pid, gpid
}

// endsAs waits for the job id to end and fails the test unless it ended
// in state with an error that contains errPart; it returns the job's Info.
func (h *harness) endsAs(id string, state jobs.State, errPart string) jobs.Info {
	h.t.Helper()
	info, err := h.c.Wait(ctx(h.t), id)
	if err != nil {
		h.t.Fatal(err)
	}
	if info.State != state || !strings.Contains(info.Error, errPart) {
		h.t.Fatalf("job %s: state %s, error %q; want %s with an error containing %q", id, info.State, info.Error, state, errPart)
	}
	return info
}

// cancel cancels the job id and fails the test unless it then ends
// cancelled; it returns the time from the cancel to the job's end.
func (h *harness) cancel(id string) time.Duration {
	h.t.Helper()
	start := time.Now()
	if err := h.c.Cancel(ctx(h.t), id); err != nil {
		h.t.Fatal(err)
	}
	h.endsAs(id, jobs.StateCancelled, "")
	return time.Since(start)
}

// reaped fails the test unless pid is gone (not even a zombie) and the
// grandchild gpid is gone (dead; a zombie waiting for init counts).
func (h *harness) reaped(pid, gpid int) {
	h.t.Helper()
	t0 := time.Now()
	if !testutil.WaitGone(gpid, testutil.WaitTimeout) {
		h.t.Errorf("grandchild %d is still running", gpid)
	}
	t1 := time.Now()
	testutil.WaitFor(h.t, "process "+strconv.Itoa(pid)+" reaped", func() bool {
		_, err := os.Stat("/proc/" + strconv.Itoa(pid))
		return err != nil
	})
	h.t.Logf("grandchild dead after %v, child reaped after %v", t1.Sub(t0), time.Since(t0))
	// A grandchild's zombie stays in the group until init reaps it.
	testutil.WaitFor(h.t, "process group "+strconv.Itoa(pid)+" empty", func() bool { return testutil.GroupGone(pid) })
}

// watchProgress waits until the job reports progress p, and returns its
// Info then.
func (h *harness) watchProgress(id string, p float64) jobs.Info {
	h.t.Helper()
	ch, err := h.c.Watch(ctx(h.t), id)
	if err != nil {
		h.t.Fatal(err)
	}
	for info := range ch {
		if info.Progress == p {
			return info
		}
		if info.State.Final() {
			h.t.Fatalf("job %s ended %s (%s) before progress %v", id, info.State, info.Error, p)
		}
	}
	h.t.Fatalf("watch of %s ended before progress %v", id, p)
	return jobs.Info{}
}
