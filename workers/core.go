package workers

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herdrun/herd/workers/shm"
)

// backend is what differs between goroutine and process pools.
type backend interface {
	// startWorker starts one worker; c.nworkers was already counted.
	startWorker()
	// cancelRunning asks a running task, already settled with err, to stop.
	cancelRunning(t *task, err error)
	// kill stops every worker at once; tasks are settled by the core.
	kill()
}

// waiter is an idle worker (or a process worker's dispatcher with a free
// slot) waiting for a task. A nil task tells it to stop.
type waiter struct {
	ch chan *task
}

func newWaiter() *waiter { return &waiter{ch: make(chan *task, 1)} }

// core is the scheduler both backends share: a FIFO queue, idle workers
// waiting for tasks, scaling, closing, and the statistics.
type core struct {
	lim    limits
	be     backend
	shared []*shm.Buffer
	start  int64

	mu       sync.Mutex
	q        []*task // ring buffer
	qhead    int
	qlen     int // entries in the ring, cancelled ones included
	live     int // queued tasks not cancelled
	waiters  []*waiter
	nworkers int
	closing  bool
	killed   bool
	dead     atomic.Bool   // killed, readable without mu
	killCh   chan struct{} // closed by Kill
	roomCh   chan struct{} // closed when live drops below MaxQueue
	emptyCh  chan struct{} // closed when live drops to zero
	wg       sync.WaitGroup

	ids       atomic.Uint64
	running   atomic.Int64
	completed atomic.Uint64
	failed    atomic.Uint64
	restarts  atomic.Uint64
	busy      atomic.Int64 // summed run time, ns
	waitH     hist
	runH      hist
}

func newCore(lim limits, shared []*shm.Buffer) *core {
	return &core{lim: lim, shared: shared, start: now(), q: make([]*task, 64), killCh: make(chan struct{})}
}

// startMin starts the pool's minimum number of workers.
func (c *core) startMin() {
	c.mu.Lock()
	n := c.lim.min - c.nworkers
	c.nworkers += max(0, n)
	c.mu.Unlock()
	for range n {
		c.be.startWorker()
	}
}

// submit queues t, or hands it to an idle worker. With block it waits for
// room in a full queue until ctx is done; without it fails with
// ErrQueueFull.
func (c *core) submit(ctx context.Context, t *task, block bool) error {
	t.c = c
	t.ctx = ctx
	t.rc.parent = ctx
	t.rc.shared = c.shared
	if err := ctx.Err(); err != nil {
		return err
	}
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { c.cancelTask(t, ctx.Err()) })
		t.watch.Store(&stop)
	}
	c.mu.Lock()
	for {
		if c.closing {
			c.mu.Unlock()
			t.unwatch()
			return ErrClosed
		}
		if c.lim.maxQueue == 0 || c.live < c.lim.maxQueue || len(c.waiters) > 0 {
			break
		}
		if !block {
			c.mu.Unlock()
			t.unwatch()
			return ErrQueueFull
		}
		if c.roomCh == nil {
			c.roomCh = make(chan struct{})
		}
		room := c.roomCh
		c.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			t.unwatch()
			return ctx.Err()
		}
		c.mu.Lock()
	}
	t.id = c.ids.Add(1)
	t.submitted = now()
	if t.state.Load() != stQueued {
		// Its context ended just now; the watcher settled it.
		c.mu.Unlock()
		return nil
	}
	if n := len(c.waiters); n > 0 {
		w := c.waiters[n-1]
		c.waiters = c.waiters[:n-1]
		c.assignLocked(t)
		c.mu.Unlock()
		w.ch <- t
		return nil
	}
	c.pushLocked(t)
	grow := c.nworkers < c.lim.max
	if grow {
		c.nworkers++
	}
	c.mu.Unlock()
	if grow {
		c.be.startWorker()
	}
	return nil
}

func (t *task) unwatch() {
	if p := t.watch.Swap(nil); p != nil {
		(*p)()
	}
}

func (c *core) assignLocked(t *task) {
	t.state.Store(stRunning)
	t.started = now()
	c.running.Add(1)
	c.waitH.add(t.started - t.submitted)
}

func (c *core) pushLocked(t *task) {
	if c.qlen == len(c.q) {
		nq := make([]*task, 2*len(c.q))
		for i := range c.qlen {
			nq[i] = c.q[(c.qhead+i)%len(c.q)]
		}
		c.q, c.qhead = nq, 0
	}
	c.q[(c.qhead+c.qlen)%len(c.q)] = t
	c.qlen++
	c.live++
}

// pushFrontLocked puts tasks back at the head of the queue, in order (for
// tasks a dead worker never started).
func (c *core) pushFrontLocked(ts []*task) {
	for i := len(ts) - 1; i >= 0; i-- {
		if c.qlen == len(c.q) {
			c.pushLocked(nil) // grow
			c.qlen--
			c.live--
		}
		c.qhead = (c.qhead - 1 + len(c.q)) % len(c.q)
		c.q[c.qhead] = ts[i]
		c.qlen++
		c.live++
	}
}

// popLocked takes the next live task off the queue and marks it running.
func (c *core) popLocked() *task {
	for c.qlen > 0 {
		t := c.q[c.qhead]
		c.q[c.qhead] = nil
		c.qhead = (c.qhead + 1) % len(c.q)
		c.qlen--
		if t == nil || t.state.Load() != stQueued {
			continue // cancelled while queued; already counted out of live
		}
		c.live--
		c.signalLocked()
		c.assignLocked(t)
		return t
	}
	return nil
}

func (c *core) signalLocked() {
	if c.roomCh != nil && c.live < c.lim.maxQueue {
		close(c.roomCh)
		c.roomCh = nil
	}
	if c.emptyCh != nil && c.live == 0 {
		close(c.emptyCh)
		c.emptyCh = nil
	}
}

// next blocks until a task is available for w and returns it, or returns
// nil when the worker should stop: the pool is closing and drained, or was
// killed, or stop was closed, or (then idle is true, and the worker was
// already counted out of nworkers) the worker is above MinWorkers and was
// idle for IdleTimeout.
func (c *core) next(w *waiter, stop <-chan struct{}) (t *task, idle bool) {
	c.mu.Lock()
	if t := c.popLocked(); t != nil {
		c.mu.Unlock()
		return t, false
	}
	if c.closing || c.killed {
		c.mu.Unlock()
		return nil, false
	}
	c.waiters = append(c.waiters, w)
	scalable := c.lim.min < c.lim.max
	c.mu.Unlock()
	for {
		var idle <-chan time.Time
		var tm *time.Timer
		if scalable {
			tm = time.NewTimer(c.lim.idle)
			idle = tm.C
		}
		select {
		case t := <-w.ch:
			if tm != nil {
				tm.Stop()
			}
			return t, false
		case <-stop:
			c.mu.Lock()
			removed := c.removeWaiterLocked(w)
			c.mu.Unlock()
			if removed {
				return nil, false
			}
			return c.handBack(<-w.ch), false
		case <-idle:
			c.mu.Lock()
			if c.nworkers > c.lim.min && c.removeWaiterLocked(w) {
				c.nworkers--
				c.mu.Unlock()
				return nil, true
			}
			c.mu.Unlock()
		}
	}
}

// handBack returns to the queue a task handed to a worker that is
// stopping, and returns nil.
func (c *core) handBack(t *task) *task {
	if t == nil {
		return nil
	}
	c.mu.Lock()
	if t.state.CompareAndSwap(stRunning, stQueued) {
		c.running.Add(-1)
		c.pushFrontLocked([]*task{t})
		c.dispatchLocked()
	}
	c.mu.Unlock()
	return nil
}

// dispatchLocked hands queued tasks to idle workers (after tasks were put
// back).
func (c *core) dispatchLocked() {
	for len(c.waiters) > 0 {
		t := c.popLocked()
		if t == nil {
			return
		}
		w := c.waiters[len(c.waiters)-1]
		c.waiters = c.waiters[:len(c.waiters)-1]
		w.ch <- t
	}
}

// tryMore takes up to n more tasks without blocking.
func (c *core) tryMore(dst []*task, n int) []*task {
	if n <= 0 {
		return dst
	}
	c.mu.Lock()
	for range n {
		t := c.popLocked()
		if t == nil {
			break
		}
		dst = append(dst, t)
	}
	c.mu.Unlock()
	return dst
}

func (c *core) removeWaiterLocked(w *waiter) bool {
	for i, x := range c.waiters {
		if x == w {
			c.waiters = append(c.waiters[:i], c.waiters[i+1:]...)
			return true
		}
	}
	return false
}

// workerGone is called when a worker stopped on its own (crash, recycle);
// it starts a replacement if the pool still needs one.
func (c *core) workerGone(replace bool) {
	c.mu.Lock()
	c.nworkers--
	start := !c.closing && !c.killed && (c.nworkers < c.lim.min || (replace && c.live > 0 && c.nworkers < c.lim.max))
	if start {
		c.nworkers++
	}
	c.mu.Unlock()
	if start {
		c.restarts.Add(1)
		c.be.startWorker()
	}
}

// cancelTask settles t with err if it has no outcome yet: a queued task is
// removed from the queue, a running one is asked to stop.
func (c *core) cancelTask(t *task, err error) {
	c.mu.Lock()
	s := t.state.Load()
	if s == stQueued {
		t.state.Store(stSettling)
		if t.id != 0 { // it was queued, not caught before enqueueing
			c.live--
			c.signalLocked()
		}
		c.mu.Unlock()
		t.finish(stQueued, nil, err)
		return
	}
	c.mu.Unlock()
	if s == stRunning && t.settle(nil, err) {
		c.be.cancelRunning(t, err)
	}
}

// recordDone updates the counters for a task settled from state from.
func (c *core) recordDone(t *task, from int32, err error) {
	if from == stRunning {
		c.running.Add(-1)
		d := now() - t.started
		c.runH.add(d)
		c.busy.Add(d)
	}
	if err != nil {
		c.failed.Add(1)
	} else {
		c.completed.Add(1)
	}
}

// close stops accepting tasks; workers stop once the queue is drained.
func (c *core) close() {
	c.mu.Lock()
	c.closing = true
	ws := c.waiters
	c.waiters = nil
	if c.roomCh != nil {
		close(c.roomCh)
		c.roomCh = nil
	}
	c.mu.Unlock()
	for _, w := range ws {
		w.ch <- nil
	}
}

// killAll fails every queued task with ErrKilled and stops idle workers.
func (c *core) killAll() {
	c.mu.Lock()
	if !c.killed {
		close(c.killCh)
	}
	c.closing, c.killed = true, true
	c.dead.Store(true)
	var qs []*task
	for c.qlen > 0 {
		t := c.q[c.qhead]
		c.q[c.qhead] = nil
		c.qhead = (c.qhead + 1) % len(c.q)
		c.qlen--
		if t != nil && t.state.Load() == stQueued {
			t.state.Store(stSettling)
			c.live--
			qs = append(qs, t)
		}
	}
	c.signalLocked()
	ws := c.waiters
	c.waiters = nil
	if c.roomCh != nil {
		close(c.roomCh)
		c.roomCh = nil
	}
	c.mu.Unlock()
	for _, t := range qs {
		t.finish(stQueued, nil, ErrKilled)
	}
	for _, w := range ws {
		w.ch <- nil
	}
}

// drained returns a channel closed when no task is queued.
func (c *core) drained() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live == 0 {
		return closedCh0
	}
	if c.emptyCh == nil {
		c.emptyCh = make(chan struct{})
	}
	return c.emptyCh
}

var closedCh0 = *closedCh

func (c *core) stats() Stats {
	c.mu.Lock()
	s := Stats{Workers: c.nworkers, Queued: c.live}
	c.mu.Unlock()
	s.Running = int(c.running.Load())
	s.Completed = c.completed.Load()
	s.Failed = c.failed.Load()
	s.Restarts = c.restarts.Load()
	s.WaitTime = c.waitH.snapshot()
	s.RunTime = c.runH.snapshot()
	if el := now() - c.start; el > 0 {
		s.Utilization = min(1, float64(c.busy.Load())/(float64(el)*float64(c.lim.max*c.lim.inFlight)))
	}
	return s
}

// requeue puts back at the head of the queue, in their original order,
// tasks that a dead worker never started.
func (c *core) requeue(ts []*task) {
	slices.SortFunc(ts, func(a, b *task) int { return cmp.Compare(a.seq, b.seq) })
	var back, killed []*task
	c.mu.Lock()
	for _, t := range ts {
		if t.tmr != nil {
			t.tmr.Stop()
			t.tmr = nil
		}
		t.pw.Store(nil)
		if c.killed {
			killed = append(killed, t)
			continue
		}
		if t.state.CompareAndSwap(stRunning, stQueued) {
			c.running.Add(-1)
			back = append(back, t)
		}
	}
	c.pushFrontLocked(back)
	c.dispatchLocked()
	c.mu.Unlock()
	for _, t := range killed {
		t.settle(nil, ErrKilled)
	}
}

// failQueued fails every queued task with err (workers cannot start).
func (c *core) failQueued(err error) {
	c.mu.Lock()
	var qs []*task
	for c.qlen > 0 {
		t := c.q[c.qhead]
		c.q[c.qhead] = nil
		c.qhead = (c.qhead + 1) % len(c.q)
		c.qlen--
		if t != nil && t.state.Load() == stQueued {
			t.state.Store(stSettling)
			c.live--
			qs = append(qs, t)
		}
	}
	c.signalLocked()
	c.mu.Unlock()
	for _, t := range qs {
		t.finish(stQueued, nil, err)
	}
}
