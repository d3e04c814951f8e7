package daemon

import (
	"bufio"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/herdrun/herd/cluster"
	"github.com/herdrun/herd/cmd/herd/internal/runner"
	"github.com/herdrun/herd/internal/guard"
	"github.com/herdrun/herd/internal/procfs"
	"github.com/herdrun/herd/internal/testutil"
)

// startPrinting starts argv, which prints pids on its first line, and
// returns its process and those pids. At the end of the test the process
// gets SIGTERM (a guard then ends its whole tree) and is waited for.
func startPrinting(t *testing.T, argv []string) (*exec.Cmd, []int) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("%v printed no pids: %v", argv, err)
	}
	var pids []int
	for _, f := range strings.Fields(line) {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("%v printed %q", argv, line)
		}
		pids = append(pids, n)
	}
	return cmd, pids
}

// startGuarded starts script under a real guard (this test binary, as
// TestMain lets it be one) and returns the guard's instance as
// cluster.Workers describes one, and the pids the script prints on its
// first line.
func startGuarded(t *testing.T, script string) (cluster.WorkerInfo, []int) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd, pids := startPrinting(t, guard.Command(exe, os.Getpid(), 2*time.Second, []string{"/bin/sh", "-c", script}))
	return cluster.WorkerInfo{PID: cmd.Process.Pid, Started: time.Now()}, pids
}

// rootStat fills in what cluster.Workers reads of an instance's root.
func rootStat(t *testing.T, w cluster.WorkerInfo) cluster.WorkerInfo {
	t.Helper()
	st, err := procfs.ReadStat(w.PID)
	if err != nil {
		t.Fatal(err)
	}
	w.CPU, w.RSS = st.CPU(), st.RSS()
	return w
}

// Under a guard, an instance's tree read from the guard's first thread and
// the remembered program is the tree read from every thread's children
// file: the program, its children, and an orphan re-parented to the guard
// are all in it, before and after the program is remembered, and
// processes that end leave it. Descriptors are counted over the same
// processes. An instance that is no longer listed is forgotten.
func TestInstanceTreeUnderGuard(t *testing.T) {
	saved := runner.Guard
	runner.Guard = func(cmd []string, _ string, _ time.Duration, _ syscall.Signal) []string { return cmd }
	t.Cleanup(func() { runner.Guard = saved })

	// The shell prints its pid (the program's) and its background child's;
	// the subshell leaves sleep 301 to the guard; then the shell becomes
	// sleep 302, keeping its pid.
	w, printed := startGuarded(t, `sleep 300 & bg=$!; orphan=$( (sleep 301 >/dev/null & echo $!) ); echo $$ $bg $orphan; exec sleep 302`)
	if len(printed) != 3 {
		t.Fatalf("printed %v, want 3 pids", printed)
	}
	prog, bg, orphan := printed[0], printed[1], printed[2]
	testutil.WaitFor(t, "the orphan to be re-parented to the guard", func() bool {
		st, err := procfs.ReadStat(orphan)
		return err == nil && st.PPID == w.PID
	})
	// A sleep opens and closes files as it starts: wait until each sleeps.
	testutil.WaitFor(t, "the three sleeps to sleep", func() bool {
		for _, p := range printed {
			st, err := procfs.ReadStat(p)
			if err != nil || st.Comm != "sleep" || st.State != 'S' {
				return false
			}
		}
		return true
	})
	if gs, err := procfs.ReadStat(w.PID); err != nil || gs.Threads < 2 {
		t.Fatalf("the guard has %d thread(s) (%v): the test needs a guard of several", gs.Threads, err)
	}
	want := []int{w.PID, prog, bg, orphan}
	slices.Sort(want)

	var ps programs
	check := func(what string, want []int) treeUse {
		t.Helper()
		w := rootStat(t, w)
		// The descriptors of the guard and the shell change while they
		// start: read until a count before and after the read agree.
		sum := func() (n int64) {
			for _, p := range want {
				n += countFDs(p)
			}
			return n
		}
		var u treeUse
		var fds int64
		testutil.WaitFor(t, what+": the descriptors to stay put during a read", func() bool {
			fds = sum()
			u = ps.read([]cluster.WorkerInfo{w}, true)[0]
			return sum() == fds
		})
		got := slices.Sorted(slices.Values(u.pids))
		if !slices.Equal(got, want) {
			t.Fatalf("%s: the tree is %v, want %v (guard %d, program %d, its child %d, orphan %d); /proc says %v",
				what, got, want, w.PID, prog, bg, orphan, procfs.Tree(w.PID))
		}
		if u.pids[0] != w.PID {
			t.Errorf("%s: the tree starts with %d, want the guard %d", what, u.pids[0], w.PID)
		}
		if u.prog != prog {
			t.Errorf("%s: the program is %d, want %d", what, u.prog, prog)
		}
		if u.fds != fds {
			t.Errorf("%s: %d descriptors, want %d", what, u.fds, fds)
		}
		if u.cpu < w.CPU || u.rss <= w.RSS {
			t.Errorf("%s: CPU %v and memory %d, want more than the guard's alone (%v, %d)", what, u.cpu, u.rss, w.CPU, w.RSS)
		}
		return u
	}
	check("first read (every thread of the guard)", want)
	if e, ok := ps.m[w.PID]; !ok || e.pid != prog {
		t.Fatalf("after the first read the program is remembered as %+v, %v; want %d", e, ok, prog)
	}
	check("second read (the first thread and the remembered program)", want)

	// The orphan ends: the guard reaps it, and it leaves the tree.
	if err := syscall.Kill(orphan, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Reaped, not only dead: a zombie is still listed under the guard,
	// and a loaded guard may take a moment to reap it.
	testutil.WaitFor(t, "the orphan to be reaped", func() bool {
		_, err := os.Stat("/proc/" + strconv.Itoa(orphan))
		return os.IsNotExist(err)
	})
	want = slices.DeleteFunc(want, func(p int) bool { return p == orphan })
	check("after the orphan ended", want)

	// Another start of the same pid is another instance: not the program
	// remembered for the first.
	ps.m[w.PID] = program{started: w.Started.Add(-time.Hour), pid: 1}
	check("after a restart under the same pid", want)

	ps.read(nil, false)
	if len(ps.m) != 0 {
		t.Errorf("an instance no longer listed is still remembered: %v", ps.m)
	}
}

// Without a guard, the root is the program: the tree is read from every
// thread, and the program shown is the root's first child, as ls showed it.
func TestInstanceTreeUnguarded(t *testing.T) {
	saved := runner.Guard
	runner.Guard = nil
	t.Cleanup(func() { runner.Guard = saved })
	cmd, printed := startPrinting(t, []string{"/bin/sh", "-c", "sleep 300 & echo $!; wait"})
	bg := printed[0]
	t.Cleanup(func() { _ = syscall.Kill(bg, syscall.SIGKILL) })
	var ps programs
	w := rootStat(t, cluster.WorkerInfo{PID: cmd.Process.Pid, Started: time.Now()})
	u := ps.read([]cluster.WorkerInfo{w}, false)[0]
	if !slices.Equal(u.pids, []int{w.PID, bg}) || u.prog != bg || u.fds != 0 {
		t.Errorf("tree %v, program %d, fds %d; want [%d %d], %d, 0 (not asked)", u.pids, u.prog, u.fds, w.PID, bg, bg)
	}
	if len(ps.m) != 0 {
		t.Errorf("an unguarded instance's program is remembered: %v", ps.m)
	}
}
