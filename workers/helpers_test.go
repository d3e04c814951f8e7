package workers

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// children returns the pids of this process's live children.
func children(t *testing.T) []int {
	t.Helper()
	me := os.Getpid()
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(me) {
			out = append(out, pid)
		}
	}
	return out
}

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// noLeaks records the fds and children now and checks at cleanup (after
// pools registered later are closed) that they came back and no goroutine
// leaked.
func noLeaks(t *testing.T) {
	t.Helper()
	fds := countFDs(t)
	t.Cleanup(func() {
		deadline := time.Now().Add(20 * time.Second)
		for {
			kids, n := children(t), countFDs(t)
			if len(kids) == 0 && n <= fds {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("leak: children %v, fds %d (was %d)", kids, n, fds)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		goleak.VerifyNone(t, goleak.IgnoreTopFunction("github.com/herdrun/herd/child.startLoop"), goleak.IgnoreCurrent())
	})
}

func backends() []Backend { return []Backend{Goroutines, Processes} }
