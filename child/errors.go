package child

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrUnknownRole is wrapped by the *StartError ForkSelf returns for a role
// that was never registered with Register.
var ErrUnknownRole = errors.New("child: role is not registered")

// ErrTimeout is the Reason of an *ExitError for a child killed because
// Options.Timeout elapsed.
var ErrTimeout = errors.New("child: timed out")

// ErrMaxBuffer is the Reason of an *ExitError for a child whose stdout or
// stderr exceeded Options.MaxBuffer in Exec or ExecFile.
var ErrMaxBuffer = errors.New("child: output exceeded MaxBuffer")

// stderrTailMax is how much of the end of stderr an ExitError keeps.
const stderrTailMax = 4 << 10

// ExitStatus says how a process ended: with an exit code, or killed by a
// signal. It is the one description of an ended process that child,
// workers and cluster share: *ExitError, workers' *WorkerExitError and
// cluster's ExitStatus embed it, as os/exec's *ExitError embeds
// *os.ProcessState. The zero value is a clean exit, with code 0.
type ExitStatus struct {
	Code   int            // exit code; -1 if killed by a signal
	Signal syscall.Signal // the signal that killed it; 0 if it exited
}

// Exited reports whether the process exited on its own (with any code)
// rather than being killed by a signal.
func (s ExitStatus) Exited() bool { return s.Signal == 0 }

// Success reports whether the process exited with code 0.
func (s ExitStatus) Success() bool { return s.Signal == 0 && s.Code == 0 }

// String returns "exited with code 2" or "killed by SIGKILL".
func (s ExitStatus) String() string {
	if s.Signal != 0 {
		return "killed by " + SignalName(s.Signal)
	}
	return "exited with code " + strconv.Itoa(s.Code)
}

// SignalName returns the name of sig as the C headers spell it, such as
// "SIGKILL" or "SIGSEGV", or "signal 99" for a number with no name.
func SignalName(sig syscall.Signal) string {
	if n := unix.SignalName(sig); n != "" {
		return n
	}
	return "signal " + strconv.Itoa(int(sig))
}

// ExitError reports a child that exited with a non-zero code, was killed by
// a signal, or was killed by herd (then Reason says why, whatever the exit
// status). Code and Signal come from the embedded ExitStatus.
type ExitError struct {
	ExitStatus        // how it ended
	Cmd        string // the command line, for messages
	Pid        int    // the child's process id
	Killed     bool   // herd signalled it (Timeout, context, MaxBuffer) before it exited
	Reason     error  // why herd killed it: ErrTimeout, ErrMaxBuffer or the context's error; nil otherwise
	Stderr     []byte // the last up-to-4KiB of stderr when herd captured it (Exec, ExecFile), else nil
}

// Error returns a one-line description: the command, how it ended, why herd
// killed it if it did, and the last non-empty line of Stderr if any, as in
// `child: "ls /nope" exited with code 2: ls: cannot access '/nope': ...`
// or `child: "sleep 9" killed by SIGTERM (timed out)`.
func (e *ExitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "child: %q %s", e.Cmd, e.ExitStatus)
	if e.Reason != nil {
		fmt.Fprintf(&b, " (%s)", strings.TrimPrefix(e.Reason.Error(), "child: "))
	}
	if tail := lastLine(e.Stderr); tail != "" {
		b.WriteString(": ")
		b.WriteString(tail)
	}
	return b.String()
}

// Unwrap returns Reason, so errors.Is(err, ErrTimeout),
// errors.Is(err, ErrMaxBuffer) and errors.Is(err, context.Canceled) work.
func (e *ExitError) Unwrap() error { return e.Reason }

// StartError reports a child that could not be started: program not found
// or not executable, bad Dir, context already done, fork failure.
type StartError struct {
	Cmd string // the command line, for messages
	Err error  // the underlying error
}

// Error returns `child: start "cmd": ` followed by the underlying error.
func (e *StartError) Error() string {
	return fmt.Sprintf("child: start %q: %v", e.Cmd, e.Err)
}

// Unwrap returns Err, so errors.Is(err, exec.ErrNotFound),
// errors.Is(err, fs.ErrNotExist) and errors.Is(err, fs.ErrPermission) work.
func (e *StartError) Unwrap() error { return e.Err }

// lastLine returns the last non-blank line of b, trimmed, at most 200 bytes.
func lastLine(b []byte) string {
	b = bytes.TrimRight(b, " \t\r\n")
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	s := strings.ToValidUTF8(strings.TrimSpace(string(b)), "\uFFFD")
	const max = 200
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "..."
	}
	return s
}

// tail returns a copy of the last n bytes of b.
func tail(b []byte, n int) []byte {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return bytes.Clone(b)
}
