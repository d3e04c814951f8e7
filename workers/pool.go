package workers

import (
	"context"
	"fmt"
	"os"

	"github.com/herdrun/herd/child"
)

// Pool runs Task[In, Out] calls on a set of workers: goroutines or
// processes, chosen by Options.Backend. Its methods are safe for
// concurrent use. Make one with New; several Pools made with On share one
// set of workers.
type Pool[In, Out any] struct {
	p    *pool
	task Task[In, Out]
}

// pool is the state shared by a Pool and the views On makes of it.
type pool struct {
	c *core
}

// New starts a pool that runs task, with opts (nil means the zero Options:
// goroutines, one per CPU). Its MinWorkers workers start now; on the
// process backend New returns before they are ready, and tasks queue until
// they are. With the process backend the program must call child.Dispatch
// at the top of main (TestMain in tests), where worker processes become
// workers; New returns ErrNoDispatch in a worker process that skipped it.
func New[In, Out any](task Task[In, Out], opts *Options) (*Pool[In, Out], error) {
	if task.e == nil {
		return nil, fmt.Errorf("workers: New needs a Task from Register")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	lim := o.limits()
	c := newCore(lim, o.Shared)
	switch o.Backend {
	case Goroutines:
		// Each goroutine is one task slot: count slots, not workers.
		c.lim.min *= c.lim.inFlight
		c.lim.max *= c.lim.inFlight
		c.lim.inFlight = 1
		c.be = &goBackend{c: c}
	case Processes:
		if _, ok := os.LookupEnv(child.EnvRole); ok {
			return nil, ErrNoDispatch
		}
		for _, b := range o.Shared {
			if _, err := b.File(); err != nil {
				return nil, fmt.Errorf("workers: Options.Shared: %w", err)
			}
		}
		name := o.Name
		if name == "" {
			name = "worker"
		}
		c.be = &procBackend{c: c, opts: o, name: name}
	default:
		return nil, fmt.Errorf("workers: unknown backend %d", o.Backend)
	}
	c.startMin()
	return &Pool[In, Out]{p: &pool{c: c}, task: task}, nil
}

// On returns a Pool that runs task on p's workers: Piscina's named tasks,
// several functions sharing one pool. The two share the queue, the limits,
// the statistics and the lifetime; closing either closes both.
func On[In2, Out2, In, Out any](p *Pool[In, Out], task Task[In2, Out2]) *Pool[In2, Out2] {
	return &Pool[In2, Out2]{p: p.p, task: task}
}

// Task returns the task this Pool runs.
func (p *Pool[In, Out]) Task() Task[In, Out] { return p.task }

// Run runs the task on in and waits for its result: it is Submit followed
// by Wait. Cancelling ctx cancels the task (see Submit).
func (p *Pool[In, Out]) Run(ctx context.Context, in In) (Out, error) {
	h, err := p.Submit(ctx, in)
	if err != nil {
		var zero Out
		return zero, err
	}
	return h.Wait(context.Background())
}

// Submit queues the task on in and returns a Handle to wait on, without
// waiting for it to run. When Options.MaxQueue tasks are already queued it
// blocks until there is room, ctx is done (then it returns ctx's error) or
// the pool closes (ErrClosed).
//
// ctx is the task's: while queued, cancelling it removes the task; while
// running, the task's context is cancelled too, and on the process backend
// the worker is killed if the task has not returned StopGrace later. Either
// way the Handle gets ctx's error at once.
func (p *Pool[In, Out]) Submit(ctx context.Context, in In) (*Handle[Out], error) {
	return p.submit(ctx, in, true)
}

// TrySubmit is Submit that never blocks: when Options.MaxQueue tasks are
// queued it fails at once with ErrQueueFull.
func (p *Pool[In, Out]) TrySubmit(ctx context.Context, in In) (*Handle[Out], error) {
	return p.submit(ctx, in, false)
}

func (p *Pool[In, Out]) submit(ctx context.Context, in In, block bool) (*Handle[Out], error) {
	h := &Handle[Out]{}
	h.t.e = p.task.e
	h.t.in = in
	if err := p.p.c.submit(ctx, &h.t, block); err != nil {
		return nil, err
	}
	return h, nil
}

// NeedsDrain reports whether the queue is full (Options.MaxQueue tasks
// waiting), like Piscina's needsDrain: a producer should pause until
// Drained. It is always false without MaxQueue.
func (p *Pool[In, Out]) NeedsDrain() bool {
	c := p.p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lim.maxQueue > 0 && c.live >= c.lim.maxQueue
}

// Drained returns a channel that is closed when no task is waiting in the
// queue (Piscina's 'drain' event): at once if the queue is empty now.
func (p *Pool[In, Out]) Drained() <-chan struct{} { return p.p.c.drained() }

// Stats returns a snapshot of the pool's counters.
func (p *Pool[In, Out]) Stats() Stats { return p.p.c.stats() }

// Close stops accepting tasks (Submit returns ErrClosed), lets queued and
// running tasks finish, then stops the workers and waits for them: for
// processes, until they have exited and been reaped. If ctx ends first,
// Close kills the pool as Kill does and returns ctx's error. Calling Close
// again waits again and returns nil.
func (p *Pool[In, Out]) Close(ctx context.Context) error {
	c := p.p.c
	c.close()
	done := make(chan struct{})
	go func() {
		c.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		p.Kill()
		return ctx.Err()
	}
}

// Kill stops the pool at once: queued and running tasks fail with
// ErrKilled, worker processes get SIGKILL, and Kill returns when they are
// reaped. Goroutine tasks see their context cancelled, but a function that
// ignores it runs on in the background: no goroutine can be stopped from
// outside.
func (p *Pool[In, Out]) Kill() {
	c := p.p.c
	c.killAll()
	c.be.kill()
	if _, ok := c.be.(*procBackend); ok {
		c.wg.Wait()
	}
}
