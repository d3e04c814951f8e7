package workers

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/herdrun/herd/child"
)

var (
	// ErrQueueFull is returned by TrySubmit when Options.MaxQueue tasks are
	// already waiting.
	ErrQueueFull = errors.New("workers: queue is full")
	// ErrClosed is returned for tasks submitted after Close or Kill began.
	ErrClosed = errors.New("workers: pool is closed")
	// ErrKilled is the error of every task that was queued or running when
	// Kill was called.
	ErrKilled = errors.New("workers: pool was killed")
	// ErrTimeout is wrapped by a *TimeoutError: a task ran longer than
	// Options.Timeout.
	ErrTimeout = errors.New("workers: task timed out")
	// ErrWorkerDied is wrapped by a *WorkerExitError: the worker process
	// running a task exited or was killed before the task finished.
	ErrWorkerDied = errors.New("workers: worker process died")
	// ErrMemoryLimit is wrapped by a *WorkerExitError for a worker that
	// went over Options.MemoryLimit.
	ErrMemoryLimit = errors.New("workers: worker exceeded its memory limit")
	// ErrUnknownTask is wrapped by a *TaskError when a worker process has
	// no task of that name: it was registered only in the parent, for
	// example after child.Dispatch or inside a function that the child
	// never runs.
	ErrUnknownTask = errors.New("workers: task is not registered in the worker")
	// ErrNoDispatch is returned by New and Start with the process backend
	// in a process that ForkSelf started but that did not call
	// child.Dispatch: it would otherwise start workers of its own.
	ErrNoDispatch = errors.New("workers: this process is a worker but main did not call child.Dispatch")
)

// TaskError is the error a task function returned. On the goroutine backend
// Err is that error itself; from a worker process only its text crosses
// the process boundary, and Err is an error with that text (and wraps
// ErrUnknownTask when the worker lacked the task).
type TaskError struct {
	Task string // the task's registered name
	Err  error
}

// Error returns "workers: task <name>: <the task's error>".
func (e *TaskError) Error() string { return "workers: task " + e.Task + ": " + e.Err.Error() }

// Unwrap returns Err.
func (e *TaskError) Unwrap() error { return e.Err }

// PanicError reports a task that panicked. The panic was recovered where
// it happened (in the goroutine, or in the worker process, which lives on).
type PanicError struct {
	Task  string // the task's registered name
	Value string // the panic value, formatted with %v
	Stack string // the goroutine's stack at the panic
}

// Error returns "workers: task <name> panicked: <value>".
func (e *PanicError) Error() string { return "workers: task " + e.Task + " panicked: " + e.Value }

// TimeoutError reports a task stopped by Options.Timeout. On the process
// backend its worker was killed (Killed is true) and replaced; on the
// goroutine backend only its context was cancelled. It wraps ErrTimeout.
type TimeoutError struct {
	Task    string
	Timeout time.Duration
	Killed  bool // the worker process was killed to stop it
}

// Error returns "workers: task <name> timed out after <d>", noting a kill.
func (e *TimeoutError) Error() string {
	s := fmt.Sprintf("workers: task %s timed out after %v", e.Task, e.Timeout)
	if e.Killed {
		s += " (worker killed)"
	}
	return s
}

// Unwrap returns ErrTimeout.
func (e *TimeoutError) Unwrap() error { return ErrTimeout }

// WorkerExitError reports a task whose worker process ended while the
// task was running in it: a crash (os.Exit, a fatal signal such as SIGSEGV,
// a runtime fatal error), an out-of-memory kill, or a kill by herd (another
// task on the same worker timed out or was cancelled). It wraps ErrWorkerDied,
// and also ErrMemoryLimit when the worker went over its memory limit.
type WorkerExitError struct {
	child.ExitStatus        // how the worker process ended: Code, Signal
	Task             string // the task that was running
	Pid              int    // the worker's process id
	OOM              bool   // it went over Options.MemoryLimit
	Reason           string // why herd killed it, if it did ("task x timed out"); "" otherwise
	Fatal            string // the Go runtime's crash line ("fatal error: out of memory", "SIGSEGV: segmentation violation"), if it printed one
	Stderr           string // the last lines the worker wrote to stderr (up to 4 KiB)
}

// Error returns a one-line description with the exit status and the
// runtime's crash line, or else the last line of stderr, as in
// "workers: task resize: worker 4242 exited with code 2: SIGSEGV: segmentation violation"
// or "workers: task resize: worker 4242 killed by SIGKILL (memory limit exceeded)".
func (e *WorkerExitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "workers: task %s: worker %d %s", e.Task, e.Pid, e.ExitStatus)
	if e.OOM {
		b.WriteString(" (memory limit exceeded)")
	}
	if e.Reason != "" {
		b.WriteString(" (" + e.Reason + ")")
	}
	if e.Fatal != "" {
		b.WriteString(": " + e.Fatal)
	} else if l := lastLine(e.Stderr); l != "" {
		b.WriteString(": " + l)
	}
	return b.String()
}

// Unwrap returns ErrWorkerDied, plus ErrMemoryLimit when OOM is set.
func (e *WorkerExitError) Unwrap() []error {
	if e.OOM {
		return []error{ErrWorkerDied, ErrMemoryLimit}
	}
	return []error{ErrWorkerDied}
}

// CodecError reports a value that could not be encoded or decoded for the
// trip to or from a worker process.
type CodecError struct {
	Task string
	Dir  string // "encode input", "decode input", "encode output" or "decode output"
	Err  error
}

// Error returns "workers: task <name>: <dir>: <err>".
func (e *CodecError) Error() string {
	return "workers: task " + e.Task + ": " + e.Dir + ": " + e.Err.Error()
}

// Unwrap returns Err.
func (e *CodecError) Unwrap() error { return e.Err }

// StartError reports a worker process that could not be started or did not
// become ready. A pool retries with backoff and keeps tasks queued; Start
// returns it for a single Thread. It is child.StartError, the one error for
// a process that did not start: Cmd names the worker, Err says why, and
// errors.As with a *child.StartError finds it too.
type StartError = child.StartError

// remoteError carries the text of an error from a worker process.
type remoteError struct {
	msg     string
	unknown bool
}

func (e *remoteError) Error() string { return e.msg }

func (e *remoteError) Is(target error) bool { return e.unknown && target == ErrUnknownTask }

func lastLine(s string) string {
	s = strings.TrimRight(s, "\r\n\t ")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(s)
}
