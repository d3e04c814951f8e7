package ipc

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

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
	// SendQueue, when positive, lets Send and SendBytes return before
	// their message is written: each message is copied into a queue in
	// this process, and a writer goroutine writes everything queued with
	// one write(2), so a goroutine that sends many small messages in a
	// loop shares each system call, and the peer's wake-up, with the
	// messages it queued meanwhile. It is the number of queued bytes past
	// which Send blocks (until ctx is done) for the writer to catch up;
	// one message larger than that is still taken when the queue is
	// empty. It is what Node's process.send does, with a bound.
	//
	// The price is Send's promise: a message is in the kernel only once
	// Flush returns, and a write that fails after Send returned (the peer
	// went away) is reported by the next Send or Flush instead. A process
	// that exits, or a Close, before Flush may lose what is queued.
	// SendBatch, SendBytesBatch and SendHandle wait for the queue to be
	// written first, so one goroutine's messages keep their order. Zero,
	// the default, means no queue: Send returns once its message is in
	// the kernel.
	SendQueue int
}

// Conn is one end of a channel. Send, SendBatch, SendBytes, SendBytesBatch,
// SendHandle and Recv are safe for concurrent use; messages from one
// goroutine keep their order.
type Conn struct {
	// Who owns what. Every field is in one of the groups below, and only
	// the owner named there may touch it. The field order is the one the
	// code has always had (it is left alone so that the memory layout, and
	// with it the speed, stays the same); the groups are listed here instead.
	//
	// Fixed at construction. s (the socket; sock.go says how its calls
	// and its closing interleave), mode, max, budget, fr (the pointer),
	// oob (the slice; its bytes belong to the read role) and every channel
	// field are set by newConn before the reader goroutine starts and never
	// reassigned: any goroutine may read them.
	//
	// Write lock. wmu is a one-slot channel used as a mutex: a goroutine
	// holds it from c.wmu <- struct{}{} until <-c.wmu. It is a channel, not
	// a sync.Mutex, because a sender waiting for it must give up when its
	// ctx is done or the Conn closes (writeCut and writeInternal select on
	// those). The holder owns:
	//   - werr: set when an interrupted write cut a frame in two; every later
	//     holder returns it instead of writing, since the stream can no
	//     longer be framed.
	//   - wr: the write in progress (writeFrame). Its context watcher,
	//     which runs on another goroutine, only wakes the write's wait
	//     (the socket's wevt) and closes wr.fired; writeFrame waits for
	//     fired, then drains wevt, before it lets wmu go, so the watcher
	//     never outlives the holder.
	//
	// Handle gate (ModeNode only; in ModeFast gate keeps its token and
	// pending stays nil). gate is a one-slot channel holding a token while
	// no handle frame awaits Node's NODE_HANDLE_ACK. Every ModeNode send
	// takes the token before wmu (gatedWrite), so messages queue behind an
	// unacknowledged handle, as Node's do. A send without a handle puts the
	// token back when its write ends; a handle send keeps it out until the
	// handle is released (releaseHandle, below). It is a channel because
	// waiting for it honours ctx and Close, and because the token is
	// returned by a goroutine other than the one that took it. Writes made
	// by the reader itself (writeInternal: ACKs, NACKs, resends, socket
	// counts) take wmu but not gate.
	//   - pending, guarded by pmu: the handle frame in flight, whose
	//     descriptor it owns. The gate holder stores it before writing the
	//     frame (so that an ACK arriving before the write call returns finds
	//     it) and marks the outHandle queued; from then on SendHandle never
	//     closes the descriptor itself. Whoever clears pending, and only
	//     while it still points at that outHandle (releaseHandle, a
	//     compare-and-clear under pmu), closes the descriptor and puts the
	//     gate token back: so both happen once per handle, and a peer's
	//     stray ACK can neither close a descriptor twice nor block on a full
	//     gate. The clearers are the writer when its write fails, the
	//     answer to a written frame (ACK, or the NACK after the last
	//     resend), and Close after reading has ended. The outHandle's
	//     written, early and retries fields are guarded by pmu too: an
	//     answer that arrives while written is false (the write call has not
	//     returned, or the peer answered early) is only noted in early, so
	//     that the descriptor is never closed while a write may use it; the
	//     writer acts on it when its write ends, resending after a NACK
	//     itself. Otherwise ackHandle, in the read-role holder, acts on the
	//     answer and does the resends.
	//
	// Received sockets (ModeNode only). smu guards socks, sclosed and the
	// Add calls of swg. socks counts, per key, the net.Socket handles a Node
	// server shared with this process that are still open here (Node's
	// SocketListReceive), and whether the peer waits for them all to close
	// (NODE_SOCKET_NOTIFY_CLOSE). The role holder adds and answers the
	// peer's queries; the Close of a received socket, in any goroutine,
	// subtracts and, when the last one of a waited-for key closes, starts a
	// goroutine (counted in swg) that writes NODE_SOCKET_ALL_CLOSED. Close
	// sets sclosed, after which no such goroutine starts, and waits for swg.
	//
	// Read role. role is a one-slot channel holding a token; the goroutine
	// that took it is the only one that reads the socket. That is the
	// background reader (backgroundRead, endByClose) or a Recv caller that
	// found the inbox empty (recvDirect): a message for a waiting Recv is
	// then read by that goroutine itself, not handed over by another, which
	// would cost a wake-up that is dearer than the system calls of a round
	// trip. Passing the token through the channel orders one holder's
	// writes before the next holder's reads. The holder owns the state of
	// *fr, waitFirst, fds (received descriptors not yet
	// claimed by a frame), the bytes of oob, ended (endRead has run), rctx
	// (the reading Recv's context; nil for the background reader), rdone
	// and rstop (the Done channel of the context whose watcher beforeBlock
	// registered, and the function that unregisters it; the watcher only
	// calls interruptRead, which is safe at any time, even after Close, so
	// it may outlive the Recv that registered it: see beforeBlock).
	// Only the holder sends on inbox, closes it, and calls endRead.
	//
	// Handing reading over (atomics, any goroutine). want counts the Recv
	// calls in progress and seq the ones started. direct says that Recv
	// callers do the reading: a Recv call sets it, and readLoop clears it
	// once idleHandback has passed with no Recv started; while it is set
	// the background reader stands by, and after it is cleared the
	// background reader reads again, so a channel nobody reads still sees
	// disconnects, handle acknowledgements and its receive budget. bgIn is
	// set by the background reader while it holds the role and may be
	// blocked reading. The reader stores bgIn and then loads want and
	// direct; Recv stores direct and then loads bgIn. Go's atomics are
	// sequentially consistent, so at least one of them sees the other: the
	// reader backs off, or Recv interrupts its read. dlSet says that a read
	// is to be interrupted (interruptRead, from any goroutine, including a
	// context watcher, sets it and then wakes the socket's revt): the read
	// in progress, or the next one, returns os.ErrDeadlineExceeded. The
	// role holder clears it and then drains revt (clearInterrupt), and
	// skips the drain when it is not set, which spares the common read that
	// call; a wake-up that lands after the drain only makes one more read
	// return early, which every holder treats as stale. queued counts the
	// bytes of messages waiting in inbox,
	// plus 64 each: the role holder adds when it queues, Recv subtracts
	// when it takes (consumed).
	//
	// Wake-ups. noWant (the last Recv in progress returned) and drained
	// (queued fell to the budget) are one-slot channels sent to without
	// blocking: they only wake a waiter, which then checks want or queued
	// again, so a lost or extra signal is harmless. inbox carries messages
	// from the role holder to Recv; Close drains it once reading has ended.
	//
	// Ending. closing is closed once, by Close (closeOnce). shutOnce makes
	// shutdown, which any goroutine may call, run once. readDone is closed
	// once, by endRead, in the role holder, after it has set rerr and closed
	// inbox: rerr may be read by whoever has seen readDone or inbox closed,
	// and by the role holder.
	s      *sock
	mode   Mode
	max    int
	budget int64

	wmu  chan struct{}
	werr error
	gate chan struct{}

	pmu     sync.Mutex
	pending *outHandle

	smu     sync.Mutex
	socks   map[string]*sockKey
	sclosed bool
	swg     sync.WaitGroup

	inbox   chan Message
	queued  atomic.Int64
	drained chan struct{}

	role   chan struct{}
	direct atomic.Bool
	want   atomic.Int32
	noWant chan struct{}
	seq    atomic.Uint64
	bgIn   atomic.Bool
	dlSet  atomic.Bool
	fr     *frameReader
	ended  bool
	// waitFirst: the last read found the socket empty (see readSock).
	waitFirst bool
	rctx      context.Context
	rdone     <-chan struct{}
	rstop     func() bool

	fds []int
	oob []byte

	wr writeOp
	q  *sendQueue // Options.SendQueue; nil without (queue.go)

	closing   chan struct{}
	closeOnce sync.Once
	shutOnce  sync.Once
	readDone  chan struct{}
	rerr      error
}

// New makes a Conn on f, which must be one end of an AF_UNIX SOCK_STREAM
// socket. New duplicates the descriptor; the caller still owns f and should
// close it. A nil opts means the zero Options.
func New(f *os.File, opts *Options) (*Conn, error) {
	if opts == nil {
		opts = &Options{}
	}
	fd, err := dupSock(f)
	if err != nil {
		return nil, err
	}
	return newConn(fd, opts)
}

func newConn(fd int, opts *Options) (*Conn, error) {
	s, err := newSock(fd)
	if err != nil {
		return nil, err
	}
	c := &Conn{
		s:        s,
		role:     make(chan struct{}, 1),
		noWant:   make(chan struct{}, 1),
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
	c.fr = newFrameReader(c.mode, c.max, c.readWithFDs)
	c.fr.readv = c.readvWithFDs
	go c.readLoop()
	if opts.SendQueue > 0 {
		c.q = newSendQueue(opts.SendQueue)
		go c.writeLoop()
	}
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
// but not read are discarded and their handles closed, and so are messages
// in the send queue (Options.SendQueue) not yet written: Flush first to
// send them. Blocked calls return ErrClosed. Close returns ErrClosed if the Conn was already closed.
func (c *Conn) Close() error {
	err := ErrClosed
	c.closeOnce.Do(func() {
		err = nil
		c.endSockets()
		close(c.closing)
		c.s.close()
		<-c.readDone
		if c.q != nil {
			<-c.q.qexit
		}
		for m := range c.inbox {
			closeHandle(m.Handle)
		}
		c.pmu.Lock()
		if p := c.pending; p != nil {
			c.releaseHandle(p)
		} else {
			c.pmu.Unlock()
		}
		c.swg.Wait()
		<-c.s.gone
	})
	return err
}

// shutdown ends the stream in both directions without releasing the
// descriptor, so that the peer sees a disconnect and the reader stops.
func (c *Conn) shutdown() {
	c.shutOnce.Do(c.s.shutdown)
}

// File returns a close-on-exec duplicate of the channel's descriptor, so
// that the channel can be passed on: to the next image of this program
// (child.Reexec), which makes a Conn of it again with New. This Conn keeps
// reading meanwhile; bytes it has already read are not in the duplicate's
// stream. After Close it returns ErrClosed.
func (c *Conn) File() (*os.File, error) {
	if !c.s.ref() {
		return nil, ErrClosed
	}
	defer c.s.unref()
	fd, err := unix.FcntlInt(uintptr(c.s.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("ipc: duplicate the channel's descriptor: %w", os.NewSyscallError("fcntl", err))
	}
	return os.NewFile(uintptr(fd), "ipc"), nil
}
