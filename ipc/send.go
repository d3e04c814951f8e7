package ipc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Send sends v encoded with encoding/json. To a Node peer it arrives as the
// value of JSON.parse; v must not be an object whose "cmd" starts with
// "NODE_", which Node reserves. Send blocks while the peer is not reading,
// until ctx is done. If ctx ends midway through a message, the stream can
// no longer be framed: the channel is shut down and later sends fail.
//
// Send returns once the message is in the kernel, unless the Conn has a
// send queue (Options.SendQueue): it then returns once the message is
// queued, and Flush says when it is written.
func (c *Conn) Send(ctx context.Context, v any) error {
	bp := bufPool.Get().(*encBuf)
	defer putBuf(bp)
	bp.Reset()
	if c.mode == ModeFast {
		bp.Write(zeroHeader[:])
	}
	if err := bp.enc.Encode(v); err != nil {
		return fmt.Errorf("ipc: encode message: %w", err)
	}
	b := bp.Bytes()
	if c.mode == ModeFast {
		b = b[:len(b)-1] // the encoder's newline
		if n := len(b) - fastHeaderLen; n > c.max {
			return &SizeError{Size: n, Limit: c.max}
		}
		appendFastHeader(b[:0], len(b)-fastHeaderLen, KindJSON, handleNone)
	} else if len(b)-1 > c.max {
		return &SizeError{Size: len(b) - 1, Limit: c.max}
	}
	if c.q != nil {
		return c.enqueue(ctx, nil, b)
	}
	return c.send(ctx, [][]byte{b}, nil)
}

// SendBytes sends b as a byte payload. Over ModeFast it travels raw and
// arrives as a KindBytes message. To a Node peer it is sent the way Node
// sends a Buffer, {"type":"Buffer","data":[...]}, and Message.Bytes
// decodes it on a herd receiver. With a send queue (Options.SendQueue), b
// is copied into the queue and SendBytes returns, as Send does.
func (c *Conn) SendBytes(ctx context.Context, b []byte) error {
	if c.mode == ModeFast {
		if len(b) > c.max {
			return &SizeError{Size: len(b), Limit: c.max}
		}
		if c.q != nil {
			var hdr [fastHeaderLen]byte
			return c.enqueue(ctx, appendFastHeader(hdr[:0], len(b), KindBytes, handleNone), b)
		}
		hdr := appendFastHeader(make([]byte, 0, fastHeaderLen), len(b), KindBytes, handleNone)
		if len(b) <= 4096 {
			return c.send(ctx, [][]byte{append(hdr, b...)}, nil)
		}
		return c.send(ctx, [][]byte{hdr, b}, nil)
	}
	line := appendNodeBuffer(make([]byte, 0, len(bufferPrefix)+4*len(b)+3), b)
	if len(line) > c.max {
		return &SizeError{Size: len(line), Limit: c.max}
	}
	if c.q != nil {
		return c.enqueue(ctx, nil, append(line, '\n'))
	}
	return c.send(ctx, [][]byte{append(line, '\n')}, nil)
}

// SendHandle sends v, encoded as Send does, together with a duplicate of
// the file descriptor held by h: an *os.File, a net.Listener, a net.Conn or
// a net.PacketConn. The caller keeps h and may close it once SendHandle
// returns. The receiver gets the same Go type. A Node peer receives a
// net.Server, a net.Socket or, for a UDP socket, a dgram.Socket of type
// udp4 or udp6 with its 'message' event, as from Node's own send; Node
// cannot take other kinds of descriptor, so for a Node peer h must be a
// socket.
func (c *Conn) SendHandle(ctx context.Context, v any, h any) error {
	if err := c.flushQueue(ctx); err != nil {
		return err
	}
	fd, htype, err := dupHandle(h)
	if err != nil {
		return err
	}
	msg, err := json.Marshal(v)
	if err != nil {
		unix.Close(fd)
		return fmt.Errorf("ipc: encode message: %w", err)
	}
	var frame []byte
	if c.mode == ModeFast {
		if len(msg) > c.max {
			unix.Close(fd)
			return &SizeError{Size: len(msg), Limit: c.max}
		}
		frame = appendFastHeader(make([]byte, 0, fastHeaderLen+len(msg)), len(msg), KindJSON, htype)
		frame = append(frame, msg...)
		err := c.send(ctx, [][]byte{frame}, &outHandle{fd: fd})
		unix.Close(fd)
		return err
	}
	nodeType, dgramType, err := nodeHandleType(fd, htype)
	if err != nil {
		unix.Close(fd)
		return err
	}
	// The fields in the order Node's JSON.stringify gives them.
	frame = fmt.Appendf(nil, `{"cmd":"NODE_HANDLE","type":%q,"msg":%s`, nodeType, msg)
	if dgramType != "" {
		frame = fmt.Appendf(frame, `,"dgramType":%q`, dgramType)
	}
	frame = append(frame, "}\n"...)
	if len(frame)-1 > c.max {
		unix.Close(fd)
		return &SizeError{Size: len(frame) - 1, Limit: c.max}
	}
	oh := &outHandle{fd: fd, line: frame}
	err = c.send(ctx, [][]byte{frame}, oh)
	// Once the send queued the handle (oh.queued, set and read in this
	// goroutine), its descriptor belongs to whoever clears c.pending.
	if err != nil && !oh.queued {
		unix.Close(fd)
	}
	return err
}

// send writes one frame. In node mode it first waits until no handle
// awaits an acknowledgement; a handle frame keeps the gate until the ACK.
func (c *Conn) send(ctx context.Context, bufs [][]byte, h *outHandle) error {
	_, err := c.sendCut(ctx, bufs, h, nil)
	return err
}

// sendCut is send for bufs holding one or more frames, and returns how
// many bytes went out. A write interrupted after n bytes, with 0 < n <
// total, breaks the stream unless clean(n) reports that n is a frame
// boundary (clean nil: there is none inside bufs).
func (c *Conn) sendCut(ctx context.Context, bufs [][]byte, h *outHandle, clean func(int) bool) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if c.mode == ModeNode {
		return c.gatedWrite(ctx, bufs, h, clean)
	}
	return c.writeCut(ctx, bufs, h, clean)
}

func (c *Conn) sendErrAfterRead() error {
	var pe *ProtocolError
	switch {
	case errors.Is(c.rerr, ErrClosed):
		return ErrClosed
	case errors.As(c.rerr, &pe):
		return fmt.Errorf("ipc: send on a channel that ended: %w", c.rerr)
	}
	return fmt.Errorf("ipc: send: %w", ErrDisconnected)
}

var zeroHeader [fastHeaderLen]byte

// writeCut writes the buffers, which hold whole frames, with h's
// descriptor attached to the first byte, and returns how many bytes went
// out. See sendCut for clean.
func (c *Conn) writeCut(ctx context.Context, bufs [][]byte, h *outHandle, clean func(int) bool) (int, error) {
	select {
	case c.wmu <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-c.closing:
		return 0, ErrClosed
	}
	defer func() { <-c.wmu }()
	if c.werr != nil {
		return 0, c.werr
	}
	fd := -1
	if h != nil {
		fd = h.fd
	}
	n, total, err := c.writeFrame(ctx, bufs, fd)
	if err == nil {
		return n, nil
	}
	if n > 0 && n < total && (clean == nil || !clean(n)) {
		c.werr = fmt.Errorf("ipc: channel broken by an interrupted send: %w", err)
		c.shutdown()
		return n, c.werr
	}
	return n, c.writeErr(err)
}

// writeFrame writes all of bufs, with descriptor fd (if not -1) attached
// to the first byte, and returns how many bytes went out of how many. The
// caller holds wmu. Only when the socket is full does it wait, in
// epoll_pwait(2) on this thread (see sock), and only then does it arrange for ctx to
// interrupt the wait: a write that goes through at once costs one system
// call and no context bookkeeping. An interrupted wait returns ctx's error.
func (c *Conn) writeFrame(ctx context.Context, bufs [][]byte, fd int) (int, int, error) {
	w := &c.wr
	w.ctx, w.bufs, w.fd = ctx, append(w.arr[:0], bufs...), fd
	w.written, w.total = 0, 0
	for _, b := range bufs {
		w.total += len(b)
	}
	var err error
	if c.s.ref() {
		err = c.writeSock()
		if w.stop != nil && !w.stop() {
			<-w.fired // the watcher ran: it woke wevt
			drain(c.s.wevt)
			if err != nil && !errors.Is(err, net.ErrClosed) {
				err = ctx.Err()
			}
		}
		c.s.unref()
	} else {
		err = net.ErrClosed
	}
	written, total := w.written, w.total
	*w = writeOp{arr: w.arr}
	clear(w.arr[:])
	return written, total, err
}

// writeOp is the state of the write in progress, kept in the Conn (the
// holder of wmu owns it) so that a write allocates nothing.
type writeOp struct {
	ctx     context.Context
	bufs    [][]byte
	arr     [2][]byte // backing for bufs
	fd      int
	written int
	total   int
	stop    func() bool   // unregisters the context watcher, once registered
	fired   chan struct{} // closed when the watcher has run
}

// writeSock writes until done or an error, waiting while the socket is
// full. The caller holds a ref of the socket.
func (c *Conn) writeSock() error {
	w := &c.wr
	for w.written < w.total {
		n, e := writeSome(c.s.fd, w.bufs, w.written, w.fd)
		switch e {
		case nil:
			w.written += n
			continue
		case unix.EINTR:
			continue
		case unix.EAGAIN:
		default:
			return os.NewSyscallError("write", e)
		}
		if w.stop == nil && w.ctx.Done() != nil {
			fired := make(chan struct{})
			w.fired = fired
			wevt := c.s.wevt
			w.stop = context.AfterFunc(w.ctx, func() {
				wake(wevt)
				close(fired)
			})
		}
		if err := c.s.wait(false); err != nil {
			return err
		}
	}
	return nil
}

// writeSome makes one sendmsg system call for bufs from byte offset off,
// with fd as SCM_RIGHTS for the first byte of a handle frame.
func writeSome(s int, bufs [][]byte, off, fd int) (int, error) {
	if off == 0 && fd >= 0 {
		return sendmsg(s, bufs[:1], 0, unix.UnixRights(fd))
	}
	return sendmsg(s, bufs, off, nil)
}

func (c *Conn) writeErr(err error) error {
	switch {
	case errors.Is(err, net.ErrClosed):
		select {
		case <-c.closing:
			return ErrClosed
		case <-c.readDone:
			return c.sendErrAfterRead()
		default:
			return ErrClosed
		}
	case errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNRESET):
		return fmt.Errorf("ipc: send: %w", ErrDisconnected)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	return fmt.Errorf("ipc: send: %w", err)
}

// writeInternal writes a protocol message from the reader goroutine. It
// bypasses the handle gate, as Node's acknowledgements do.
func (c *Conn) writeInternal(line []byte, fd int) {
	select {
	case c.wmu <- struct{}{}:
	case <-c.closing:
		return
	}
	defer func() { <-c.wmu }()
	if c.werr != nil {
		return
	}
	c.writeFrame(context.Background(), [][]byte{line}, fd)
}

// encBuf is a pooled encoding buffer with its JSON encoder.
type encBuf struct {
	bytes.Buffer
	enc *json.Encoder
}

var bufPool = sync.Pool{New: func() any {
	b := new(encBuf)
	b.enc = json.NewEncoder(&b.Buffer)
	return b
}}

func putBuf(b *encBuf) {
	if b.Cap() <= 64<<10 {
		bufPool.Put(b)
	}
}
