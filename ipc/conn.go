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

// Conn is one end of a channel. Send, SendBytes, SendHandle and Recv are
// safe for concurrent use; messages from one goroutine keep their order.
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

	fds []int  // reader-owned: received descriptors not yet claimed
	oob []byte // reader-owned: control-message buffer

	closing   chan struct{}
	closeOnce sync.Once
	shutOnce  sync.Once
	readDone  chan struct{}
	rerr      error // why reading ended; set before readDone is closed
}

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
	return newConn(uc, opts), nil
}

func newConn(uc *net.UnixConn, opts *Options) *Conn {
	c := &Conn{
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
	go c.readLoop()
	return c
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
		if !ok {
			return Message{}, c.rerr
		}
		c.consumed(len(m.Data))
		return m, nil
	default:
	}
	select {
	case m, ok := <-c.inbox:
		if !ok {
			return Message{}, c.rerr
		}
		c.consumed(len(m.Data))
		return m, nil
	case <-ctx.Done():
		return Message{}, ctx.Err()
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
	bp := bufPool.Get().(*bytes.Buffer)
	defer putBuf(bp)
	bp.Reset()
	if c.mode == ModeFast {
		bp.Write(zeroHeader[:])
	}
	enc := json.NewEncoder(bp)
	if err := enc.Encode(v); err != nil {
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
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.mode == ModeNode {
		select {
		case <-c.gate:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.closing:
			return ErrClosed
		case <-c.readDone:
			return c.sendErrAfterRead()
		}
		if h != nil {
			c.pmu.Lock()
			c.pending = h
			c.pmu.Unlock()
		}
		err := c.write(ctx, bufs, h)
		if h == nil || err != nil {
			if h != nil {
				c.pmu.Lock()
				c.pending = nil
				c.pmu.Unlock()
			}
			c.gate <- struct{}{}
		}
		return err
	}
	return c.write(ctx, bufs, h)
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

// write writes the buffers as one frame, with h's descriptor attached to
// the first byte.
func (c *Conn) write(ctx context.Context, bufs [][]byte, h *outHandle) error {
	select {
	case c.wmu <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.closing:
		return ErrClosed
	}
	defer func() { <-c.wmu }()
	if c.werr != nil {
		return c.werr
	}
	var stop func() bool
	var fired chan struct{}
	if ctx.Done() != nil {
		fired = make(chan struct{})
		stop = context.AfterFunc(ctx, func() {
			c.uc.SetWriteDeadline(aLongTimeAgo)
			close(fired)
		})
	}
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	n, err := c.writeBufs(bufs, h)
	if stop != nil && !stop() {
		<-fired
		c.uc.SetWriteDeadline(time.Time{})
		if err != nil {
			err = ctx.Err()
		}
	}
	if err == nil {
		return nil
	}
	if n > 0 && n < total {
		c.werr = fmt.Errorf("ipc: channel broken by an interrupted send: %w", err)
		c.shutdown()
		return c.werr
	}
	return c.writeErr(err)
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

func (c *Conn) writeBufs(bufs [][]byte, h *outHandle) (int, error) {
	if h != nil {
		b := bufs[0]
		n, _, err := c.uc.WriteMsgUnix(b, unix.UnixRights(h.fd), nil)
		if err != nil || n == len(b) {
			return n, err
		}
		m, err := c.uc.Write(b[n:])
		return n + m, err
	}
	if len(bufs) == 1 {
		return c.uc.Write(bufs[0])
	}
	nb := net.Buffers(bufs)
	n, err := nb.WriteTo(c.uc)
	return int(n), err
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
	if fd >= 0 {
		c.writeBufs([][]byte{line}, &outHandle{fd: fd})
		return
	}
	c.uc.Write(line)
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func putBuf(b *bytes.Buffer) {
	if b.Cap() <= 64<<10 {
		bufPool.Put(b)
	}
}

// readLoop is the only reader of the socket. It turns frames into
// messages, answers Node's internal messages, and ends the channel on EOF,
// Close or bad input.
func (c *Conn) readLoop() {
	fr := newFrameReader(c.mode, c.max, c.readWithFDs)
	var err error
	for {
		var f frame
		f, err = fr.next()
		if err != nil {
			break
		}
		var m Message
		var deliver bool
		m, deliver, err = c.process(f)
		if err != nil {
			break
		}
		if !deliver {
			continue
		}
		select {
		case c.inbox <- m:
		case <-c.closing:
			closeHandle(m.Handle)
			err = ErrClosed
		}
		if err != nil {
			break
		}
		if c.queued.Add(int64(len(m.Data)+64)) > c.budget {
			err = c.waitDrained()
			if err != nil {
				break
			}
		}
	}
	c.endRead(err)
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

func (c *Conn) endRead(err error) {
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
// them.
func (c *Conn) readWithFDs(p []byte) (int, error) {
	n, oobn, _, _, err := c.uc.ReadMsgUnix(p, c.oob)
	if oobn > 0 {
		if ferr := c.takeFDs(c.oob[:oobn]); ferr != nil {
			return n, ferr
		}
	}
	return n, err
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
