package workers

import (
	"context"
	"sync"
	"time"

	"github.com/herdrun/herd/workers/shm"
)

// runCtx is the context a task function sees. It lives inside the task,
// so running a task costs no context allocation. It is cancelled by the
// caller's context (through the submit-time watcher), by Handle.Cancel, by
// the timeout and by Kill.
type runCtx struct {
	parent   context.Context
	deadline time.Time // from Options.Timeout; zero if none
	shared   []*shm.Buffer

	mu   sync.Mutex
	done chan struct{}
	err  error
}

func (r *runCtx) Deadline() (time.Time, bool) {
	pd, ok := r.parent.Deadline()
	if !r.deadline.IsZero() && (!ok || r.deadline.Before(pd)) {
		return r.deadline, true
	}
	return pd, ok
}

func (r *runCtx) Done() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done == nil {
		r.done = make(chan struct{})
		if r.err != nil {
			close(r.done)
		}
	}
	return r.done
}

func (r *runCtx) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func (r *runCtx) Value(key any) any {
	if _, ok := key.(sharedKey); ok {
		return r.shared
	}
	return r.parent.Value(key)
}

func (r *runCtx) String() string { return "workers.taskContext" }

func (r *runCtx) cancel(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return
	}
	r.err = err
	if r.done != nil {
		close(r.done)
	}
}

type sharedKey struct{}

// SharedBuffers returns the buffers given in Options.Shared (or
// ThreadOptions.Shared) to the pool or worker whose task or worker function
// got ctx, mapped in this process; nil if there are none. It works the same
// on both backends.
func SharedBuffers(ctx context.Context) []*shm.Buffer {
	s, _ := ctx.Value(sharedKey{}).([]*shm.Buffer)
	return s
}
