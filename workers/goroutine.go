package workers

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// goBackend runs each worker as a goroutine with InFlight task slots,
// each slot a goroutine of its own.
type goBackend struct {
	c *core

	mu    sync.Mutex
	slots map[*goSlot]struct{}
}

// goSlot is one goroutine running tasks one after another.
type goSlot struct {
	cur atomic.Pointer[task] // the task running now, for Kill
}

// startWorker starts one slot goroutine. For the goroutine backend the
// core counts slots: New multiplies the worker limits by InFlight.
func (b *goBackend) startWorker() {
	b.c.wg.Add(1)
	s := &goSlot{}
	b.mu.Lock()
	if b.slots == nil {
		b.slots = map[*goSlot]struct{}{}
	}
	b.slots[s] = struct{}{}
	b.mu.Unlock()
	go b.loop(s)
}

func (b *goBackend) loop(s *goSlot) {
	defer b.c.wg.Done()
	defer func() {
		b.mu.Lock()
		delete(b.slots, s)
		b.mu.Unlock()
	}()
	w := newWaiter()
	for {
		t, idle := b.c.next(w, nil)
		if t == nil {
			if !idle {
				b.c.mu.Lock()
				b.c.nworkers--
				b.c.mu.Unlock()
			}
			return
		}
		s.cur.Store(t)
		b.run(t)
		s.cur.Store(nil)
	}
}

func (b *goBackend) run(t *task) {
	if t.state.Load() != stRunning {
		return // cancelled between being handed over and starting
	}
	var tm *time.Timer
	if to := b.c.lim.timeout; to > 0 {
		t.rc.deadline = time.Now().Add(to)
		tm = time.AfterFunc(to, func() {
			if t.settle(nil, &TimeoutError{Task: t.e.name, Timeout: to}) {
				t.rc.cancel(context.DeadlineExceeded)
			}
		})
	}
	if b.c.dead.Load() {
		t.settle(nil, ErrKilled)
		return
	}
	out, err := callLocal(t)
	if tm != nil {
		tm.Stop()
	}
	t.settle(out, err)
}

// callLocal runs the task function, turning a panic into a *PanicError and
// an error into a *TaskError.
func callLocal(t *task) (out any, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, &PanicError{Task: t.e.name, Value: fmt.Sprint(r), Stack: string(debug.Stack())}
		}
	}()
	out, err = t.e.call(&t.rc, t.in)
	if err != nil {
		return nil, &TaskError{Task: t.e.name, Err: err}
	}
	return out, nil
}

func (b *goBackend) cancelRunning(t *task, err error) { t.rc.cancel(err) }

// kill settles every running task with ErrKilled and cancels its context.
// The functions themselves run on until they return.
func (b *goBackend) kill() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.slots {
		if t := s.cur.Load(); t != nil && t.settle(nil, ErrKilled) {
			t.rc.cancel(context.Canceled)
		}
	}
}
