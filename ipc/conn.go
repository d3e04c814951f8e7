package ipc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	// DefaultMaxMessageSize is the size limit of one encoded message when
	// Options.MaxMessageSize is zero.
	DefaultMaxMessageSize = 16 << 20
	// DefaultRecvBuffer is the number of received bytes that may wait for
	// Recv when Options.RecvBuffer is zero.
	DefaultRecvBuffer = 4 << 20
	// maxQueuedFDs bounds descriptors received but not yet claimed by a frame.
	maxQueuedFDs = 64
	// maxHandleRetries is how often a handle NACKed by a Node peer is resent,
	// as Node does.
	maxHandleRetries = 3
)

// Options configures a Conn. The zero value is a good default.
type Options struct {
	// Mode is the framing: ModeNode (zero) or ModeFast. FromEnv ignores it
	// and uses the mode the parent chose.
	Mode Mode
	// MaxMessageSize caps one encoded message in bytes, in both directions.
	// Zero means DefaultMaxMessageSize (16 MiB).
	MaxMessageSize int
	// RecvBuffer caps the bytes of received messages that wait for Recv.
	// Past it the channel stops reading, so the peer's sends block: this is
	// the backpressure. One message larger than RecvBuffer is still taken.
	// Zero means DefaultRecvBuffer (4 MiB).
	RecvBuffer int
}

// Conn is one end of a channel. Send, SendBatch, SendBytes, SendBytesBatch,
// SendHandle and Recv are safe for concurrent use; messages from one
// goroutine keep their order.
type Conn struct {
	uc     *net.UnixConn
	mode   Mode
	max    int
	budget int64

	wmu  chan struct{} // held while one frame's bytes are written
	werr error         // set under wmu when a partial write broke the stream
	gate chan struct{} // node mode: holds a token while no handle awaits an ACK

	pmu     sync.Mutex
	pending *outHandle // node mode: handle frame awaiting NODE_HANDLE_ACK

	inbox   chan Message
	queued  atomic.Int64
	drained chan struct{}

	// Reading. One goroutine at a time holds the read role (takes the
	// token from role) and may use the fields marked role-owned: the
	// background reader (readLoop), or a Recv caller that found nothing
	// queued and reads the socket itself, so that a message for a waiting
	// Recv is not handed from one goroutine to another (a wake-up that
	// costs more than the system calls of a round trip). While Recv calls
	// keep coming (direct is set) the background reader stands by; after
	// idleHandback without a Recv it reads again, queueing into inbox,
	// so a channel nobody reads still sees disconnects, handle
	// acknowledgements and its receive budget.
	role   chan struct{}
	rc     syscall.RawConn
	direct atomic.Bool  // Recv callers do the reading; the background reader stands by
	want   atomic.Int32 // Recv calls in progress
	// noWant is signalled when the last Recv call in progress returns, so
	// that the background reader waits for that instead of polling.
	noWant chan struct{}
	seq    atomic.Uint64   // Recv calls started
	bgIn   atomic.Bool     // the background reader holds the role and may be blocked reading
	dlSet  atomic.Bool     // a read deadline in the past was set to interrupt a read
	fr     *frameReader    // role-owned
	ended  bool            // role-owned: endRead has run
	rctx   context.Context // role-owned: the reading Recv's context; nil for the background reader
	rstop  func() bool     // role-owned: unregisters the watcher of rctx, if one was registered
	rfired chan struct{}   // role-owned: closed when that watcher has run

	rd     readOp             // role-owned: the read in progress
	readFn func(uintptr) bool // c.readReady, made once

	fds []int  // role-owned: received descriptors not yet claimed
	oob []byte // role-owned: control-message buffer

	wr      writeOp            // wmu-owned: the write in progress
	writeFn func(uintptr) bool // c.writeReady, made once

	closing   chan struct{}
	closeOnce sync.Once
	shutOnce  sync.Once
	readDone  chan struct{}
	rerr      error // why reading ended; set before readDone is closed
}

// idleHandback is how long the background reader stands by after the last
// Recv call before it reads the socket again.
const idleHandback = 50 * time.Millisecond

// outHandle is a node-mode handle frame kept until the peer acknowledges it.
type outHandle struct {
	fd      int
	line    []byte
	retries int
}

// New makes a Conn on f, which must be one end of an AF_UNIX SOCK_STREAM
// socket. New duplicates the descriptor; the caller still owns f and should
// close it. A nil opts means the zero Options.
func New(f *os.File, opts *Options) (*Conn, error) {
	if opts == nil {
		opts = &Options{}
	}
	nc, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("ipc: channel descriptor: %w", err)
	}
	uc, ok := nc.(*net.UnixConn)
	if !ok {
		nc.Close()
		return nil, fmt.Errorf("ipc: channel descriptor is a %T, want a unix socket", nc)
	}
	return newConn(uc, opts)
}

func newConn(uc *net.UnixConn, opts *Options) (*Conn, error) {
	rc, err := uc.SyscallConn()
	if err != nil {
		uc.Close()
		return nil, fmt.Errorf("ipc: channel descriptor: %w", err)
	}
	c := &Conn{
		rc:       rc,
		role:     make(chan struct{}, 1),
		noWant:   make(chan struct{}, 1),
		uc:       uc,
		mode:     opts.Mode,
		max:      opts.MaxMessageSize,
		budget:   int64(opts.RecvBuffer),
		wmu:      make(chan struct{}, 1),
		gate:     make(chan struct{}, 1),
		inbox:    make(chan Message, 256),
		drained:  make(chan struct{}, 1),
		oob:      make([]byte, unix.CmsgSpace(maxQueuedFDs*4)),
		closing:  make(chan struct{}),
		readDone: make(chan struct{}),
	}
	if c.max <= 0 {
		c.max = DefaultMaxMessageSize
	}
	if c.budget <= 0 {
		c.budget = DefaultRecvBuffer
	}
	c.gate <- struct{}{}
	c.role <- struct{}{}
	c.readFn, c.writeFn = c.readReady, c.writeReady
	c.fr = newFrameReader(c.mode, c.max, c.readWithFDs)
	go c.readLoop()
	return c, nil
}

// Pair makes a socketpair and returns a Conn on one end and the other end
// as a file to hand to a child, for example through exec.Cmd.ExtraFiles.
// The caller must close the file once the child has started.
func Pair(opts *Options) (*Conn, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("ipc: socketpair: %w", err)
	}
	local := os.NewFile(uintptr(fds[0]), "ipc-local")
	remote := os.NewFile(uintptr(fds[1]), "ipc-remote")
	c, err := New(local, opts)
	local.Close()
	if err != nil {
		remote.Close()
		return nil, nil, err
	}
	return c, remote, nil
}

// Mode returns the framing this Conn speaks.
func (c *Conn) Mode() Mode { return c.mode }

// MaxMessageSize returns the size limit in effect.
func (c *Conn) MaxMessageSize() int { return c.max }

// Done returns a channel that is closed when the channel stops receiving:
// the peer disconnected, its process died, the peer broke the protocol, or
// Close was called. Err then says which.
func (c *Conn) Done() <-chan struct{} { return c.readDone }

// Err returns nil while the channel is receiving, and afterwards why it
// stopped: ErrDisconnected, ErrClosed, or a *ProtocolError.
func (c *Conn) Err() error {
	select {
	case <-c.readDone:
		return c.rerr
	default:
		return nil
	}
}

// Close closes the channel. The peer sees a disconnect. Messages received
// but not read are discarded and their handles closed. Blocked calls return
// ErrClosed. Close returns ErrClosed if the Conn was already closed.
func (c *Conn) Close() error {
	err := ErrClosed
	c.closeOnce.Do(func() {
		err = nil
		close(c.closing)
		c.uc.Close()
		<-c.readDone
		for m := range c.inbox {
			closeHandle(m.Handle)
		}
		c.pmu.Lock()
		if c.pending != nil {
			unix.Close(c.pending.fd)
			c.pending = nil
		}
		c.pmu.Unlock()
	})
	return err
}

// shutdown ends the stream in both directions without releasing the
// descriptor, so that the peer sees a disconnect and the reader stops.
func (c *Conn) shutdown() {
	c.shutOnce.Do(func() {
		c.uc.CloseWrite()
		c.uc.CloseRead()
	})
}

// Recv returns the next message from the peer. It blocks until one arrives,
// ctx is done, or the channel ends; then it returns Err's value
// (ErrDisconnected, ErrClosed or a *ProtocolError) once every message
// received before the end has been returned.
func (c *Conn) Recv(ctx context.Context) (Message, error) {
	select {
	case m, ok := <-c.inbox:
		return c.took(m, ok)
	default:
	}
	c.want.Add(1)
	c.seq.Add(1)
	defer func() {
		if c.want.Add(-1) == 0 {
			select {
			case c.noWant <- struct{}{}:
			default:
			}
		}
	}()
	if !c.direct.Load() {
		// Take reading over from the background reader; if it is blocked
		// in a read, make that read return. (It checks want after setting
		// bgIn, so one of the two sides sees the other.)
		c.direct.Store(true)
		if c.bgIn.Load() {
			c.interruptRead()
		}
	}
	select {
	case m, ok := <-c.inbox:
		return c.took(m, ok)
	case <-c.role:
	case <-ctx.Done():
		return Message{}, ctx.Err()
	}
	defer func() { c.role <- struct{}{} }()
	// Messages queued before this call took the role come first.
	select {
	case m, ok := <-c.inbox:
		return c.took(m, ok)
	default:
	}
	return c.recvDirect(ctx)
}

// took returns a message taken from the inbox; ok false means the inbox
// was closed: the channel ended and every queued message was returned.
func (c *Conn) took(m Message, ok bool) (Message, error) {
	if !ok {
		return Message{}, c.rerr
	}
	c.consumed(len(m.Data))
	return m, nil
}

// recvDirect reads frames from the socket until one is for the caller. The
// caller holds the read role and has found the inbox empty.
func (c *Conn) recvDirect(ctx context.Context) (Message, error) {
	if c.ended {
		return Message{}, c.rerr
	}
	c.resetDeadline()
	c.rctx = ctx
	defer func() {
		c.rctx = nil
		if c.rstop != nil {
			if !c.rstop() {
				<-c.rfired // the watcher ran: it set a deadline
			}
			c.rstop, c.rfired = nil, nil
			c.dlSet.Store(false)
			c.uc.SetReadDeadline(time.Time{})
		}
	}()
	for {
		f, err := c.fr.next()
		if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
			if err := ctx.Err(); err != nil {
				return Message{}, err
			}
			// An interrupt meant for the background reader: read on.
			c.dlSet.Store(false)
			c.uc.SetReadDeadline(time.Time{})
			continue
		}
		var m Message
		var deliver bool
		if err == nil {
			m, deliver, err = c.process(f)
		}
		if err != nil {
			c.endRead(err)
			return Message{}, c.rerr
		}
		if deliver {
			return m, nil
		}
	}
}

// beforeBlock is called by readWithFDs when the socket has no data and the
// read is about to wait: a reading Recv then arranges for its context to
// interrupt the wait. Registering only here keeps the common case, data
// already there, free of that cost.
func (c *Conn) beforeBlock() {
	ctx := c.rctx
	if ctx == nil || c.rstop != nil || ctx.Done() == nil {
		return
	}
	fired := make(chan struct{})
	c.rfired = fired
	c.rstop = context.AfterFunc(ctx, func() {
		c.interruptRead()
		close(fired)
	})
}

// interruptRead makes a read blocked on the socket, or the next one,
// return os.ErrDeadlineExceeded.
func (c *Conn) interruptRead() {
	c.dlSet.Store(true)
	c.uc.SetReadDeadline(aLongTimeAgo)
}

// resetDeadline undoes an interruptRead meant for an earlier holder of
// the read role.
func (c *Conn) resetDeadline() {
	if c.dlSet.Swap(false) {
		c.uc.SetReadDeadline(time.Time{})
	}
}

func (c *Conn) consumed(n int) {
	if c.queued.Add(-int64(n+64)) <= c.budget {
		select {
		case c.drained <- struct{}{}:
		default:
		}
	}
}

// Send sends v encoded with encoding/json. To a Node peer it arrives as the
// value of JSON.parse; v must not be an object whose "cmd" starts with
// "NODE_", which Node reserves. Send blocks while the peer is not reading,
// until ctx is done. If ctx ends midway through a message, the stream can
// no longer be framed: the channel is shut down and later sends fail.
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
	return c.send(ctx, [][]byte{b}, nil)
}

// SendBytes sends b as a byte payload. Over ModeFast it travels raw and
// arrives as a KindBytes message. To a Node peer it is sent the way Node
// sends a Buffer, {"type":"Buffer","data":[...]}, and Message.Bytes
// decodes it on a herd receiver.
func (c *Conn) SendBytes(ctx context.Context, b []byte) error {
	if c.mode == ModeFast {
		if len(b) > c.max {
			return &SizeError{Size: len(b), Limit: c.max}
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
	return c.send(ctx, [][]byte{append(line, '\n')}, nil)
}

// SendHandle sends v, encoded as Send does, together with a duplicate of
// the file descriptor held by h: an *os.File, a net.Listener, a net.Conn or
// a net.PacketConn. The caller keeps h and may close it once SendHandle
// returns. The receiver gets the same Go type. A Node peer receives a
// net.Server, a net.Socket or a raw dgram handle with its 'message' event;
// Node cannot take other kinds of descriptor, so for a Node peer h must be
// a socket.
func (c *Conn) SendHandle(ctx context.Context, v any, h any) error {
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
	nodeType, err := nodeHandleType(fd, htype)
	if err != nil {
		unix.Close(fd)
		return err
	}
	frame = fmt.Appendf(nil, `{"cmd":"NODE_HANDLE","type":%q,"msg":%s}`+"\n", nodeType, msg)
	if len(frame)-1 > c.max {
		unix.Close(fd)
		return &SizeError{Size: len(frame) - 1, Limit: c.max}
	}
	oh := &outHandle{fd: fd, line: frame}
	if err := c.send(ctx, [][]byte{frame}, oh); err != nil {
		unix.Close(fd)
		return err
	}
	return nil
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
		select {
		case <-c.gate:
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-c.closing:
			return 0, ErrClosed
		case <-c.readDone:
			return 0, c.sendErrAfterRead()
		}
		if h != nil {
			c.pmu.Lock()
			c.pending = h
			c.pmu.Unlock()
		}
		n, err := c.writeCut(ctx, bufs, h, clean)
		if h == nil || err != nil {
			if h != nil {
				c.pmu.Lock()
				c.pending = nil
				c.pmu.Unlock()
			}
			c.gate <- struct{}{}
		}
		return n, err
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

var aLongTimeAgo = time.Unix(1, 0)

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
// caller holds wmu. Only when the socket is full does it wait, in the
// runtime poller, and only then does it arrange for ctx to interrupt the
// wait: a write that goes through at once costs one system call and no
// context bookkeeping. An interrupted wait returns ctx's error.
func (c *Conn) writeFrame(ctx context.Context, bufs [][]byte, fd int) (int, int, error) {
	w := &c.wr
	w.ctx, w.bufs, w.fd = ctx, append(w.arr[:0], bufs...), fd
	w.written, w.total, w.err = 0, 0, nil
	for _, b := range bufs {
		w.total += len(b)
	}
	err := c.rc.Write(c.writeFn)
	if w.stop != nil && !w.stop() {
		<-w.fired
		c.uc.SetWriteDeadline(time.Time{})
		if err != nil {
			err = ctx.Err()
		}
	}
	if err == nil {
		err = w.err
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
	err     error
	stop    func() bool   // unregisters the context watcher, once registered
	fired   chan struct{} // closed when the watcher has run
}

// writeReady is the RawConn.Write callback of writeFrame: it writes until
// done, an error, or a full socket (then it returns false to wait).
func (c *Conn) writeReady(s uintptr) bool {
	w := &c.wr
	for w.written < w.total {
		n, e := writeSome(int(s), w.bufs, w.written, w.fd)
		if e == unix.EINTR {
			continue
		}
		if e == unix.EAGAIN {
			if w.stop == nil && w.ctx.Done() != nil {
				fired := make(chan struct{})
				w.fired = fired
				w.stop = context.AfterFunc(w.ctx, func() {
					c.uc.SetWriteDeadline(aLongTimeAgo)
					close(fired)
				})
			}
			return false
		}
		if e != nil {
			w.err = os.NewSyscallError("write", e)
			return true
		}
		w.written += n
	}
	return true
}

// writeSome makes one write system call for bufs from byte offset off:
// sendmsg with fd as SCM_RIGHTS for the first byte of a handle frame,
// write for the rest of one buffer, writev across several.
func writeSome(s int, bufs [][]byte, off, fd int) (int, error) {
	if off == 0 && fd >= 0 {
		return unix.SendmsgN(s, bufs[0], unix.UnixRights(fd), nil, 0)
	}
	i := 0
	for off >= len(bufs[i]) {
		off -= len(bufs[i])
		i++
	}
	if i == len(bufs)-1 {
		return unix.Write(s, bufs[i][off:])
	}
	rest := make([][]byte, 0, len(bufs)-i)
	rest = append(rest, bufs[i][off:])
	rest = append(rest, bufs[i+1:]...)
	return unix.Writev(s, rest)
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

// readLoop is the background reader. While no Recv call reads for itself it
// reads frames, answers Node's internal messages and queues the others in
// inbox, up to the receive budget; it ends the channel on EOF, Close or bad
// input. While Recv calls read, it stands by.
func (c *Conn) readLoop() {
	idle := time.NewTimer(idleHandback)
	idle.Stop()
	defer idle.Stop()
	for {
		if c.want.Load() > 0 {
			// A Recv call reads: sleep until none is left.
			select {
			case <-c.noWant:
			case <-c.closing:
				c.endByClose()
				return
			case <-c.readDone:
				return
			}
			continue
		}
		if c.direct.Load() {
			// Recv calls have been reading: stand by for idleHandback
			// more, and take over if none has started meanwhile.
			seq := c.seq.Load()
			idle.Reset(idleHandback)
			select {
			case <-idle.C:
			case <-c.closing:
				c.endByClose()
				return
			case <-c.readDone:
				return
			}
			if c.seq.Load() != seq || c.want.Load() > 0 {
				continue
			}
			c.direct.Store(false)
			continue
		}
		if !c.backgroundRead() {
			return
		}
	}
}

// backgroundRead reads and handles one frame in the background reader, and
// reports whether the channel is still open.
func (c *Conn) backgroundRead() bool {
	select {
	case <-c.role:
	case <-c.closing:
		c.endByClose()
		return false
	case <-c.readDone:
		return false
	}
	defer func() { c.role <- struct{}{} }()
	if c.ended {
		return false
	}
	// Clear a stale interrupt first, then announce the read, then look for
	// Recv callers: one that comes later sees bgIn and interrupts.
	c.resetDeadline()
	c.bgIn.Store(true)
	if c.want.Load() > 0 || c.direct.Load() {
		c.bgIn.Store(false)
		return true
	}
	f, err := c.fr.next()
	c.bgIn.Store(false)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		// Interrupted for a Recv caller (or stale): give up the role.
		c.dlSet.Store(false)
		c.uc.SetReadDeadline(time.Time{})
		return true
	}
	var m Message
	var deliver bool
	if err == nil {
		m, deliver, err = c.process(f)
	}
	if err == nil && deliver {
		select {
		case c.inbox <- m:
			if c.queued.Add(int64(len(m.Data)+64)) > c.budget {
				err = c.waitDrained()
			}
		case <-c.closing:
			closeHandle(m.Handle)
			err = ErrClosed
		}
	}
	if err != nil {
		c.endRead(err)
		return false
	}
	return true
}

// endByClose ends reading after Close, unless a reader already did.
func (c *Conn) endByClose() {
	select {
	case <-c.role:
	case <-c.readDone:
		return
	}
	if !c.ended {
		c.endRead(ErrClosed)
	}
	c.role <- struct{}{}
}

func (c *Conn) waitDrained() error {
	for c.queued.Load() > c.budget {
		select {
		case <-c.drained:
		case <-c.closing:
			return ErrClosed
		}
	}
	return nil
}

// endRead ends the channel's reading side for err. The caller holds the
// read role.
func (c *Conn) endRead(err error) {
	if c.ended {
		return
	}
	c.ended = true
	var pe *ProtocolError
	select {
	case <-c.closing:
		err = ErrClosed
	default:
		switch {
		case errors.As(err, &pe):
			c.shutdown()
		case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
			err = ErrDisconnected
		case errors.Is(err, net.ErrClosed):
			err = ErrClosed
		case errors.Is(err, ErrClosed):
		default:
			err = fmt.Errorf("ipc: receive: %w", err)
			c.shutdown()
		}
	}
	for _, fd := range c.fds {
		unix.Close(fd)
	}
	c.fds = nil
	if !errors.Is(err, ErrClosed) {
		// The peer is gone or broke the protocol: nothing more can be
		// sent, so release the descriptor now rather than at Close.
		c.shutdown()
		c.uc.Close()
	}
	c.rerr = err
	close(c.inbox)
	close(c.readDone)
}

// readWithFDs reads stream bytes and queues any descriptors that came with
// them. It is the frame reader's source; the caller holds the read role.
// When the socket is empty it calls beforeBlock, then waits in the runtime
// poller; a deadline (see interruptRead) ends the wait with
// os.ErrDeadlineExceeded.
func (c *Conn) readWithFDs(p []byte) (int, error) {
	r := &c.rd
	r.p = p
	err := c.rc.Read(c.readFn)
	n, oobn, rerr := r.n, r.oobn, r.err
	*r = readOp{}
	if err != nil {
		return 0, err
	}
	if rerr != nil {
		return 0, os.NewSyscallError("recvmsg", rerr)
	}
	if oobn > 0 {
		if ferr := c.takeFDs(c.oob[:oobn]); ferr != nil {
			return n, ferr
		}
	}
	if n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, nil
}

// readOp is the state of the read in progress, kept in the Conn (the
// holder of the read role owns it) so that a read allocates nothing.
type readOp struct {
	p       []byte
	n, oobn int
	err     error
}

// readReady is the RawConn.Read callback of readWithFDs: one recvmsg, or,
// on an empty socket, beforeBlock and false to wait.
func (c *Conn) readReady(fd uintptr) bool {
	r := &c.rd
	for {
		r.n, r.oobn, r.err = recvmsg(int(fd), r.p, c.oob)
		if r.err != unix.EINTR {
			break
		}
	}
	if r.err == unix.EAGAIN {
		c.beforeBlock()
		return false
	}
	return true
}

// recvmsg is one recvmsg(2) into p and oob, without the allocations of
// the standard wrappers (which also decode the sender's address, of no use
// on a socketpair). Received descriptors are close-on-exec.
func recvmsg(fd int, p, oob []byte) (n, oobn int, err error) {
	var iov unix.Iovec
	if len(p) > 0 {
		iov.Base = &p[0]
		iov.SetLen(len(p))
	}
	var msg unix.Msghdr
	msg.Iov = &iov
	msg.Iovlen = 1
	if len(oob) > 0 {
		msg.Control = &oob[0]
		msg.SetControllen(len(oob))
	}
	r, _, errno := unix.Syscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), unix.MSG_CMSG_CLOEXEC)
	if errno != 0 {
		return 0, 0, errno
	}
	return int(r), int(msg.Controllen), nil
}

func (c *Conn) takeFDs(oob []byte) error {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		c.fds = append(c.fds, fds...)
	}
	if len(c.fds) > maxQueuedFDs {
		return &ProtocolError{Mode: c.mode, Reason: "peer sent more descriptors than frames", Err: ErrMalformed}
	}
	return nil
}

func (c *Conn) popFD() int {
	if len(c.fds) == 0 {
		return -1
	}
	fd := c.fds[0]
	c.fds = c.fds[1:]
	return fd
}

// process turns a frame into a message, or handles it internally.
func (c *Conn) process(f frame) (Message, bool, error) {
	if c.mode == ModeFast {
		m := Message{Kind: f.kind, Data: f.data}
		if f.htype != handleNone {
			fd := c.popFD()
			if fd < 0 {
				return Message{}, false, &ProtocolError{Mode: c.mode, Offset: f.offset, Reason: "frame declares a handle but no descriptor came", Err: ErrMalformed}
			}
			m.Handle = handleFromFD(fd, f.htype)
		}
		return m, true, nil
	}
	if !maybeInternal(f.data) {
		return Message{Kind: KindJSON, Data: f.data}, true, nil
	}
	var in struct {
		Cmd  any             `json:"cmd"`
		Type string          `json:"type"`
		Msg  json.RawMessage `json:"msg"`
		Key  json.RawMessage `json:"key"`
	}
	if json.Unmarshal(f.data, &in) != nil {
		return Message{Kind: KindJSON, Data: f.data}, true, nil
	}
	cmd, ok := in.Cmd.(string)
	if !ok || len(cmd) <= 5 || cmd[:5] != "NODE_" {
		return Message{Kind: KindJSON, Data: f.data}, true, nil
	}
	switch cmd {
	case "NODE_HANDLE":
		fd := c.popFD()
		if fd < 0 {
			c.writeInternal([]byte(`{"cmd":"NODE_HANDLE_NACK"}`+"\n"), -1)
			return Message{}, false, nil
		}
		c.writeInternal([]byte(`{"cmd":"NODE_HANDLE_ACK"}`+"\n"), -1)
		if isInternalMsg(in.Msg) {
			// Node gives a handle whose message is itself internal (as
			// cluster's NODE_CLUSTER ones are) to its own machinery, never
			// to 'message': do the same, and drop the descriptor.
			unix.Close(fd)
			return Message{}, false, nil
		}
		return Message{Kind: KindJSON, Data: []byte(in.Msg), Handle: handleFromFD(fd, nodeTypeToHandle(in.Type))}, true, nil
	case "NODE_HANDLE_ACK":
		c.ackHandle(true)
	case "NODE_HANDLE_NACK":
		c.ackHandle(false)
	case "NODE_SOCKET_NOTIFY_CLOSE":
		// herd does not track the sockets it received; report them closed
		// so that a Node server's close() is not held up.
		if len(in.Key) > 0 {
			c.writeInternal(fmt.Appendf(nil, `{"cmd":"NODE_SOCKET_ALL_CLOSED","key":%s}`+"\n", in.Key), -1)
		}
	case "NODE_SOCKET_GET_COUNT":
		if len(in.Key) > 0 {
			c.writeInternal(fmt.Appendf(nil, `{"cmd":"NODE_SOCKET_COUNT","key":%s,"count":0}`+"\n", in.Key), -1)
		}
	}
	return Message{}, false, nil
}

// isInternalMsg reports whether b is a Node internal message: an object
// whose "cmd" is a string longer than 5 that starts with "NODE_".
func isInternalMsg(b []byte) bool {
	if !maybeInternal(b) {
		return false
	}
	var in struct {
		Cmd any `json:"cmd"`
	}
	if json.Unmarshal(b, &in) != nil {
		return false
	}
	cmd, ok := in.Cmd.(string)
	return ok && len(cmd) > 5 && cmd[:5] == "NODE_"
}

// maybeInternal reports whether a JSON line could be a Node internal
// message, cheaply, so that ordinary messages skip a second parse.
func maybeInternal(b []byte) bool {
	return len(b) > 0 && b[0] == '{' && (bytes.Contains(b, []byte("NODE_")) || bytes.Contains(b, []byte(`\u`)))
}

// ackHandle handles NODE_HANDLE_ACK (ok) or NODE_HANDLE_NACK from a Node peer.
func (c *Conn) ackHandle(ok bool) {
	c.pmu.Lock()
	p := c.pending
	if p == nil {
		c.pmu.Unlock()
		return
	}
	if !ok && p.retries < maxHandleRetries {
		p.retries++
		c.pmu.Unlock()
		c.writeInternal(p.line, p.fd)
		return
	}
	c.pending = nil
	c.pmu.Unlock()
	unix.Close(p.fd)
	c.gate <- struct{}{}
}
