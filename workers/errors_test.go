package workers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/herdrun/herd/child"
)

func TestWorkerExitErrorMessages(t *testing.T) {
	killed := func(sig syscall.Signal) child.ExitStatus { return child.ExitStatus{Code: -1, Signal: sig} }
	cases := []struct {
		e    WorkerExitError
		want string
	}{
		{WorkerExitError{ExitStatus: child.ExitStatus{Code: 3}, Task: "t", Pid: 9, Stderr: "a\nlast words \n"},
			"workers: task t: worker 9 exited with code 3: last words"},
		{WorkerExitError{ExitStatus: killed(syscall.SIGSEGV), Task: "t", Pid: 9, Fatal: "SIGSEGV: segmentation violation", Stderr: "x"},
			"workers: task t: worker 9 killed by SIGSEGV: SIGSEGV: segmentation violation"},
		{WorkerExitError{ExitStatus: killed(syscall.SIGKILL), Task: "t", Pid: 9, OOM: true},
			"workers: task t: worker 9 killed by SIGKILL (memory limit exceeded)"},
		{WorkerExitError{ExitStatus: killed(syscall.SIGKILL), Task: "t", Pid: 9, Reason: "task u timed out"},
			"workers: task t: worker 9 killed by SIGKILL (task u timed out)"},
		// Every signal has its name, not only the common ones.
		{WorkerExitError{ExitStatus: killed(syscall.SIGUSR1), Task: "t", Pid: 9},
			"workers: task t: worker 9 killed by SIGUSR1"},
	}
	for _, c := range cases {
		if got := c.e.Error(); got != c.want {
			t.Errorf("Error() = %q, want %q", got, c.want)
		}
	}
	oom := &WorkerExitError{ExitStatus: killed(syscall.SIGKILL), OOM: true}
	if !errors.Is(oom, ErrWorkerDied) || !errors.Is(oom, ErrMemoryLimit) {
		t.Errorf("OOM WorkerExitError does not wrap ErrWorkerDied and ErrMemoryLimit")
	}
}

// TestStartErrorIsChilds: a worker that cannot start fails with the one
// StartError, found by errors.As as workers.StartError and as
// child.StartError alike.
func TestStartErrorIsChilds(t *testing.T) {
	t.Setenv(child.EnvRole, "someone.else") // looks like a ForkSelf child that skipped Dispatch
	_, err := Start(context.Background(), wEcho, nil, &ThreadOptions{Backend: Processes, Name: "echoer"})
	var se *StartError
	var cse *child.StartError
	if !errors.As(err, &se) || !errors.As(err, &cse) || !errors.Is(err, ErrNoDispatch) {
		t.Fatalf("Start = %v (%T), want a *StartError wrapping ErrNoDispatch", err, err)
	}
	if se.Cmd != "echoer" {
		t.Errorf("StartError.Cmd = %q, want the worker's name", se.Cmd)
	}
}

func panicOf(f func()) (msg string) {
	defer func() { msg = fmt.Sprint(recover()) }()
	f()
	return "<nil>"
}

// registryRuns numbers the runs of TestRegistries.
var registryRuns atomic.Int32

// TestRegistries: tasks and long-lived functions have registries of their
// own (one name can be both), each refusing a second use of a name.
func TestRegistries(t *testing.T) {
	// A name of its own for each run, so that -count=N registers anew.
	dup := fmt.Sprintf("test.reg.dup.%d", registryRuns.Add(1))
	echo := func(ctx context.Context, s string) (string, error) { return s, nil }
	if got, want := panicOf(func() { Register(dup, echo); Register(dup, echo) }),
		fmt.Sprintf("workers: task %q registered twice", dup); got != want {
		t.Errorf("second Register panicked with %q, want %q", got, want)
	}
	wf := func(ctx context.Context, port *Port) error { return nil }
	if got := panicOf(func() { RegisterThread(dup, wf) }); got != "<nil>" {
		t.Errorf("RegisterThread with a task's name panicked: %s", got)
	}
	if got, want := panicOf(func() { RegisterThread(dup, wf) }),
		fmt.Sprintf("workers: worker %q registered twice", dup); got != want {
		t.Errorf("second RegisterThread panicked with %q, want %q", got, want)
	}
	if got, want := panicOf(func() { Register[int, int]("", nil) }), "workers: Register needs a name and a function"; got != want {
		t.Errorf("Register with no name panicked with %q, want %q", got, want)
	}
	names := TaskNames()
	if !slices.IsSorted(names) || !slices.Contains(names, dup) {
		t.Errorf("TaskNames() = %v, want sorted and holding %s", names, dup)
	}
	if e := lookupTask(dup); e == nil || e.name != dup {
		t.Errorf("lookupTask did not find a registered task")
	}
	if e := lookupTask("test.reg.none"); e != nil {
		t.Errorf("lookupTask found a task never registered")
	}
}
