package jobsexec

import (
	"errors"
	"fmt"
	"strings"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/jobs"
)

// ErrProtocol is matched (errors.Is) by every *ProtocolError.
var ErrProtocol = errors.New("jobsexec: protocol error")

// ProtocolError is bytes from the command that break the protocol: a
// one-shot command's stdout that is not JSON, a reply with a wrong field,
// a line longer than the limit. As an attempt's error it fails the
// attempt; on a progress line it is only logged.
type ProtocolError struct {
	// Problem says what was wrong and what to write instead.
	Problem string
}

// Error returns "jobsexec: <Problem>".
func (e *ProtocolError) Error() string { return "jobsexec: " + e.Problem }

// Is makes errors.Is(err, ErrProtocol) true.
func (e *ProtocolError) Is(target error) bool { return target == ErrProtocol }

// ExitError is an attempt whose process ended before it gave a result:
// one-shot, a non-zero exit; kept, any exit while the job ran; or herd
// killed it, for a timeout, a cancel or a shutdown (Reason says which).
// Its message carries the tail of the command's stderr.
type ExitError struct {
	// Cmd is the command line, for messages.
	Cmd string
	// ExitStatus is how the process ended.
	child.ExitStatus
	// Reason is why herd killed the process: a *jobs.TimeoutError,
	// jobs.ErrCancelled, a context's error; nil if it ended on its own.
	Reason error
	// Stderr is the tail of what the command wrote to stderr during the
	// attempt, progress lines left out: its last lines, at most
	// Config.StderrTail bytes.
	Stderr string
}

// Error returns a line naming the command and how it ended (or why herd
// killed it), with the stderr tail's last line, then the whole tail,
// indented, on the lines below.
func (e *ExitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "jobsexec: %q ", e.Cmd)
	if e.Reason != nil {
		fmt.Fprintf(&b, "killed (%v)", e.Reason)
	} else {
		b.WriteString(e.ExitStatus.String())
		if e.Success() {
			b.WriteString(" before it gave a result")
		}
	}
	writeTail(&b, e.Stderr, true)
	return b.String()
}

// Unwrap returns Reason, so errors.Is(err, jobs.ErrCancelled) and
// errors.As(err, new(*jobs.TimeoutError)) work.
func (e *ExitError) Unwrap() error { return e.Reason }

// ReplyError is an attempt that the command failed itself: a one-shot
// command never gives one (it exits non-zero instead); a kept one sends
// {"error":"..."}.
type ReplyError struct {
	// Message is the command's error text.
	Message string
	// Permanent is the reply's "permanent": the job fails at once, without
	// the attempts it has left (errors.Is(err, jobs.ErrPermanent)).
	Permanent bool
	// Stderr is the tail of stderr during the attempt, as in ExitError.
	Stderr string
}

// Error returns Message, with the stderr tail, indented, on the lines
// below.
func (e *ReplyError) Error() string {
	var b strings.Builder
	b.WriteString(e.Message)
	writeTail(&b, e.Stderr, false)
	return b.String()
}

// Is makes errors.Is(err, jobs.ErrPermanent) true for a permanent error.
func (e *ReplyError) Is(target error) bool { return e.Permanent && target == jobs.ErrPermanent }

// writeTail appends the last line of the stderr tail to the first line of
// the message, then the whole tail, indented, on the lines below.
// With inline false the first line is left as it is.
func writeTail(b *strings.Builder, tail string, inline bool) {
	tail = strings.TrimRight(tail, "\n")
	if tail == "" {
		return
	}
	last := tail[strings.LastIndexByte(tail, '\n')+1:]
	if inline {
		b.WriteString(": ")
		b.WriteString(last)
	}
	b.WriteString("\nstderr:")
	for l := range strings.SplitSeq(tail, "\n") {
		b.WriteString("\n  ")
		b.WriteString(l)
	}
}
