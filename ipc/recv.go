package ipc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Recv returns the next message from the peer. It blocks until one arrives,
// ctx is done, or the channel ends; then it returns Err's value
// (ErrDisconnected, ErrClosed or a *ProtocolError) once every message
// received before the end has been returned.
func (c *Conn) Recv(ctx context.Context) (Message, error) {
	return c.recv(ctx, false)
}

// RecvView is Recv for a caller that is done with each message before it
// asks for the next: the returned Message's Data may be a view of the
// Conn's receive buffers instead of a slice of its own, and is valid only
// until the next Recv or RecvView call on c begins. Decode, Bytes, or a
// copy, before that call, keep what is needed; with several goroutines
// receiving from one Conn, use Recv. A Handle is owned by the receiver as
// with Recv.
//
// A loop that decodes every message, or checks each payload and drops
// it, then allocates nothing per message for the bytes it receives: Recv
// makes each message's Data anew, and a stream of large payloads is then
// a stream of garbage. The buffer lent for payloads of up to 1 MiB is kept
// for the next call, and grows to the largest such payload received; a
// larger payload has a slice of its own.
func (c *Conn) RecvView(ctx context.Context) (Message, error) {
	return c.recv(ctx, true)
}

// recv is Recv, or RecvView when view is set.
func (c *Conn) recv(ctx context.Context, view bool) (Message, error) {
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
	case <-c.role:
		// The common case of a Recv loop: the role is free. Taking it
		// without the select below spares locking three channels.
	default:
		select {
		case m, ok := <-c.inbox:
			return c.took(m, ok)
		case <-c.role:
		case <-ctx.Done():
			return Message{}, ctx.Err()
		}
	}
	defer func() { c.role <- struct{}{} }()
	// Messages queued before this call took the role come first.
	select {
	case m, ok := <-c.inbox:
		return c.took(m, ok)
	default:
	}
	return c.recvDirect(ctx, view)
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

// recvDirect reads frames from the socket until one is for the caller,
// lending it the reader's buffers if view is set (RecvView). The caller
// holds the read role and has found the inbox empty.
func (c *Conn) recvDirect(ctx context.Context, view bool) (Message, error) {
	if c.ended {
		return Message{}, c.rerr
	}
	c.resetDeadline()
	c.rctx = ctx
	c.fr.lend = view
	defer func() { c.rctx, c.fr.lend = nil, false }()
	for {
		f, err := c.fr.next()
		if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
			if err := ctx.Err(); err != nil {
				return Message{}, err
			}
			// An interrupt meant for the background reader: read on.
			c.clearInterrupt()
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
//
// The watcher stays registered after the Recv returns: the next Recv with
// a context of the same Done channel, as in a loop over one context,
// reuses it instead of registering its own. A watcher that fires when no
// read of its context is in progress only makes a read return early,
// which every holder of the read role treats as stale. endRead stops it.
func (c *Conn) beforeBlock() {
	ctx := c.rctx
	if ctx == nil {
		return
	}
	done := ctx.Done()
	if done == nil {
		return
	}
	if done == c.rdone {
		if ctx.Err() != nil {
			// Its watcher fired before this read began.
			c.interruptRead()
		}
		return
	}
	if c.rstop != nil {
		c.rstop()
	}
	c.rdone = done
	c.rstop = context.AfterFunc(ctx, c.interruptRead)
}

// stopWatch unregisters the context watcher of beforeBlock. The caller
// holds the read role.
func (c *Conn) stopWatch() {
	if c.rstop != nil {
		c.rstop()
		c.rstop, c.rdone = nil, nil
	}
}

// interruptRead makes a read blocked on the socket, or the next one,
// return os.ErrDeadlineExceeded.
func (c *Conn) interruptRead() {
	c.dlSet.Store(true)
	if c.s.ref() {
		wake(c.s.revt)
		c.s.unref()
	}
}

// resetDeadline undoes an interruptRead meant for an earlier holder of
// the read role.
func (c *Conn) resetDeadline() {
	if c.dlSet.Load() {
		c.clearInterrupt()
	}
}

// clearInterrupt undoes interruptRead. The caller holds the read role.
func (c *Conn) clearInterrupt() {
	c.dlSet.Store(false)
	if c.s.ref() {
		drain(c.s.revt)
		c.s.unref()
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

// idleHandback is how long the background reader stands by after the last
// Recv call before it reads the socket again.
const idleHandback = 50 * time.Millisecond

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
	// What a RecvView caller was lent stays valid: this read is not its.
	c.fr.keepViews()
	f, err := c.fr.next()
	c.bgIn.Store(false)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		// Interrupted for a Recv caller (or stale): give up the role.
		c.clearInterrupt()
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
	c.stopWatch()
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
	c.rerr = err
	close(c.inbox)
	close(c.readDone)
	if !errors.Is(err, ErrClosed) {
		// The peer is gone or broke the protocol: nothing more can be
		// sent, so release the descriptor now rather than at Close. After
		// readDone: a send that finds the descriptor closed tells why
		// from rerr (see writeErr), which must be set by then.
		c.shutdown()
		c.s.close()
	}
}

// readWithFDs reads stream bytes and queues any descriptors that came with
// them. It is the frame reader's source; the caller holds the read role.
// When the socket is empty it calls beforeBlock, then waits in epoll_pwait(2)
// on this thread (see sock); interruptRead ends the wait, or the next read,
// with os.ErrDeadlineExceeded.
func (c *Conn) readWithFDs(p []byte) (int, error) { return c.readvWithFDs(p, nil) }

// readvWithFDs is readWithFDs into p and then q, in one recvmsg: the frame
// reader reads the rest of a big payload straight into it and what follows
// into its buffer, so that the next frame's payload is not read into the
// buffer and copied.
func (c *Conn) readvWithFDs(p, q []byte) (int, error) {
	if !c.s.ref() {
		return 0, net.ErrClosed
	}
	n, oobn, err := c.readSock(p, q)
	c.s.unref()
	if err != nil {
		return 0, err
	}
	if oobn > 0 {
		if ferr := c.takeFDs(c.oob[:oobn]); ferr != nil {
			return n, ferr
		}
	}
	if n == 0 && len(p)+len(q) > 0 {
		return 0, io.EOF
	}
	return n, nil
}

// readSock is one recvmsg that has read something, or an error; it waits
// while the socket is empty. The caller holds a ref of the socket and the
// read role.
//
// After a read that found the socket empty, the next one waits first and
// reads once the socket is readable: in a conversation of messages each
// read would otherwise begin with a recvmsg that fails with EAGAIN. A read
// that fills all of p and q means bytes are queued, and reads go back to
// trying first.
func (c *Conn) readSock(p, q []byte) (n, oobn int, err error) {
	for {
		if c.dlSet.Load() {
			return 0, 0, os.ErrDeadlineExceeded
		}
		if c.waitFirst {
			c.beforeBlock()
			if err := c.s.wait(true); err != nil {
				return 0, 0, err
			}
		}
		n, oobn, err = recvmsg(c.s.fd, p, q, c.oob)
		switch err {
		case nil:
			if n == len(p)+len(q) {
				c.waitFirst = false
			}
			return n, oobn, nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			if !c.waitFirst {
				c.waitFirst = true
				continue
			}
			// Readable, yet nothing to read: another wake-up. Wait again.
			continue
		}
		return 0, 0, os.NewSyscallError("recvmsg", err)
	}
}

// recvmsg is one recvmsg(2) with MSG_DONTWAIT into p, then q, and oob, without the
// allocations of the standard wrappers (which also decode the sender's
// address, of no use on a socketpair). Received descriptors are
// close-on-exec.
func recvmsg(fd int, p, q, oob []byte) (n, oobn int, err error) {
	var iov [2]unix.Iovec
	k := 0
	for _, b := range [2][]byte{p, q} {
		if len(b) > 0 {
			iov[k].Base = &b[0]
			iov[k].SetLen(len(b))
			k++
		}
	}
	var msg unix.Msghdr
	msg.Iov = &iov[0]
	msg.SetIovlen(max(k, 1))
	if len(oob) > 0 {
		msg.Control = &oob[0]
		msg.SetControllen(len(oob))
	}
	r, _, errno := unix.Syscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), unix.MSG_CMSG_CLOEXEC|unix.MSG_DONTWAIT)
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
	return c.processInternal(f)
}
