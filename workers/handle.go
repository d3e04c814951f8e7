package workers

import (
	"context"
	"sync/atomic"
	"time"
)

// Task states. queued→running and queued→settling happen under core.mu;
// running→settling is a CAS, so exactly one outcome wins.
const (
	stQueued int32 = iota
	stRunning
	stSettling
	stDone
)

// task is one submitted call, untyped.
type task struct {
	id    uint64
	e     *taskEntry
	in    any
	ctx   context.Context
	c     *core
	state atomic.Int32

	submitted int64 // nanoseconds since epoch
	started   int64

	out any
	err error

	done  atomic.Pointer[chan struct{}]
	watch atomic.Pointer[func() bool] // unregisters the ctx watcher; nil if none

	// rc is the context the task function runs with.
	rc runCtx

	// process backend: set by the worker the task was sent to, under its mu
	pw  atomic.Pointer[procWorker]
	seq uint64
	tmr *time.Timer
}

var closedCh = func() *chan struct{} {
	c := make(chan struct{})
	close(c)
	return &c
}()

var epoch = time.Now()

func now() int64 { return int64(time.Since(epoch)) }

// settle records the outcome if nothing else has, and reports whether this
// call decided it. It accepts a task that is running or, under core.mu,
// queued (from is the expected state).
func (t *task) settle(out any, err error) bool {
	for {
		s := t.state.Load()
		if s != stRunning && s != stQueued {
			return false
		}
		if t.state.CompareAndSwap(s, stSettling) {
			t.finish(s, out, err)
			return true
		}
	}
}

// finish publishes the outcome of a task already moved to stSettling from
// state from.
func (t *task) finish(from int32, out any, err error) {
	t.out, t.err = out, err
	if p := t.watch.Swap(nil); p != nil {
		(*p)()
	}
	t.c.recordDone(t, from, err)
	t.state.Store(stDone)
	if old := t.done.Swap(closedCh); old != nil && old != closedCh {
		close(*old)
	}
}

func (t *task) doneCh() <-chan struct{} {
	if p := t.done.Load(); p != nil {
		return *p
	}
	c := make(chan struct{})
	if t.done.CompareAndSwap(nil, &c) {
		return c
	}
	return *t.done.Load()
}

func (t *task) wait(ctx context.Context) error {
	if t.state.Load() == stDone {
		return nil
	}
	select {
	case <-t.doneCh():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Handle is a submitted task: wait on it for the result. It is safe for
// concurrent use; every Wait returns the same outcome.
type Handle[Out any] struct {
	t task // the handle and its task are one allocation
}

// ID returns the task's id, unique within its pool, in submission order.
func (h *Handle[Out]) ID() uint64 { return h.t.id }

// Done returns a channel that is closed when the task has an outcome.
func (h *Handle[Out]) Done() <-chan struct{} { return h.t.doneCh() }

// Wait blocks until the task has an outcome, or ctx is done, and returns
// it. If ctx ends first it returns ctx's error and leaves the task alone:
// cancel the task with the context given to Submit, or with Cancel.
func (h *Handle[Out]) Wait(ctx context.Context) (Out, error) {
	if err := h.t.wait(ctx); err != nil {
		var zero Out
		return zero, err
	}
	return h.result()
}

func (h *Handle[Out]) result() (Out, error) {
	if h.t.err != nil {
		var zero Out
		return zero, h.t.err
	}
	out, _ := h.t.out.(Out)
	return out, nil
}

// Cancel cancels the task as its context being cancelled would, with
// context.Canceled as its error: a queued task is removed, a running one
// is asked to stop. It does nothing once the task has an outcome.
func (h *Handle[Out]) Cancel() { h.t.c.cancelTask(&h.t, context.Canceled) }
