package child

import (
	"bytes"
	"errors"
	"fmt"
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

// ExitError reports a child that exited with a non-zero code, was killed by
// a signal, or was killed by herd (then Reason says why, whatever the exit
// status).
type ExitError struct {
	Cmd    string         // the command line, for messages
	Pid    int            // the child's process id
	Code   int            // exit code; -1 if killed by a signal
	Signal syscall.Signal // the signal that killed it; 0 if it exited normally
	Killed bool           // herd signalled it (Timeout, context, MaxBuffer) before it exited
	Reason error          // why herd killed it: ErrTimeout, ErrMaxBuffer or the context's error; nil otherwise
	Stderr []byte         // the last up-to-4KiB of stderr when herd captured it (Exec, ExecFile), else nil
}

// Error returns a one-line description: the command, how it ended, why herd
// killed it if it did, and the last non-empty line of Stderr if any, as in
// `child: "ls /nope" exited with code 2: ls: cannot access '/nope': ...`
// or `child: "sleep 9" killed by SIGTERM (timed out)`.
func (e *ExitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "child: %q ", e.Cmd)
	if e.Signal != 0 {
		fmt.Fprintf(&b, "killed by %s", signalName(e.Signal))
	} else {
		fmt.Fprintf(&b, "exited with code %d", e.Code)
	}
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

func signalName(s syscall.Signal) string {
	if n := unix.SignalName(s); n != "" {
		return n
	}
	return fmt.Sprintf("signal %d", int(s))
}

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
