package cluster

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Quiescing: how a Command worker that is replaced gets no connection it
// would lose.
//
// Under PolicyShared every worker accepts from the one queue of the shared
// socket, and nothing outside a process can make it stop accepting. A
// program that dies on SIGTERM (Python's default, Node's, a Go program
// without signal handling) loses every connection it has accepted and not
// yet answered when the signal comes. So before the primary signals such a
// worker it catches it idle: it stops the worker's process group (SIGSTOP;
// a stopped process accepts nothing, and the connections in the queue go to
// the other workers), looks at the descriptors of every process of the
// group, and if none holds a connection accepted on one of the cluster's
// listeners (pidfd_getfd, getsockname), sends SIGTERM while the group is
// still stopped, then SIGCONT: the signal is handled before the program
// runs another instruction. If a connection is held, the group is resumed
// and stopped again as soon as the connections it held are answered (the
// primary waits on its duplicates of them), until Config.QuiesceTimeout;
// then the worker is signalled anyway.
//
// The SIGTERM goes to the main thread of each process (signalStopped), so
// that on SIGCONT that thread runs the handler before anything else. A
// program that dies by the signal's default action (Python) dies without
// running another instruction; Node's default handler runs on the main
// thread, which is also the only one that accepts, and exits. A Go program
// without signal handling needs one more step: its runtime catches
// SIGTERM, and between SIGCONT and the exit another of its threads could
// accept one more connection from a busy queue (measured before the step:
// 0 to 6 lost requests in 5 reloads of two workers, against 31 to 38
// without quiescing). So its accepts are made to fail, leaving the
// connections queued, until it is gone: the accept clamp of
// quiesce_clamp.go. Sending the signal to every thread would close that gap
// too but would hand a program that handles SIGTERM several of them, which
// many take as "stop now".
//
// A connection counts as held while it is in use: a request is unread or
// not yet answered (nothing sent yet, or data received after the last data
// sent). An answered keep-alive connection that carried no data for
// quiesceIdle, or one that never carried any for quiesceUnused, is left to
// the client's retry, as every graceful server does. Processes of the
// worker that left its process group (setsid daemons) are neither stopped
// nor looked at, and a connection passed between processes (SCM_RIGHTS) is
// not seen while it is in flight.

// quiesceIdle is how long an answered connection (keep-alive) must have
// carried no data before it no longer holds back a worker's signal, and
// quiesceUnused the same for a connection on which nothing was ever sent or
// received (one a client opened ahead of use).
const (
	quiesceIdle   = 250 * time.Millisecond
	quiesceUnused = time.Second
)

// errNoInspect says the kernel cannot show another process's sockets
// (pidfd_getfd needs Linux 5.6 and the right to ptrace the worker).
var errNoInspect = errors.New("cannot inspect the worker's sockets")

// quiescer holds what one worker's quiescing needs.
type quiescer struct {
	pgid  int
	ports map[int]bool    // TCP ports of the cluster's listeners
	paths map[string]bool // their unix socket paths
	// clamps are the accept clamps set once the group is quiesced
	// (quiesce_clamp.go).
	clamps []fdClamp
}

// listenerKeys returns the ports and paths of the cluster's listeners. On
// the loop.
func (c *Cluster) listenerKeys() (map[int]bool, map[string]bool) {
	ports, paths := map[int]bool{}, map[string]bool{}
	for _, s := range c.lns {
		switch a := s.addr.(type) {
		case *net.TCPAddr:
			ports[a.Port] = true
		case *net.UnixAddr:
			paths[a.Name] = true
		}
	}
	return ports, paths
}

// quiesce stops the group and returns true once, stopped, it holds no
// connection (the caller signals it, then sends SIGCONT), or false, with
// the group running and the number of connections still held, once limit
// has passed or the group is gone.
func (q *quiescer) quiesce(limit time.Duration, stop <-chan struct{}) (ok bool, held int, err error) {
	deadline := time.Now().Add(limit)
	for {
		if err := unix.Kill(-q.pgid, unix.SIGSTOP); err != nil {
			return false, 0, err
		}
		busy, err := q.check()
		if err == nil && len(busy) == 0 {
			q.clamps = q.clampAccepts()
			return true, 0, nil
		}
		_ = unix.Kill(-q.pgid, unix.SIGCONT)
		if errors.Is(err, errNotStopped) {
			err = nil
			time.Sleep(time.Millisecond)
		}
		if err != nil || !time.Now().Before(deadline) {
			closeAll(busy)
			return false, len(busy), err
		}
		select {
		case <-stop:
			closeAll(busy)
			return false, len(busy), nil
		default:
		}
		// Stop it again the moment the connections it holds are answered,
		// before it can take the next one (and a little later if they
		// are not: a keep-alive connection that stays open).
		waitAnswered(busy, min(time.Until(deadline), 100*time.Millisecond))
		closeAll(busy)
	}
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// waitAnswered waits until every TCP connection in fds has sent its FIN (the
// server is done with it) or been closed by the client, for at most d.
// The fds are this process's duplicates of the worker's.
func waitAnswered(fds []int, d time.Duration) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return
	}
	defer unix.Close(ep)
	pending := 0
	for _, fd := range fds {
		// The FIN's ACK wakes the socket's waiters (sk_state_change), the
		// client's close too; EPOLLOUT is how such a wake is reported.
		ev := unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(fd)}
		if unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &ev) == nil && !answered(fd) {
			pending++
		}
	}
	deadline := time.Now().Add(d)
	evs := make([]unix.EpollEvent, len(fds))
	for pending > 0 {
		ms := int(time.Until(deadline) / time.Millisecond)
		if ms <= 0 {
			return
		}
		if _, err := unix.EpollWait(ep, evs, ms); err != nil && !errors.Is(err, unix.EINTR) {
			return
		}
		pending = 0
		for _, fd := range fds {
			if !answered(fd) {
				pending++
			}
		}
	}
}

// answered reports whether connection fd has sent its FIN or is closed.
func answered(fd int) bool {
	ti, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return true
	}
	switch ti.State {
	case tcpEstablished, tcpCloseWait:
		return false
	}
	return true
}

// TCP states (include/net/tcp_states.h).
const (
	tcpEstablished = 1
	tcpCloseWait   = 8
)

// check waits until every process of the stopped group is stopped and
// returns duplicates of the connections they hold in use.
func (q *quiescer) check() ([]int, error) {
	pids := groupMembers(q.pgid)
	if len(pids) == 0 {
		return nil, os.ErrProcessDone
	}
	for _, pid := range pids {
		if !waitStopped(pid, 2*time.Second) {
			return nil, errNotStopped
		}
	}
	var busy []int
	for _, pid := range pids {
		var err error
		if busy, err = q.held(pid, busy); err != nil {
			closeAll(busy)
			return nil, err
		}
	}
	return busy, nil
}

// errNotStopped: a process of the group did not stop within 2s.
var errNotStopped = errors.New("the worker did not stop (SIGSTOP) within 2s")

// held appends to busy duplicates of the connections in use among pid's
// descriptors.
func (q *quiescer) held(pid int, busy []int) ([]int, error) {
	_, socks := procFDs(pid)
	if len(socks) == 0 {
		return busy, nil // none, or gone
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return busy, nil
		}
		return busy, fmt.Errorf("%w: pidfd_open: %v", errNoInspect, err)
	}
	defer unix.Close(pidfd)
	for _, fd := range socks {
		sfd, err := unix.PidfdGetfd(pidfd, fd, 0)
		if err != nil {
			if errors.Is(err, unix.EBADF) || errors.Is(err, unix.ESRCH) {
				continue
			}
			return busy, fmt.Errorf("%w: pidfd_getfd: %v", errNoInspect, err)
		}
		if inUse(sfd, q.ports, q.paths) {
			busy = append(busy, sfd)
		} else {
			unix.Close(sfd)
		}
	}
	return busy, nil
}

// procFDs returns the numbers of pid's open descriptors and, of those, its
// sockets; none if pid is gone.
func procFDs(pid int) (fds, sockets []int) {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		fds = append(fds, fd)
		if link, err := os.Readlink(dir + "/" + e.Name()); err == nil && strings.HasPrefix(link, "socket:[") {
			sockets = append(sockets, fd)
		}
	}
	return fds, sockets
}

// ours reports whether sa, a socket's own address, is the address of one
// of the cluster's listeners (as it is for a connection accepted on one).
func ours(sa unix.Sockaddr, ports map[int]bool, paths map[string]bool) bool {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return ports[a.Port]
	case *unix.SockaddrInet6:
		return ports[a.Port]
	case *unix.SockaddrUnix:
		return paths[a.Name]
	}
	return false
}

// inUse reports whether fd is a connection accepted on one of the
// listeners that is in use (see the comment at the top).
func inUse(fd int, ports map[int]bool, paths map[string]bool) bool {
	if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || v != 0 {
		return false // a listener, or not a socket we understand
	}
	if typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil || typ != unix.SOCK_STREAM {
		return false
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return false
	}
	if !ours(sa, ports, paths) {
		return false
	}
	if _, ok := sa.(*unix.SockaddrUnix); ok {
		return true // no TCP_INFO: in use while held
	}
	if unread, err := unix.IoctlGetInt(fd, unix.SIOCINQ); err != nil || unread > 0 {
		return true
	}
	ti, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return true
	}
	// Last_data_recv and Last_data_sent are milliseconds ago (the first
	// counts from the handshake until data comes).
	if ti.Data_segs_out == 0 {
		// Nothing sent: a request not answered yet, unless nothing came
		// either for a while (a connection opened ahead of use).
		return ti.Bytes_received > 0 || time.Duration(ti.Last_data_recv)*time.Millisecond < quiesceUnused
	}
	if ti.Last_data_recv < ti.Last_data_sent {
		return true // data received since the last data sent: a request
	}
	return time.Duration(ti.Last_data_sent)*time.Millisecond < quiesceIdle
}

// signalStopped sends sig to the main thread of every process of the
// stopped group pgid (to the process, if its main thread blocks sig), so
// that on SIGCONT the thread that takes a connection in an event loop runs
// the signal's handler before anything else: a program whose handler
// exits (Node's default one, which re-raises) then takes no connection in
// between. A process-directed signal could be taken by another thread
// while the main thread goes back to its loop.
func signalStopped(pgid int, sig syscall.Signal) error {
	pids := groupMembers(pgid)
	if len(pids) == 0 {
		return os.ErrProcessDone
	}
	for _, pid := range pids {
		if blocks(pid, sig) {
			_ = unix.Kill(pid, sig)
		} else {
			_ = unix.Tgkill(pid, pid, sig)
		}
	}
	return nil
}

// blocks reports whether pid's main thread blocks sig (or it cannot tell).
func blocks(pid int, sig syscall.Signal) bool {
	b, err := mainThreadStatus(pid)
	if err != nil {
		return true
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "SigBlk:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err != nil || mask&sigBit(sig) != 0
		}
	}
	return true
}

// mainThreadStatus reads /proc/PID/task/PID/status, the status of pid's
// main thread (its signal masks are the thread's own).
func mainThreadStatus(pid int) ([]byte, error) {
	p := strconv.Itoa(pid)
	return os.ReadFile("/proc/" + p + "/task/" + p + "/status")
}

// groupMembers returns pgid's leader and its descendants that are still in
// process group pgid.
func groupMembers(pgid int) []int {
	var out []int
	queue := []int{pgid}
	seen := map[int]bool{}
	for len(queue) > 0 && len(out) < 10000 {
		pid := queue[0]
		queue = queue[1:]
		if seen[pid] {
			continue
		}
		seen[pid] = true
		if pgrp, ok := procPgrp(pid); !ok || pgrp != pgid {
			continue
		}
		out = append(out, pid)
		queue = append(queue, procChildren(pid)...)
	}
	return out
}

// procStatFields returns the fields of a /proc stat file after the
// command name: state, ppid, pgrp, ...
func procStatFields(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

func procPgrp(pid int) (int, bool) {
	f := procStatFields("/proc/" + strconv.Itoa(pid) + "/stat")
	if len(f) < 3 {
		return 0, false
	}
	n, err := strconv.Atoi(f[2])
	return n, err == nil
}

func procChildren(pid int) []int {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, _ := os.ReadDir(dir)
	var out []int
	for _, t := range tasks {
		b, _ := os.ReadFile(dir + "/" + t.Name() + "/children")
		for _, s := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(s); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// waitStopped waits until every thread of pid is stopped (or dead), for at
// most d.
func waitStopped(pid int, d time.Duration) bool {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	deadline := time.Now().Add(d)
	wait := 50 * time.Microsecond
	for {
		tasks, err := os.ReadDir(dir)
		if err != nil {
			return true // gone
		}
		all := true
		for _, t := range tasks {
			f := procStatFields(dir + "/" + t.Name() + "/stat")
			if len(f) > 0 && !strings.ContainsAny(f[0], "TtZXx") {
				all = false
				break
			}
		}
		if all {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(wait)
		wait = min(wait*2, 2*time.Millisecond)
	}
}
