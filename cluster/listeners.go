package cluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// shared is one address the primary owns for its workers.
type shared struct {
	network, address string // as configured, for matching Worker.Listen
	name             string // LISTEN_FDNAMES entry
	addr             net.Addr

	file    *os.File     // PolicyShared: the listening socket every worker inherits
	ln      net.Listener // PolicyDispatch: the socket the primary accepts on
	reserve int          // PolicyReusePort: a bound, not listening socket holding the port; -1 if none
}

// addrSpec is what a worker learns about a listener, by position.
type addrSpec struct {
	Net  string `json:"net"`
	Addr string `json:"addr"`
	Name string `json:"name"`
	// Bound is the address actually bound (port 0 resolved).
	Bound string `json:"bound"`
}

func (s *shared) spec() addrSpec {
	return addrSpec{Net: s.network, Addr: s.address, Name: s.name, Bound: s.addr.String()}
}

// close releases the primary's copy. Workers keep theirs.
func (s *shared) close() {
	if s.file != nil {
		s.file.Close()
	}
	if s.ln != nil {
		s.ln.Close()
	}
	if s.reserve >= 0 {
		unix.Close(s.reserve)
		s.reserve = -1
	}
}

// defaultName makes a LISTEN_FDNAMES-safe name from a network and address.
func defaultName(network, address string) string {
	r := strings.NewReplacer(":", "_", "/", "_", "[", "", "]", "")
	return r.Replace(network + "-" + address)
}

// openShared opens a as the policy needs it.
func openShared(ctx context.Context, policy Policy, a Addr) (*shared, error) {
	network := a.Network
	if network == "" {
		network = "tcp"
	}
	s := &shared{network: network, address: a.Address, name: a.Name, reserve: -1}
	if s.name == "" {
		s.name = defaultName(network, a.Address)
	}
	fail := func(err error) (*shared, error) {
		return nil, &ListenError{Network: network, Address: a.Address, Err: unwrapOp(err)}
	}
	if a.File != nil {
		if policy != PolicyShared {
			return fail(fmt.Errorf("Addr.File needs PolicyShared"))
		}
		f, addr, err := adoptSocket(a.File)
		if err != nil {
			return fail(err)
		}
		s.file, s.addr = f, addr
		return s, nil
	}
	if policy == PolicyReusePort {
		if !strings.HasPrefix(network, "tcp") {
			return fail(fmt.Errorf("PolicyReusePort needs a TCP address"))
		}
		fd, addr, err := reserveTCP(network, a.Address)
		if err != nil {
			return fail(err)
		}
		s.reserve, s.addr = fd, addr
		return s, nil
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, network, a.Address)
	if err != nil {
		return fail(err)
	}
	s.addr = ln.Addr()
	if ul, ok := ln.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false)
	}
	if policy == PolicyDispatch {
		s.ln = ln
		return s, nil
	}
	f, err := socketFile(ln)
	ln.Close()
	if err != nil {
		return fail(err)
	}
	s.file = f
	return s, nil
}

// socketFile returns a duplicate of ln's descriptor as an *os.File that
// stays non-blocking when handed to a child and that this process's
// netpoller does not watch. (net.Listener.File returns one whose Fd method,
// which os.StartProcess calls, switches the descriptor to blocking mode;
// O_NONBLOCK belongs to the open file description, which every worker
// shares, so their Accept calls would block in the kernel and Close could no
// longer interrupt them. And os.NewFile adds a non-blocking descriptor to the
// netpoller: the primary, which never accepts on it, would be woken for
// every new connection, taking CPU from the workers.)
func socketFile(ln net.Listener) (*os.File, error) {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("listener %T has no descriptor", ln)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	nfd := -1
	var derr error
	if err := rc.Control(func(fd uintptr) { nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, os.NewSyscallError("fcntl", derr)
	}
	// NewFile sees a blocking descriptor, so it does not register it; the
	// flag is put back at once (nobody else holds the socket yet).
	if err := unix.SetNonblock(nfd, false); err != nil {
		unix.Close(nfd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	f := os.NewFile(uintptr(nfd), "listener "+ln.Addr().String())
	if err := unix.SetNonblock(nfd, true); err != nil {
		f.Close()
		return nil, os.NewSyscallError("fcntl", err)
	}
	return f, nil
}

// workerSocket returns the socket a new worker gets for s: the shared one,
// or for PolicyReusePort a fresh SO_REUSEPORT socket of its own, which the
// caller closes once the worker has started (owned reports that).
func (s *shared) workerSocket(ctx context.Context) (f *os.File, owned bool, err error) {
	if s.file != nil {
		return s.file, false, nil
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1) })
		if err != nil {
			return err
		}
		return serr
	}}
	ln, err := lc.Listen(ctx, s.network, s.addr.String())
	if err != nil {
		return nil, false, &ListenError{Network: s.network, Address: s.addr.String(), Err: unwrapOp(err)}
	}
	f, err = socketFile(ln)
	ln.Close()
	return f, true, err
}

// reserveTCP binds (without listening) an SO_REUSEPORT socket to address,
// which holds the port for the workers' own sockets and resolves port 0.
func reserveTCP(network, address string) (int, net.Addr, error) {
	ta, err := net.ResolveTCPAddr(network, address)
	if err != nil {
		return -1, nil, err
	}
	var (
		family = unix.AF_INET
		sa     unix.Sockaddr
	)
	if ip4 := ta.IP.To4(); ta.IP == nil || ip4 != nil {
		s4 := &unix.SockaddrInet4{Port: ta.Port}
		if ip4 != nil {
			copy(s4.Addr[:], ip4)
		}
		sa = s4
	} else {
		family = unix.AF_INET6
		s6 := &unix.SockaddrInet6{Port: ta.Port}
		copy(s6.Addr[:], ta.IP.To16())
		sa = s6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, nil, os.NewSyscallError("socket", err)
	}
	for _, opt := range []int{unix.SO_REUSEADDR, unix.SO_REUSEPORT} {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt, 1); err != nil {
			unix.Close(fd)
			return -1, nil, os.NewSyscallError("setsockopt", err)
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, nil, os.NewSyscallError("bind", err)
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return -1, nil, os.NewSyscallError("getsockname", err)
	}
	out := &net.TCPAddr{IP: ta.IP}
	switch g := got.(type) {
	case *unix.SockaddrInet4:
		out.Port = g.Port
	case *unix.SockaddrInet6:
		out.Port = g.Port
	}
	if out.IP == nil {
		out.IP = net.IPv4zero
	}
	return fd, out, nil
}

// unwrapOp strips *net.OpError's repetition of the address, keeping the
// cause ("bind: address already in use").
func unwrapOp(err error) error {
	if oe, ok := err.(*net.OpError); ok && oe.Err != nil {
		return oe.Err
	}
	return err
}

// adoptSocket returns a duplicate of the listening socket f, made as
// socketFile makes one (not watched by this process's netpoller), and its
// bound address. Workers of another primary may be accepting on it: the
// descriptor stays non-blocking but for the instant NewFile looks at it.
func adoptSocket(f *os.File) (*os.File, net.Addr, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, nil, err
	}
	nfd := -1
	var derr error
	if err := rc.Control(func(fd uintptr) { nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, nil, err
	}
	if derr != nil {
		return nil, nil, os.NewSyscallError("fcntl", derr)
	}
	if ok, err := unix.GetsockoptInt(nfd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || ok == 0 {
		unix.Close(nfd)
		if err == nil {
			err = fmt.Errorf("%s is not a listening socket", f.Name())
		}
		return nil, nil, err
	}
	sa, err := unix.Getsockname(nfd)
	if err != nil {
		unix.Close(nfd)
		return nil, nil, os.NewSyscallError("getsockname", err)
	}
	var addr net.Addr
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		addr = &net.TCPAddr{IP: net.IP(sa.Addr[:]).To16(), Port: sa.Port}
	case *unix.SockaddrInet6:
		addr = &net.TCPAddr{IP: net.IP(sa.Addr[:]), Port: sa.Port}
	case *unix.SockaddrUnix:
		addr = &net.UnixAddr{Name: sa.Name, Net: "unix"}
	default:
		unix.Close(nfd)
		return nil, nil, fmt.Errorf("%s: a socket of an unknown family", f.Name())
	}
	if err := unix.SetNonblock(nfd, false); err != nil {
		unix.Close(nfd)
		return nil, nil, os.NewSyscallError("fcntl", err)
	}
	nf := os.NewFile(uintptr(nfd), "listener "+addr.String())
	if err := unix.SetNonblock(nfd, true); err != nil {
		nf.Close()
		return nil, nil, os.NewSyscallError("fcntl", err)
	}
	return nf, addr, nil
}

// ListenerFiles returns duplicates of the listening sockets that the
// workers share (PolicyShared), in the order of Config.Listen, for another
// primary to take over with Addr.File; the caller closes them. It returns
// nil before the listeners are open or under another policy.
func (c *Cluster) ListenerFiles() ([]*os.File, error) {
	var out []*os.File
	var err error
	if e := c.do(func() {
		for _, s := range c.lns {
			if s.file == nil {
				continue
			}
			var nf *os.File
			if nf, _, err = adoptSocket(s.file); err != nil {
				return
			}
			out = append(out, nf)
		}
	}); e != nil {
		return nil, e
	}
	if err != nil {
		for _, f := range out {
			f.Close()
		}
		return nil, err
	}
	return out, nil
}
