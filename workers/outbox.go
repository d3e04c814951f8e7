package workers

import (
	"context"
	"runtime"
	"sync"

	"github.com/herdrun/herd/ipc"
)

// frameLimit is the size past which an outbox starts a new frame.
const frameLimit = 1 << 20

// outbox batches records onto an ipc channel. Whoever adds a record while
// no write is in progress becomes the writer and keeps writing until the
// outbox is empty; records added meanwhile ride along in the next write. So
// under load many records share one frame and one system call, and when
// idle a record goes out at once.
type outbox struct {
	conn *ipc.Conn
	ctx  context.Context

	mu      sync.Mutex
	cond    sync.Cond
	frames  [][]byte // pending frames; the last one is being filled
	spare   [][]byte
	writing bool
	added   uint64 // records added
	written uint64 // records written (or dropped after an error)
	err     error
}

func newOutbox(ctx context.Context, conn *ipc.Conn) *outbox {
	o := &outbox{conn: conn, ctx: ctx}
	o.cond.L = &o.mu
	return o
}

// buf returns the frame to append a record of about n bytes to. Call with
// o.mu held.
func (o *outbox) buf(n int) *[]byte {
	if k := len(o.frames); k > 0 && len(o.frames[k-1])+n <= frameLimit {
		return &o.frames[k-1]
	}
	var b []byte
	if k := len(o.spare); k > 0 {
		b = o.spare[k-1][:0]
		o.spare = o.spare[:k-1]
	}
	o.frames = append(o.frames, b)
	return &o.frames[len(o.frames)-1]
}

// begin locks the outbox and returns the frame to append one record of
// about n bytes to, or nil (unlocked) if the channel already failed. Call
// commit after appending.
func (o *outbox) begin(n int) *[]byte {
	o.mu.Lock()
	if o.err != nil {
		o.mu.Unlock()
		return nil
	}
	return o.buf(n)
}

// commit counts the record appended after begin, writes if no one else is,
// and returns the record's ticket for wait.
func (o *outbox) commit() uint64 {
	o.added++
	ticket := o.added
	o.flushLocked()
	return ticket
}

// batch is like commit for records appended while the caller holds the lock
// from begin, without writing: the caller calls commit for the last one.
func (o *outbox) batch() { o.added++ }

// flushLocked writes pending frames unless another goroutine is writing.
// It is called with o.mu held and releases it.
func (o *outbox) flushLocked() {
	if o.writing {
		o.mu.Unlock()
		return
	}
	o.writing = true
	// Let goroutines that are about to add records (other tasks finishing,
	// a producer submitting) run first, so that they share this write.
	o.mu.Unlock()
	runtime.Gosched()
	o.mu.Lock()
	for len(o.frames) > 0 && o.err == nil {
		frames := o.frames
		upto := o.added
		o.frames = nil
		o.mu.Unlock()
		var err error
		for _, f := range frames {
			if err == nil {
				err = o.conn.SendBytes(o.ctx, f)
			}
		}
		o.mu.Lock()
		for _, f := range frames {
			if cap(f) <= frameLimit && len(o.spare) < 4 {
				o.spare = append(o.spare, f)
			}
		}
		if err != nil {
			o.err = err
			o.frames = nil
		}
		o.written = upto
		o.cond.Broadcast()
	}
	if o.err != nil {
		o.written = o.added
		o.cond.Broadcast()
	}
	o.writing = false
	o.mu.Unlock()
}

// wait blocks until the record with ticket has been written (or the
// channel failed) and returns the write error, if any.
func (o *outbox) wait(ticket uint64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for o.written < ticket && o.err == nil {
		o.cond.Wait()
	}
	return o.err
}
