package child

import (
	"errors"
	"io"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
)

func TestTimeoutEscalatesToSIGKILL(t *testing.T) {
	// The shell and its grandchild ignore SIGTERM (an ignored signal is
	// inherited), so only the SIGKILL after KillGrace ends them.
	const grace = 300 * time.Millisecond
	res := execStarted(t, `trap "" TERM; sleep 30 & echo $!; wait`,
		&Options{Timeout: 100 * time.Millisecond, KillGrace: grace})
	err, d := res.err, res.took
	gpid := atoiLine(t, res.Stdout)
	killLater(t, gpid)
	var ee *ExitError
	if !errors.As(err, &ee) || !errors.Is(err, ErrTimeout) || ee.Signal != syscall.SIGKILL || !ee.Killed {
		t.Fatalf("got %#v", err)
	}
	if to := res.timeout; d < to+grace || d > to+grace+5*time.Second {
		t.Fatalf("took %v, want about %v", d, to+grace)
	}
	if !testutil.WaitGone(gpid, 2*time.Second) {
		t.Fatal("grandchild in the group survived")
	}
}

func TestKillSignalReachesGrandchild(t *testing.T) {
	// Detached: nothing cleans the group at exit, so the grandchild can only
	// die of the KillSignal sent to the whole group. The timeout must fire
	// after the shell started the grandchild; on a loaded machine 100ms may
	// not be enough for that, so a run where the shell printed nothing is
	// tried again with a longer timeout.
	res := execStarted(t, "sleep 30 & echo $!; wait", &Options{Timeout: 100 * time.Millisecond, Detached: true})
	err := res.err
	gpid := atoiLine(t, res.Stdout)
	killLater(t, gpid)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v", err)
	}
	if !testutil.WaitGone(gpid, 2*time.Second) {
		t.Fatal("KillSignal did not reach the grandchild")
	}
}

func TestNoOrphansAfterExit(t *testing.T) {
	p, err := Spawn(t.Context(), "sh", []string{"-c", "sleep 30 & echo $!"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	line, _ := readLine(p.Stdout)
	gpid := atoiLine(t, line)
	killLater(t, gpid)
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if !testutil.WaitGone(gpid, 2*time.Second) {
		t.Fatal("orphaned grandchild still running after Wait")
	}
}

func TestDetachedKeepsGroup(t *testing.T) {
	res, err := Exec(t.Context(), "sleep 30 >/dev/null 2>&1 & echo $!", &Options{Detached: true})
	if err != nil {
		t.Fatal(err)
	}
	gpid := atoiLine(t, res.Stdout)
	killLater(t, gpid)
	time.Sleep(100 * time.Millisecond)
	if testutil.Gone(gpid) {
		t.Fatal("Detached: grandchild was killed when the child exited")
	}
}

func TestGrandchildHoldingPipesExec(t *testing.T) {
	for _, detached := range []bool{false, true} {
		start := time.Now()
		res, err := Exec(t.Context(), "sleep 30 & echo hi; echo $! >&2", &Options{Detached: detached})
		d := time.Since(start)
		killLater(t, atoiLine(t, res.Stderr))
		if err != nil || string(res.Stdout) != "hi\n" {
			t.Fatalf("detached=%v: err %v stdout %q", detached, err, res.Stdout)
		}
		if d > 2*time.Second {
			t.Fatalf("detached=%v: took %v", detached, d)
		}
		if detached && d < defaultPipeGrace {
			t.Fatalf("detached: returned after %v, before PipeGrace", d)
		}
	}
}

func TestGrandchildHoldingPipesSpawn(t *testing.T) {
	for _, detached := range []bool{false, true} {
		p, err := Spawn(t.Context(), "sh", []string{"-c", "sleep 30 & echo $!; echo hi >&2"},
			&Options{Detached: detached, PipeGrace: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		type read struct {
			b   []byte
			err error
		}
		got := make(chan read, 1)
		go func() { // blocked in Read when herd closes the pipe
			b, err := io.ReadAll(p.Stdout)
			got <- read{b, err}
		}()
		r := <-got
		d := time.Since(start)
		if r.err != nil {
			t.Fatalf("detached=%v: ReadAll: %v", detached, r.err)
		}
		gpid := atoiLine(t, r.b)
		killLater(t, gpid)
		if d > 2*time.Second {
			t.Fatalf("detached=%v: reader waited %v", detached, d)
		}
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		if n, err := p.Stdout.Read(make([]byte, 8)); n != 0 || err != io.EOF {
			t.Fatalf("Read after force-close = %d, %v; want io.EOF", n, err)
		}
		// Nobody read stderr while the grandchild held it; the data is kept.
		if b, err := io.ReadAll(p.Stderr); err != nil || string(b) != "hi\n" {
			t.Fatalf("stderr %q, %v", b, err)
		}
		if detached && testutil.Gone(gpid) {
			t.Fatal("detached grandchild died")
		}
	}
}

func TestPdeathsig(t *testing.T) {
	for _, h := range []string{"pdeathsig", "detached"} {
		t.Run(h, func(t *testing.T) {
			exe, opts := helperCmd(t, h)
			var stderr testutil.SyncBuffer
			opts.Stderr = &stderr
			helper, err := Spawn(t.Context(), exe, []string{"-test.run=^$"}, opts)
			if err != nil {
				t.Fatal(err)
			}
			line, err := readLine(helper.Stdout)
			if err != nil {
				helper.Kill(syscall.SIGKILL)
				helper.Wait()
				t.Fatalf("helper: %v; stderr: %s", err, stderr.String())
			}
			gpid := atoiLine(t, line)
			killLater(t, gpid)
			// The thread that called Spawn in the helper is gone by now.
			time.Sleep(200 * time.Millisecond)
			if testutil.Gone(gpid) {
				t.Fatal("grandchild died with the helper's spawning thread")
			}
			if err := helper.Kill(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			helper.Wait()
			if h == "detached" {
				time.Sleep(200 * time.Millisecond)
				if testutil.Gone(gpid) {
					t.Fatal("detached grandchild died with its parent")
				}
				return
			}
			if !testutil.WaitGone(gpid, 3*time.Second) {
				t.Fatal("grandchild outlived its parent: no Pdeathsig")
			}
		})
	}
}

func TestNoLeaks(t *testing.T) {
	const n = 1000
	// Warm up: the first start opens lasting descriptors (epoll, pidfd probe).
	if _, err := ExecFile(t.Context(), "true", nil, nil); err != nil {
		t.Fatal(err)
	}
	fds, kids := testutil.CountFDs(t), len(testutil.AllChildrenOf(t, os.Getpid()))
	start := time.Now()
	for i := range n {
		if i%2 == 0 {
			if _, err := ExecFile(t.Context(), "true", nil, nil); err != nil {
				t.Fatal(err)
			}
			continue
		}
		// Spawn and never touch the pipes: Wait must close them.
		p, err := Spawn(t.Context(), "true", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d starts in %v", n, time.Since(start))
	if got := testutil.CountFDs(t); got != fds {
		t.Errorf("open descriptors: %d before, %d after", fds, got)
	}
	if got := len(testutil.AllChildrenOf(t, os.Getpid())); got != kids {
		t.Errorf("children (zombies included): %d before, %d after", kids, got)
	}
}

// startedResult is what execStarted returns: Exec's result and error, how
// long it took, and the timeout of the run that counted.
type startedResult struct {
	*Result
	err     error
	took    time.Duration
	timeout time.Duration
}

// execStarted runs Exec with opts.Timeout, and again with a timeout four
// times longer (up to about 10s) while the shell printed nothing: on a
// loaded machine the timeout can fire before the shell ran its first
// commands, and the tests need it to fire after. It returns the last run.
func execStarted(t *testing.T, command string, opts *Options) startedResult {
	t.Helper()
	o := *opts
	for {
		start := time.Now()
		res, err := Exec(t.Context(), command, &o)
		r := startedResult{Result: res, err: err, took: time.Since(start), timeout: o.Timeout}
		if len(res.Stdout) > 0 || o.Timeout > 10*time.Second {
			return r
		}
		t.Logf("the shell printed nothing before its %v timeout (%v); again with a longer one", o.Timeout, err)
		o.Timeout *= 4
	}
}
