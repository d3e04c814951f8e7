package reaper

import (
	"errors"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/procfs"
	"github.com/herdrun/herd/internal/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

// run runs a shell script to its end, as a child this process waits for.
func run(t *testing.T, script string) {
	t.Helper()
	if out, err := exec.Command("/bin/sh", "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
}

// adopted returns this process's children whose command line contains s.
func adopted(s string) []int {
	var out []int
	for _, pid := range children(os.Getpid()) {
		b, _ := procfs.Default.ReadPidFile(pid, "cmdline")
		if strings.Contains(strings.ReplaceAll(string(b), "\x00", " "), s) {
			out = append(out, pid)
		}
	}
	return out
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func TestStopEndsAbandonedProcesses(t *testing.T) {
	r, err := Start(50 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	// A daemon in its own session, and one that ignores SIGTERM; their
	// parent shell exits at once.
	run(t, `setsid sleep 301 >/dev/null 2>&1 & setsid sh -c 'trap "" TERM; sleep 302' >/dev/null 2>&1 & exit 0`)
	var pids []int
	testutil.WaitFor(t, "the abandoned processes to be adopted", func() bool {
		pids = append(adopted("sleep 301"), adopted("sleep 302")...)
		// The second shell has set its trap once it has started sleep.
		return len(pids) == 2 && len(children(pids[1])) == 1
	})
	began := time.Now()
	got, err := r.Stop(300 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	// The process that ignores SIGTERM ends at SIGKILL, after the grace.
	if d := time.Since(began); d < 250*time.Millisecond || d > 5*time.Second {
		t.Errorf("Stop took %v, want the 300ms grace and then SIGKILL", d)
	}
	for _, pid := range pids {
		if !slices.Contains(got, pid) {
			t.Errorf("Stop returned %v, without adopted pid %d", got, pid)
		}
		if alive(pid) {
			t.Errorf("adopted pid %d still exists (state %c)", pid, procfs.State(pid))
		}
	}
	if left := children(os.Getpid()); len(left) != 0 {
		t.Errorf("children left after Stop: %v", left)
	}
}

func TestReapsAdoptedZombies(t *testing.T) {
	r, err := Start(30 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop(time.Second)
	// Each subshell starts a short sleep and exits: the sleep is adopted
	// and, when it ends, a zombie of this process.
	for range 5 {
		run(t, `(sleep 0.05 >/dev/null 2>&1 &) ; exit 0`)
	}
	testutil.WaitFor(t, "the adopted zombies to be reaped", func() bool {
		for _, pid := range children(os.Getpid()) {
			if procfs.State(pid) == 'Z' {
				return false
			}
		}
		return r.Reaped() >= 5
	})
}

// A child this process starts and waits for itself is never taken from its
// Wait, even when it exits between two passes.
func TestOwnChildrenKeepTheirStatus(t *testing.T) {
	r, err := Start(10 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop(time.Second)
	for i := range 20 {
		cmd := exec.Command("/bin/sh", "-c", "sleep 0.0"+strconv.Itoa(i%10)+"; exit 7")
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 7 {
			t.Fatalf("run %d: %v, want exit status 7", i, err)
		}
	}
}
