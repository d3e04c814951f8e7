package jobsexec_test

import (
	"strings"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
	"github.com/herdrun/herd/jobs"
	"github.com/herdrun/herd/jobs/jobsexec"
)

// workerjs takes jobs as messages over Node's channel and answers with
// messages.
const workerjs = `const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');
console.error('worker up');
process.on('message', (job) => {
  const a = job.args || {};
  console.error('job ' + job.id + ' ' + (a.mode || 'ok'));
  console.log('a line on stdout');
  if (a.mode === 'stderr-progress') { // then wait for a cancel
    process.stderr.write(JSON.stringify({ progress: 0.75, note: 'from stderr' }) + '\n');
    return;
  }
  process.send({ progress: 0.5, note: 'half' });
  switch (a.mode) {
    case 'fail':
      process.send({ id: job.id, error: 'bad width ' + a.width, permanent: true });
      return;
    case 'crash':
      console.error('giving up');
      process.exit(5);
    case 'hang': {
      const g = spawn('sleep', ['300'], { stdio: 'ignore' });
      fs.writeFileSync(path.join(a.dir, a.pidfile), process.pid + ' ' + g.pid + '\n');
      process.send({ id: 'another-job', result: 'ignored' });
      return;
    }
  }
  process.send({ id: job.id, result: { width: (a.width || 0) * 2, pid: process.pid, attempt: job.attempt, kind: job.kind } });
});
`

type nodeResult struct {
	Width, Pid, Attempt int
	Kind                string
}

func TestNodeKept(t *testing.T) {
	testutil.RequireNode(t)
	h := newHarness(t, jobsexec.Config{Command: []string{"$DIR/worker.js"}, Keep: true})
	h.script("worker.js", workerjs)
	if got := h.r.Transport(); got != jobsexec.TransportIPC {
		t.Fatalf("transport %v, want ipc for a .js command", got)
	}
	info := h.run(map[string]any{"width": 32}, jobs.SubmitOptions{})
	first := result[nodeResult](t, info)
	if first.Width != 64 || first.Attempt != 1 || first.Kind != "k" {
		t.Fatalf("result %s", info.Result)
	}
	if info.Note != "half" {
		t.Errorf("note %q, want half (a progress message)", info.Note)
	}
	for range 3 {
		if r := result[nodeResult](t, h.run(map[string]any{"width": 1}, jobs.SubmitOptions{})); r.Pid != first.Pid {
			t.Fatalf("ran in pid %d, want the kept process %d", r.Pid, first.Pid)
		}
	}
	// A progress line on stderr works too. (It may come after a reply sent
	// at once, over the channel, and is then dropped: so this job waits.)
	id := h.submit(map[string]any{"mode": "stderr-progress"}, jobs.SubmitOptions{MaxAttempts: 1})
	if info := h.watchProgress(id, 0.75); info.Note != "from stderr" {
		t.Errorf("note %q, want the stderr progress line's", info.Note)
	}
	if err := h.c.Cancel(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	out := h.out.String()
	for _, want := range []string{": worker up\n", ": a line on stdout\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	info = h.run(map[string]any{"mode": "fail", "width": 3}, jobs.SubmitOptions{MaxAttempts: 3})
	if info.State != jobs.StateFailed || info.Attempt != 1 || !strings.HasPrefix(info.Error, "bad width 3") {
		t.Fatalf("state %s after %d, error %q; want failed at once (permanent) with the reply's error", info.State, info.Attempt, info.Error)
	}

	info = h.run(map[string]any{"mode": "crash"}, jobs.SubmitOptions{MaxAttempts: 1})
	if info.State != jobs.StateFailed || !strings.Contains(info.Error, "exited with code 5: giving up") {
		t.Fatalf("crash: state %s, error %q", info.State, info.Error)
	}
	if r := result[nodeResult](t, h.run(nil, jobs.SubmitOptions{})); r.Pid == first.Pid {
		t.Fatalf("ran in the crashed pid %d", r.Pid)
	}

	// A cancel kills the process and its child; a reply for another job is
	// dropped, so the job stays running until then.
	id, pid, gpid := h.hang("node.pid", jobs.SubmitOptions{MaxAttempts: 1})
	h.watchProgress(id, 0.5)
	h.cancel(id)
	h.reaped(pid, gpid)
}

func TestNodeOnce(t *testing.T) {
	node := testutil.RequireNode(t)
	h := newHarness(t, jobsexec.Config{Command: []string{node, "$DIR/worker.js"}, Timeout: 10 * time.Second})
	h.script("worker.js", workerjs)
	if got := h.r.Transport(); got != jobsexec.TransportIPC {
		t.Fatalf("transport %v, want ipc for node", got)
	}
	a := result[nodeResult](t, h.run(map[string]any{"width": 5}, jobs.SubmitOptions{}))
	b := result[nodeResult](t, h.run(map[string]any{"width": 5}, jobs.SubmitOptions{}))
	if a.Width != 10 || a.Pid == b.Pid {
		t.Fatalf("results %+v, %+v; want width 10 from two processes", a, b)
	}
	// The process exits once its channel is closed: nothing is left.
	testutil.WaitFor(t, "the first node process gone", func() bool { return testutil.Gone(a.Pid) })

	id, pid, gpid := h.hang("once.pid", jobs.SubmitOptions{MaxAttempts: 1})
	h.endsAs(id, jobs.StateFailed, "timed out after 10s")
	h.reaped(pid, gpid)
}
