// Package fifo is an unbounded first-in first-out queue that can be
// closed: the inbox of a message channel whose reader must never hold up
// the writer (as in Node, where messages queue in the receiving thread
// however slowly it reads them).
//
// Push never blocks. Pop blocks until there is an item, the queue is
// closed, or its context ends. Close is the end of the stream: items pushed
// before it are still popped, in order, and only then does Pop return the
// close error.
package fifo

import (
	"context"
	"errors"
	"sync"
)

// ErrClosed is what Pop returns from a drained queue closed with a nil error.
var ErrClosed = errors.New("fifo: queue is closed")

// Queue is an unbounded FIFO of T. The zero value is an empty, open queue.
// Its methods are safe for concurrent use by any number of goroutines.
type Queue[T any] struct {
	mu     sync.Mutex
	items  []T
	err    error         // set by Close
	notify chan struct{} // capacity 1: "look again"; made on first use
}

// Push appends v and wakes a waiting Pop. It returns false, and drops v,
// if the queue is closed.
func (q *Queue[T]) Push(v T) bool {
	q.mu.Lock()
	if q.err != nil {
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, v)
	n := q.notifyLocked()
	q.mu.Unlock()
	signal(n)
	return true
}

// Close ends the queue with err (ErrClosed if err is nil): later Pushes
// fail, and Pop returns err once the items already queued have been popped.
// Only the first Close counts.
func (q *Queue[T]) Close(err error) {
	if err == nil {
		err = ErrClosed
	}
	q.mu.Lock()
	if q.err == nil {
		q.err = err
	}
	n := q.notifyLocked()
	q.mu.Unlock()
	signal(n)
}

// Pop removes and returns the oldest item, waiting for one if the queue is
// empty. It returns the close error once the queue is closed and empty,
// and ctx's error if ctx ends first.
func (q *Queue[T]) Pop(ctx context.Context) (T, error) {
	var zero T
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			v := q.items[0]
			q.items[0] = zero // let the popped item be collected
			q.items = q.items[1:]
			var n chan struct{}
			if len(q.items) > 0 {
				n = q.notifyLocked() // another waiter may take the next one
			}
			q.mu.Unlock()
			signal(n)
			return v, nil
		}
		if err := q.err; err != nil {
			n := q.notifyLocked() // every waiter sees the end, one after another
			q.mu.Unlock()
			signal(n)
			return zero, err
		}
		n := q.notifyLocked()
		q.mu.Unlock()
		select {
		case <-n:
		case <-ctx.Done():
			return zero, ctx.Err()
		}
	}
}

// Len returns how many items are queued.
func (q *Queue[T]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// notifyLocked returns the wake-up channel, making it on first use.
func (q *Queue[T]) notifyLocked() chan struct{} {
	if q.notify == nil {
		q.notify = make(chan struct{}, 1)
	}
	return q.notify
}

// signal leaves a wake-up in n unless one is already pending. One pending
// wake-up is enough: the Pop that takes it looks at the queue again and
// passes the wake-up on while items (or the close) remain.
func signal(n chan struct{}) {
	if n == nil {
		return
	}
	select {
	case n <- struct{}{}:
	default:
	}
}
