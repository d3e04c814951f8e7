package testutil

import (
	"errors"
	"os"
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
// fails t if the directory cannot be read.
func CountFDs(t testing.TB) int {
	t.Helper()
	fds, err := procfs.FDs(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}
