package workers

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// tNiceness returns the nice values of every thread of the worker process
// that runs it.
var tNiceness = Register("test.niceness", func(ctx context.Context, _ int) ([]int, error) {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, err
	}
	var out []int
	for _, e := range ents {
		b, err := os.ReadFile("/proc/self/task/" + e.Name() + "/stat")
		if err != nil {
			continue // the thread just exited
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		n, _ := strconv.Atoi(f[16]) // field 19, nice
		out = append(out, n)
	}
	return out, nil
})

// Options.Nice reaches every thread of a worker process, not only its main
// thread: a Go task runs on any of them.
func TestNiceAppliesToEveryThread(t *testing.T) {
	p := newPool(t, tNiceness, Processes, Options{Size: 1, Nice: 7})
	got, err := p.Run(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) < 2 {
		t.Fatalf("threads %v: want a multi-threaded worker", got)
	}
	for _, n := range got {
		if n != 7 {
			t.Fatalf("thread nice values %v, want all 7", got)
		}
	}
}

// tPolicies returns the scheduling policy of every thread of the worker
// process that runs it.
var tPolicies = Register("test.policies", func(ctx context.Context, _ int) ([]uint32, error) {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, err
	}
	var out []uint32
	for _, e := range ents {
		tid, _ := strconv.Atoi(e.Name())
		if a, err := unix.SchedGetAttr(tid, 0); err == nil {
			out = append(out, a.Policy)
		}
	}
	return out, nil
})

// Options.Idle puts every thread of a worker process under SCHED_IDLE.
func TestIdleAppliesToEveryThread(t *testing.T) {
	p := newPool(t, tPolicies, Processes, Options{Size: 1, Idle: true})
	got, err := p.Run(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) < 2 {
		t.Fatalf("threads %v: want a multi-threaded worker", got)
	}
	for _, pol := range got {
		if pol != unix.SCHED_IDLE {
			t.Fatalf("thread policies %v, want all SCHED_IDLE (%d)", got, unix.SCHED_IDLE)
		}
	}
	// Without it, a worker keeps the normal policy.
	q := newPool(t, tPolicies, Processes, Options{Size: 1})
	if got, err := q.Run(context.Background(), 0); err != nil || got[0] != 0 /* SCHED_OTHER */ {
		t.Fatalf("default policies %v, %v", got, err)
	}
}
