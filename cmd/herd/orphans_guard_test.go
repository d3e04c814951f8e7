package main

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/herdrun/herd/internal/guard"
	"github.com/herdrun/herd/internal/testutil"
)

// instancePids returns the pids of herd's instances: the programs, each
// the child of a guard that is herd's child (a guard whose program has not
// started yet stands for it).
func instancePids(t testing.TB, herd int) []int {
	t.Helper()
	var out []int
	for _, k := range testutil.ChildrenOf(t, herd) {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(k) + "/cmdline")
		if args := strings.Split(string(b), "\x00"); len(args) > 1 && args[1] == guard.Arg {
			if prog := testutil.ChildrenOf(t, k); len(prog) > 0 {
				k = prog[0]
			}
		}
		out = append(out, k)
	}
	return out
}

// Every instance of `herd run` runs under a guard, herd's child, and the
// program is the guard's only child.
func TestInstancesRunUnderGuards(t *testing.T) {
	h := startHerd(t, []string{"NO_COLOR=1"}, "run", "-i", "2", "--ready", "start", "--name", "g", "--", "sh", "-c", "echo up; exec sleep 300")
	waitOut(t, h, "g[1] | up", 1)
	waitOut(t, h, "g[0] | up", 1)
	kids := testutil.ChildrenOf(t, h.p.Pid)
	if len(kids) != 2 {
		t.Fatalf("herd's children %v, want 2 guards", kids)
	}
	for _, k := range kids {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(k) + "/cmdline")
		if args := strings.Split(string(b), "\x00"); len(args) < 2 || args[1] != guard.Arg {
			t.Errorf("herd's child %d is not a guard: %q", k, b)
		}
		if prog := testutil.ChildrenOf(t, k); len(prog) != 1 {
			t.Errorf("guard %d has children %v, want the program", k, prog)
		}
	}
}
