package cluster

import (
	"errors"
	"fmt"
	"time"

	"github.com/herdrun/herd/child"
)

var (
	// ErrNotRunning is returned by the Cluster's methods when Run has
	// returned.
	ErrNotRunning = errors.New("cluster: not running")
	// ErrStopping is returned by Scale and Reload once the cluster is
	// shutting down.
	ErrStopping = errors.New("cluster: shutting down")
	// ErrNotWorker is returned by worker-side functions called outside a
	// worker process.
	ErrNotWorker = errors.New("cluster: not in a worker process")
	// ErrNoListener is wrapped by Worker.Listen when the address is not one
	// the primary shares and cannot be opened on demand.
	ErrNoListener = errors.New("cluster: no such shared listener")
)

// ConfigError reports a Config that cannot work.
type ConfigError struct {
	Field  string // the Config field at fault
	Reason string // what is wrong with it
}

// Error returns "cluster: Config.<Field>: <Reason>".
func (e *ConfigError) Error() string { return "cluster: Config." + e.Field + ": " + e.Reason }

// ListenError reports an address the primary could not open: the port is in
// use, the address is malformed, or permission was denied. It wraps the
// error from the system.
type ListenError struct {
	// Network and Address are the address's, as in Addr.
	Network, Address string
	// Err is the system's error.
	Err error
}

// Error returns a line naming the address and the cause, with a hint when
// the port is already taken.
func (e *ListenError) Error() string {
	s := fmt.Sprintf("cluster: cannot listen on %s %s: %v", e.Network, e.Address, e.Err)
	if isAddrInUse(e.Err) {
		s += " (another process holds this address; stop it or choose another port)"
	}
	return s
}

// Unwrap returns the underlying error.
func (e *ListenError) Unwrap() error { return e.Err }

// ExitStatus says how a worker process ended: child.ExitStatus (exit
// code, or the signal that killed it) and the error the worker function
// returned, when it told the primary.
type ExitStatus struct {
	child.ExitStatus        // Code (-1 when killed by a signal) and Signal (0 when it exited)
	Err              string // the error the worker function returned, if it told the primary
}

// String returns "exited with code 1: <err>" or "killed by SIGKILL".
func (s ExitStatus) String() string {
	out := s.ExitStatus.String()
	if s.Err != "" {
		out += ": " + s.Err
	}
	return out
}

// BootError reports a worker that failed to boot while the cluster was
// starting: it exited, or was not ready within Config.ReadyTimeout. Run
// returns it after stopping the other workers.
type BootError struct {
	Worker int        // the worker's ID
	PID    int        // its process id
	Status ExitStatus // how it ended
	Reason string     // "exited before it was ready" or "not ready within 30s"
}

// Error returns a line with the worker, the reason and its error.
func (e *BootError) Error() string {
	return fmt.Sprintf("cluster: worker %d (pid %d) failed to boot: %s: %s", e.Worker, e.PID, e.Reason, e.Status)
}

// CrashLoopError reports that workers kept failing: more than
// Config.CrashLoopMax unexpected exits within Config.CrashLoopWindow, or
// (InARow) more than Config.CrashLoopMax unexpected exits in a row of one
// slot, none after it had been ready for Config.MinUptime. Run returns it
// after stopping the cluster.
type CrashLoopError struct {
	Failures int           // failures within the window, or in a row of Slot
	Window   time.Duration // Config.CrashLoopWindow; 0 when InARow
	// InARow is set when one slot failed more than CrashLoopMax times in a
	// row (a single worker whose backoff spreads its failures wider than
	// the window); Slot and MinUptime then say which and how long a run
	// would have counted as stable.
	InARow    bool
	Slot      int
	MinUptime time.Duration
	Last      string // the last failure, e.g. "worker 7 (pid 999) exited with code 1: boom"
}

// Error returns a line with the count, the window or the slot, and the
// last failure.
func (e *CrashLoopError) Error() string {
	if e.InARow {
		return fmt.Sprintf("cluster: crash loop: the worker of slot %d failed %d times in a row, each before it had been ready for %v (Config.MinUptime); stopped respawning (last: %s)",
			e.Slot, e.Failures, e.MinUptime, e.Last)
	}
	return fmt.Sprintf("cluster: crash loop: %d worker failures within %v; stopped respawning (last: %s)", e.Failures, e.Window, e.Last)
}

// ReloadError reports a rolling reload that was aborted: the replacement
// for a worker crashed or was not ready in time. The old worker of that slot,
// and of every later slot, is kept.
type ReloadError struct {
	Slot     int    // the slot being replaced
	Old, New int    // IDs of the kept worker (0 if none) and of the failed replacement
	Reason   string // what went wrong
}

// Error returns a line naming the slot, the failed worker and the reason.
func (e *ReloadError) Error() string {
	return fmt.Sprintf("cluster: reload aborted at slot %d: new worker %d %s; keeping worker %d", e.Slot, e.New, e.Reason, e.Old)
}
