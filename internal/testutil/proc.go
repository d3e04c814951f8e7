package testutil

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/procfs"
)

// Gone reports whether process pid no longer runs: /proc/<pid>/stat is
// missing or cannot be parsed, or its state is zombie (Z) or dead (X). A
// zombie counts as gone because it runs no code; it stays listed until its
// parent reaps it.
func Gone(pid int) bool {
	st, err := procfs.ReadStat(pid)
	return err != nil || st.Zombie()
}

// WaitGone polls Gone(pid) every 5ms until it is true or d has passed, and
// reports whether pid is gone.
func WaitGone(pid int, d time.Duration) bool {
	end := time.Now().Add(d)
	for {
		if Gone(pid) {
			return true
		}
		if time.Now().After(end) {
			return false
		}
		time.Sleep(pollInterval)
	}
}

// GroupGone reports whether no process is left in process group pgid: the
// kernel answers ESRCH to a signal 0 sent to the group. Unlike Gone, it
// counts a zombie member as still there, so a group is gone only once every
// member has exited and been reaped.
func GroupGone(pgid int) bool {
	return errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH)
}

// ChildrenOf returns the pids of pid's children that are not Gone, read from
// /proc/<pid>/task/*/children (the children of each of its threads). It
// returns nil if pid does not exist, and fails t if pid exists but the
// kernel lists no children file (it lacks CONFIG_PROC_CHILDREN), since no
// answer could then be trusted.
func ChildrenOf(t testing.TB, pid int) []int {
	t.Helper()
	var live []int
	for _, c := range AllChildrenOf(t, pid) {
		if !Gone(c) {
			live = append(live, c)
		}
	}
	return live
}

// AllChildrenOf is ChildrenOf with zombies included: it also returns the
// children that have exited but that pid has not reaped yet.
func AllChildrenOf(t testing.TB, pid int) []int {
	t.Helper()
	pids, err := procfs.Children(pid)
	if errors.Is(err, procfs.ErrNoChildrenFile) {
		t.Fatalf("process %d: %v", pid, err)
	}
	return pids
}

// CountFDs returns the number of file descriptors open in this process, the
// entries of /proc/self/fd (including the one that reads that directory). It
// fails t if the directory cannot be read. It first makes sure that the Go
// runtime's network poller exists: the poller opens two descriptors of its
// own (an epoll and an eventfd) on first use and keeps them, so a count
// taken before the first pipe or socket of a test process would otherwise
// read them as a leak of the test that came first.
func CountFDs(t testing.TB) int {
	t.Helper()
	initPoller(t)
	fds, err := procfs.FDs(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// initPoller makes the Go runtime create its network poller: an os.Pipe is
// registered with it.
func initPoller(t testing.TB) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	w.Close()
}

// SignalWait sends sig to cmd's process, reads lines (the process's output,
// line by line, from a reader that closes lines when the output ends) to
// its end, and returns cmd.Wait's error. It fails t if sig cannot be sent,
// or if the process has not ended within d.
func SignalWait(t testing.TB, cmd *exec.Cmd, sig os.Signal, lines <-chan string, d time.Duration) error {
	t.Helper()
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatalf("%s: %v", sig, err)
	}
	done := make(chan error, 1)
	go func() {
		for range lines {
		}
		done <- cmd.Wait()
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("%s did not stop within %v of %s", cmd.Path, d, sig)
		return nil
	}
}

// UniqueSleep returns a sleep length, in seconds, that marks a test's
// processes (sleep MARKER) for Marked: n tells the tests of one binary
// apart, and the fraction is this process's pid, which tells apart the
// test binaries running at once (go test runs packages in parallel, and
// so do two runs side by side). It is never a whole number: a bare number
// such as 1523 is also some process's pid, and a herd guard carries the
// pid it watches as an argument, so a test would find, wait for or kill
// another test's guard.
func UniqueSleep(n int) string { return strconv.Itoa(1000+n) + "." + strconv.Itoa(os.Getpid()) }

// Marked returns the pids of the processes, this one aside, that carry
// marker as a whole argument (sleep MARKER) or after "sleep " in an
// argument (a shell script: sh -c "sleep MARKER &"). Not as any part of
// any argument: another test binary running beside this one may carry
// the marker's digits in its path or flags, and a test that kills what
// it finds would kill that binary. Make markers with UniqueSleep.
func Marked(marker string) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		for _, arg := range strings.Split(string(b), "\x00") {
			if arg == marker || strings.Contains(arg, "sleep "+marker) {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}
