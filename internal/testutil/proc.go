package testutil

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Gone reports whether process pid no longer runs: /proc/<pid>/stat is
// missing or unreadable, or its state is zombie (Z) or dead (X). A zombie
// counts as gone because it runs no code; it stays listed until its parent
// reaps it.
func Gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The command name, in parentheses, may hold spaces and parentheses;
	// the state is the field after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z' || s[i+2] == 'X'
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
	dir := fmt.Sprintf("/proc/%d", pid)
	files, _ := filepath.Glob(dir + "/task/*/children")
	if len(files) == 0 {
		if _, err := os.Stat(dir); err == nil {
			t.Fatalf("no %s/task/*/children: the kernel does not list children (CONFIG_PROC_CHILDREN)", dir)
		}
		return nil
	}
	var pids []int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread has just exited; its children moved to another
		}
		for _, w := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(w); err == nil {
				pids = append(pids, c)
			}
		}
	}
	return pids
}

// CountFDs returns the number of file descriptors open in this process, the
// entries of /proc/self/fd (including the one that reads that directory). It
// fails t if the directory cannot be read.
func CountFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
