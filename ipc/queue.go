package ipc

import (
	"context"
	"fmt"
	"sync"
)

// The send queue (Options.SendQueue). Send and SendBytes append their
// frame to qbuf and return; the queue's writer goroutine takes everything
// queued and writes it with one sendBatch, so a goroutine sending in a
// loop shares each write(2) with the messages it queued meanwhile. Every
// other send (SendBatch, SendBytesBatch, SendHandle) first waits until
// what was queued before it has been written, then writes as it does
// without a queue, so one goroutine's messages keep their order.
//
// qmu guards every q field. qseq counts the frames queued so far and
// qdone the frames the writer has finished with (written, or dropped
// after an error); qerr is the first write error, after which the queue
// takes nothing more. qchanged is closed, and replaced, whenever qdone
// moves, qerr is set or the writer exits: a waiting sender (for room) or
// Flush (for qdone) selects on it with its ctx. qidle says that the
// writer waits for qwake.
type sendQueue struct {
	limit int

	qmu      sync.Mutex
	qbuf     []byte
	qspare   []byte
	qcount   int
	qseq     uint64
	qdone    uint64
	qinfly   int // bytes the writer is writing
	qerr     error
	qidle    bool
	qchanged chan struct{}
	qwake    chan struct{}
	qexit    chan struct{}
}

func newSendQueue(limit int) *sendQueue {
	return &sendQueue{
		limit:    limit,
		qchanged: make(chan struct{}),
		qwake:    make(chan struct{}, 1),
		qexit:    make(chan struct{}),
	}
}

// changed wakes every waiter. The caller holds qmu.
func (q *sendQueue) changed() {
	close(q.qchanged)
	q.qchanged = make(chan struct{})
}

// enqueue appends the frame b (or, with hdr, the frame hdr+b) to the
// queue, waiting while the queue is full. It returns the error of an
// earlier write, ctx's error, or ErrClosed.
func (c *Conn) enqueue(ctx context.Context, hdr, b []byte) error {
	q := c.q
	n := len(hdr) + len(b)
	q.qmu.Lock()
	if err := c.waitQueue(ctx, func() bool {
		return q.qerr != nil || len(q.qbuf)+q.qinfly == 0 || len(q.qbuf)+q.qinfly+n <= q.limit
	}); err != nil {
		return err
	}
	if err := q.qerr; err != nil {
		q.qmu.Unlock()
		return err
	}
	select {
	case <-c.closing:
		q.qmu.Unlock()
		return ErrClosed
	default:
	}
	q.qbuf = append(append(q.qbuf, hdr...), b...)
	q.qcount++
	q.qseq++
	wake := q.qidle
	q.qidle = false
	q.qmu.Unlock()
	if wake {
		select {
		case q.qwake <- struct{}{}:
		default:
		}
	}
	return nil
}

// Flush waits until every message that Send or SendBytes queued before
// the call is in the kernel, as if each had been sent without
// Options.SendQueue, and returns the first error the queue's writes met,
// or ctx's error, or ErrClosed. Without a send queue it returns nil at
// once (each Send has written its message before it returned).
func (c *Conn) Flush(ctx context.Context) error {
	q := c.q
	if q == nil {
		return nil
	}
	q.qmu.Lock()
	target := q.qseq
	if err := c.waitQueue(ctx, func() bool { return q.qdone >= target || q.qerr != nil }); err != nil {
		return err
	}
	err := q.qerr
	q.qmu.Unlock()
	return err
}

// waitQueue waits until ready, called with qmu held, reports true; it
// takes qmu held and returns with it held, or returns ctx's error or
// ErrClosed, without it, if one of those comes first. It wakes whenever
// qchanged is closed.
func (c *Conn) waitQueue(ctx context.Context, ready func() bool) error {
	q := c.q
	for !ready() {
		ch := q.qchanged
		q.qmu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.closing:
			return ErrClosed
		}
		q.qmu.Lock()
	}
	return nil
}

// flushQueue is Flush for a send that does not go through the queue:
// without a queue it does nothing.
func (c *Conn) flushQueue(ctx context.Context) error {
	if c.q == nil {
		return nil
	}
	if err := c.Flush(ctx); err != nil {
		return fmt.Errorf("ipc: messages queued before this one: %w", err)
	}
	return nil
}

// writeLoop is the queue's writer goroutine. It ends at Close, or once a
// write has failed.
func (c *Conn) writeLoop() {
	q := c.q
	defer func() {
		q.qmu.Lock()
		if q.qerr == nil {
			q.qerr = ErrClosed
		}
		q.changed()
		q.qmu.Unlock()
		close(q.qexit)
	}()
	for {
		q.qmu.Lock()
		for len(q.qbuf) == 0 {
			q.qidle = true
			q.qmu.Unlock()
			select {
			case <-q.qwake:
			case <-c.closing:
				return
			}
			q.qmu.Lock()
		}
		buf, count := q.qbuf, q.qcount
		q.qbuf, q.qspare, q.qcount = q.qspare[:0], nil, 0
		q.qinfly = len(buf)
		q.qmu.Unlock()

		_, err := c.sendBatch(context.Background(), buf, count)

		q.qmu.Lock()
		q.qinfly = 0
		q.qdone += uint64(count)
		if cap(buf) <= 4*q.limit {
			q.qspare = buf[:0]
		}
		if err != nil {
			// What is still queued will not be written: count it done, so
			// that Flush returns err.
			select {
			case <-c.closing:
				err = ErrClosed // a write cut short by Close
			default:
			}
			q.qerr = err
			q.qdone = q.qseq
			q.qbuf, q.qcount = nil, 0
		}
		q.changed()
		q.qmu.Unlock()
		if err != nil {
			return
		}
	}
}
