package cluster

import (
	"context"
	"encoding/json"
	"sync"
)

// queue is an unbounded FIFO of messages, so that a worker that does not
// read its messages never holds up the channel (and with it dispatched
// connections).
type queue struct {
	mu    sync.Mutex
	items []json.RawMessage
	wake  chan struct{} // closed and replaced when an item arrives
	err   error
}

func newQueue() *queue { return &queue{wake: make(chan struct{})} }

func (q *queue) push(m json.RawMessage) {
	q.mu.Lock()
	q.items = append(q.items, m)
	close(q.wake)
	q.wake = make(chan struct{})
	q.mu.Unlock()
}

func (q *queue) close(err error) {
	q.mu.Lock()
	if q.err == nil {
		q.err = err
		close(q.wake)
		q.wake = make(chan struct{})
	}
	q.mu.Unlock()
}

func (q *queue) pop(ctx context.Context) (json.RawMessage, error) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			m := q.items[0]
			q.items[0] = nil
			q.items = q.items[1:]
			q.mu.Unlock()
			return m, nil
		}
		if q.err != nil {
			err := q.err
			q.mu.Unlock()
			return nil, err
		}
		wake := q.wake
		q.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
