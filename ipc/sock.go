package ipc

import (
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sock is the channel's socket, kept out of the runtime's network poller.
//
// A goroutine that waits for the socket waits in epoll_pwait(2) itself,
// on its own thread, and the kernel wakes that thread when bytes arrive or room
// frees up. Through the runtime poller the same wait costs a second
// wake-up: the thread in epoll_wait is woken, marks the goroutine ready
// and hands it to a thread that runs it. On a round trip of small
// messages that hop was a third of the time (see bench/README.md). The
// price is one OS thread per Conn whose reader is waiting, and one more
// per sender waiting for a full socket.
//
// Every send and receive passes MSG_DONTWAIT, so the descriptor's own
// O_NONBLOCK flag, which it shares with any duplicate, does not matter.
// A wait is an epoll_pwait on a set of the socket and one of two eventfds:
// revt wakes a read (Conn.interruptRead, close) and wevt a write (a send's
// context, close). An eventfd stays readable until it is drained, so a
// wake-up written before the wait starts is not lost. The sets are private
// epoll instances, not ppoll(2) arrays, so that /proc shows what a waiting
// thread waits for: internal/sockwatch must count a thread blocked in
// ppoll as possibly waiting on a listening socket, and would take every
// herd process holding one for a process accepting connections.
//
// state counts the calls using the descriptors (ref, unref) and has
// sockClosed set once close has run; the last of close and unref closes
// the three descriptors, so that a descriptor number is never reused
// while a call may still pass it to the kernel. gone is closed then.
type sock struct {
	fd    int
	revt  int
	wevt  int
	rep   int // epoll set of reads: fd (EPOLLIN) and revt
	wep   int // epoll set of writes: fd (EPOLLOUT) and wevt; -1 until a write waits
	state atomic.Uint64
	gone  chan struct{}
}

const (
	sockClosed = 1 << 62
	sockFreed  = 1 << 63
)

// newSock takes ownership of fd, a connected AF_UNIX SOCK_STREAM socket.
func newSock(fd int) (*sock, error) {
	s := &sock{fd: fd, revt: -1, wevt: -1, rep: -1, wep: -1, gone: make(chan struct{})}
	var err error
	if s.revt, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		err = os.NewSyscallError("eventfd", err)
	} else if s.wevt, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		err = os.NewSyscallError("eventfd", err)
	} else {
		s.rep, err = epollSet(fd, unix.EPOLLIN, s.revt)
	}
	if err != nil {
		s.closeFDs()
		return nil, fmt.Errorf("ipc: channel set-up: %w", err)
	}
	return s, nil
}

// epollSet makes an epoll instance watching fd for events and evt for
// EPOLLIN, level-triggered.
func epollSet(fd int, events uint32, evt int) (int, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return -1, os.NewSyscallError("epoll_create1", err)
	}
	for _, w := range [2]struct {
		fd     int
		events uint32
	}{{fd, events}, {evt, unix.EPOLLIN}} {
		ev := unix.EpollEvent{Events: w.events, Fd: int32(w.fd)}
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, w.fd, &ev); err != nil {
			unix.Close(ep)
			return -1, os.NewSyscallError("epoll_ctl", err)
		}
	}
	return ep, nil
}

// dupSock duplicates the descriptor of f, which must be one end of an
// AF_UNIX SOCK_STREAM socket, without touching f's blocking mode.
func dupSock(f *os.File) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("ipc: channel descriptor: %w", err)
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) {
		fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, fmt.Errorf("ipc: channel descriptor: %w", err)
	}
	if derr != nil {
		return -1, fmt.Errorf("ipc: channel descriptor: %w", os.NewSyscallError("fcntl", derr))
	}
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("ipc: channel descriptor %s is not a socket: %w", f.Name(), os.NewSyscallError("getsockopt", err))
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("ipc: channel descriptor %s: %w", f.Name(), os.NewSyscallError("getsockname", err))
	}
	if _, ok := sa.(*unix.SockaddrUnix); !ok || typ != unix.SOCK_STREAM {
		unix.Close(fd)
		return -1, fmt.Errorf("ipc: channel descriptor %s is a %T socket of type %d, want a unix socket of type SOCK_STREAM", f.Name(), sa, typ)
	}
	return fd, nil
}

// ref reports whether the socket is open and, if so, counts a call that
// uses its descriptors until unref.
func (s *sock) ref() bool {
	for {
		v := s.state.Load()
		if v&sockClosed != 0 {
			return false
		}
		if s.state.CompareAndSwap(v, v+1) {
			return true
		}
	}
}

// unref ends a call counted by ref, and frees the descriptors if it was
// the last one after close.
func (s *sock) unref() {
	if s.state.Add(^uint64(0)) == sockClosed {
		s.free()
	}
}

// close marks the socket closed, wakes every wait, and frees the
// descriptors once no call uses them. It does not wait for that; gone is
// closed when it has happened. Later calls fail with net.ErrClosed.
func (s *sock) close() {
	for {
		v := s.state.Load()
		if v&sockClosed != 0 {
			return
		}
		if s.state.CompareAndSwap(v, v|sockClosed) {
			if v == 0 {
				s.free()
				return
			}
			wake(s.revt)
			wake(s.wevt)
			return
		}
	}
}

func (s *sock) free() {
	if !s.state.CompareAndSwap(sockClosed, sockClosed|sockFreed) {
		return
	}
	s.closeFDs()
	close(s.gone)
}

func (s *sock) closeFDs() {
	for _, fd := range [...]int{s.fd, s.revt, s.wevt, s.rep, s.wep} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

func (s *sock) closed() bool { return s.state.Load()&sockClosed != 0 }

// shutdown shuts the socket down in both directions, if it is open.
func (s *sock) shutdown() {
	if !s.ref() {
		return
	}
	unix.Shutdown(s.fd, unix.SHUT_RDWR)
	s.unref()
}

// wake makes the eventfd readable.
func wake(evt int) {
	one := [8]byte{1}
	for {
		_, err := unix.Write(evt, one[:])
		if err != unix.EINTR {
			return
		}
	}
}

// drain makes the eventfd unreadable again.
func drain(evt int) {
	var b [8]byte
	for {
		_, err := unix.Read(evt, b[:])
		if err != unix.EINTR {
			return
		}
	}
}

// wait blocks the calling thread until the socket is readable (read) or
// writable (!read), or the direction's eventfd is readable. It returns nil
// for the socket, and for the eventfd net.ErrClosed after close, else
// errWoken. The caller holds a ref; a writer also holds Conn.wmu, which
// guards the lazy creation of the write set.
func (s *sock) wait(read bool) error {
	ep, evt := s.rep, s.revt
	if !read {
		if s.wep < 0 {
			wep, err := epollSet(s.fd, unix.EPOLLOUT, s.wevt)
			if err != nil {
				return err
			}
			s.wep = wep
		}
		ep, evt = s.wep, s.wevt
	}
	for {
		if s.closed() {
			return net.ErrClosed
		}
		var evs [2]unix.EpollEvent
		n, _, e := unix.Syscall6(unix.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(&evs[0])), 2, ^uintptr(0), 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return os.NewSyscallError("epoll_pwait", e)
		}
		sockReady := false
		for _, ev := range evs[:n] {
			if int(ev.Fd) == evt {
				if s.closed() {
					return net.ErrClosed
				}
				return errWoken
			}
			sockReady = true
		}
		if sockReady {
			return nil
		}
	}
}

// errWoken is wait's answer to a wake-up of its eventfd.
var errWoken = os.ErrDeadlineExceeded

// sendmsg is one sendmsg(2) with MSG_DONTWAIT of bufs from byte offset off
// (at most two buffers after off, else one writev-sized call per the
// standard wrapper) and oob, without allocating.
func sendmsg(fd int, bufs [][]byte, off int, oob []byte) (int, error) {
	i := 0
	for off >= len(bufs[i]) {
		off -= len(bufs[i])
		i++
	}
	rest := bufs[i:]
	if len(rest) > 2 {
		cp := make([][]byte, len(rest))
		copy(cp, rest)
		cp[0] = cp[0][off:]
		return unix.SendmsgBuffers(fd, cp, oob, nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
	}
	var iov [2]unix.Iovec
	k := 0
	for j, b := range rest {
		if j == 0 {
			b = b[off:]
		}
		if len(b) > 0 {
			iov[k].Base = &b[0]
			iov[k].SetLen(len(b))
			k++
		}
	}
	var msg unix.Msghdr
	msg.Iov = &iov[0]
	msg.SetIovlen(k)
	if len(oob) > 0 {
		msg.Control = &oob[0]
		msg.SetControllen(len(oob))
	}
	r, _, errno := unix.Syscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}
