package supervise

import (
	"context"
	"syscall"
	"time"
)

// Killable is a running process that Stop can signal: *child.Process
// satisfies it.
type Killable interface {
	// Kill sends sig to the process (its whole group, for a child.Process).
	Kill(sig syscall.Signal) error
	// Done is closed once the process has exited and been reaped.
	Done() <-chan struct{}
}

// Stop asks p to exit with sig (SIGTERM when 0) and waits up to grace for
// it to go; then it sends SIGKILL and waits for the exit. It returns true
// if p exited within grace, false if it had to be killed. If ctx ends first,
// p gets SIGKILL at once. Stop always returns after p has exited.
func Stop(ctx context.Context, p Killable, sig syscall.Signal, grace time.Duration) bool {
	if sig == 0 {
		sig = syscall.SIGTERM
	}
	select {
	case <-p.Done():
		return true
	default:
	}
	_ = p.Kill(sig)
	t := time.NewTimer(max(grace, 0))
	defer t.Stop()
	select {
	case <-p.Done():
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	_ = p.Kill(syscall.SIGKILL)
	<-p.Done()
	return false
}
