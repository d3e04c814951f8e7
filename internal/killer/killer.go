// Package killer stops processes the one way herd does everywhere: a polite
// signal first (SIGTERM unless told otherwise), then SIGKILL once a grace
// period has passed without the process having exited.
//
// An Escalation says which signal and how long the grace is; Start sends
// the first signal through a Sender and arms a timer for SIGKILL. The owner
// of the process, which is the one that learns of its exit (by waiting for
// it), calls Kill.Stop when it has exited, so that SIGKILL is never sent to
// a process that is gone (or to another one that got its pid). Nothing here
// waits for a process: the escalation is a timer, and the caller keeps its
// own way of waiting.
//
// A Sender delivers a signal: Group signals a process group, Process one
// process, and a caller can pass its own (a child.Process's Kill, or one that
// signals a set of process trees).
package killer

import (
	"errors"
	"os"
	"sync"
	"syscall"
	"time"
)

// DefaultSignal is the first signal of an Escalation whose Signal is 0.
const DefaultSignal = syscall.SIGTERM

// A Sender delivers sig to the process (or processes) being stopped. It
// returns os.ErrProcessDone when there is nothing left to signal.
type Sender func(sig syscall.Signal) error

// Group returns the Sender that signals every process in process group
// pgid, and answers os.ErrProcessDone once the group is empty.
func Group(pgid int) Sender {
	return func(sig syscall.Signal) error { return done(syscall.Kill(-pgid, sig)) }
}

// Process returns the Sender that signals the one process pid, and answers
// os.ErrProcessDone once it is gone (reaped).
func Process(pid int) Sender {
	return func(sig syscall.Signal) error { return done(syscall.Kill(pid, sig)) }
}

// done maps ESRCH, the kernel's "no such process", to os.ErrProcessDone.
func done(err error) error {
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

// Escalation is how a process is asked to stop: Signal, then SIGKILL after
// Grace. The zero value sends SIGTERM and SIGKILL right after it (a grace of
// 0 arms a timer that fires at once).
type Escalation struct {
	// Signal is the first signal. 0 means DefaultSignal.
	Signal syscall.Signal

	// Grace is how long after Signal SIGKILL follows unless Kill.Stop is
	// called first. A negative Grace sends SIGKILL at once, from Start.
	Grace time.Duration

	// Locker, if not nil, is held around the Sender's call when the timer
	// sends SIGKILL, and the owner holds it when it calls Kill.Stop on
	// seeing the exit: then SIGKILL can never follow the exit. Start does
	// not take it; a caller that holds it may call Start.
	Locker sync.Locker
}

// Kill is an escalation under way, returned by Escalation.Start.
type Kill struct {
	send   Sender
	locker sync.Locker
	timer  *time.Timer

	mu        sync.Mutex
	stopped   bool // Stop was called: no SIGKILL from the timer
	escalated bool // SIGKILL was sent
}

// Start sends e.Signal through send and returns the Kill that will send
// SIGKILL through send after e.Grace, unless its Stop is called first. With
// a negative Grace, Start sends SIGKILL too before it returns. The errors of
// send are ignored: a process that is already gone needs no signal.
func (e Escalation) Start(send Sender) *Kill {
	sig := e.Signal
	if sig == 0 {
		sig = DefaultSignal
	}
	k := &Kill{send: send, locker: e.Locker}
	_ = send(sig)
	if e.Grace < 0 {
		k.escalated = true
		_ = send(syscall.SIGKILL)
		return k
	}
	k.mu.Lock()
	k.timer = time.AfterFunc(e.Grace, k.fire)
	k.mu.Unlock()
	return k
}

// fire is the timer's SIGKILL.
func (k *Kill) fire() {
	if k.locker != nil {
		k.locker.Lock()
		defer k.locker.Unlock()
	}
	k.mu.Lock()
	if k.stopped {
		k.mu.Unlock()
		return
	}
	k.escalated = true
	k.mu.Unlock()
	_ = k.send(syscall.SIGKILL)
}

// Stop cancels the SIGKILL that is still to come: call it once the process
// has exited. It reports whether it cancelled one, false when SIGKILL was
// already sent. Stop may be called more than once and on a nil Kill.
func (k *Kill) Stop() bool {
	if k == nil {
		return false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.stopped = true
	if k.timer != nil {
		k.timer.Stop()
	}
	return !k.escalated
}

// Escalated reports whether SIGKILL has been sent (or, from the timer, is
// being sent). It is false on a nil Kill.
func (k *Kill) Escalated() bool {
	if k == nil {
		return false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.escalated
}
