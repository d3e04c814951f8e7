package main

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
)

// pidsOf returns the pids whose command line is exactly args.
func pidsOf(args ...string) []int {
	want := strings.Join(args, "\x00") + "\x00"
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err == nil && string(b) == want {
			out = append(out, pid)
		}
	}
	return out
}

// A daemon that an instance starts in its own session (outside the process
// group herd kills) is still stopped when herd stops, and so is one that a
// double fork abandoned while herd ran.
func TestRunStopsAbandonedProcesses(t *testing.T) {
	marker := testutil.UniqueSleep(1)
	t.Cleanup(func() {
		for _, pid := range pidsOf("sleep", marker) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	script := `setsid sleep ` + marker + ` >/dev/null 2>&1 & (setsid sleep ` + marker + ` >/dev/null 2>&1 &); echo started; exec sleep 300`
	h := startHerd(t, []string{"NO_COLOR=1"}, "run", "--ready", "start", "--kill-timeout", "2s", "--name", "leaky", "--", "sh", "-c", script)
	waitOut(t, h, "leaky[0] | started", 1)
	var daemons []int
	testutil.WaitFor(t, "both daemons", func() bool { daemons = pidsOf("sleep", marker); return len(daemons) == 2 })
	syscall.Kill(h.p.Pid, syscall.SIGTERM)
	if code := h.wait(t); code != 0 {
		t.Fatalf("exit %d\n%s", code, h.stderr.String())
	}
	// The instance's guard ends them with the instance and says so on its
	// stderr.
	if !strings.Contains(h.stdout.String()+h.stderr.String(), "herd: stopped 2 process(es) that pid") {
		t.Errorf("no note of the stopped processes:\n%s\n%s", h.stdout.String(), h.stderr.String())
	}
	time.Sleep(50 * time.Millisecond)
	for _, pid := range daemons {
		if testutil.Gone(pid) {
			continue
		}
		t.Errorf("abandoned process %d outlived herd", pid)
	}
}
