package child

import (
	"errors"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// sysProcAttr is what every child gets: its own process group and, unless
// detached, SIGKILL when the starter thread (so, this process) dies.
func sysProcAttr(detached bool) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true}
	if !detached {
		a.Pdeathsig = syscall.SIGKILL
	}
	return a
}

// waitExited blocks until pid has exited, without reaping it: the zombie
// keeps the pid, and so the process group id, from being reused.
func waitExited(pid int) error {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			return err
		}
	}
}

// signalGroup sends sig to process group pgid and, if the leader pid has
// moved to another group, to the leader too. The caller guarantees pid is
// not yet reaped.
func signalGroup(pgid, pid int, sig syscall.Signal) error {
	err := unix.Kill(-pgid, sig)
	if g, gerr := unix.Getpgid(pid); gerr == nil && g != pgid {
		if e := unix.Kill(pid, sig); err != nil {
			err = e
		}
	}
	if errors.Is(err, unix.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

// dupFile returns a close-on-exec duplicate of f's descriptor.
func dupFile(f *os.File) (int, bool) {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, false
	}
	nfd := -1
	if err := rc.Control(func(fd uintptr) {
		nfd, _ = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, false
	}
	return nfd, nfd >= 0
}

// waitHangup waits until every one of the pipe read ends fds reports POLLHUP
// (no writer left) or deadline passes. It neither reads nor closes them.
func waitHangup(fds []int, deadline time.Time) {
	pfds := make([]unix.PollFd, len(fds))
	for i, fd := range fds {
		pfds[i] = unix.PollFd{Fd: int32(fd)} // POLLHUP is always reported
	}
	pending := len(pfds)
	for pending > 0 {
		left := time.Until(deadline)
		if left <= 0 {
			return
		}
		ms := int((left + time.Millisecond - 1) / time.Millisecond)
		n, err := unix.Poll(pfds, ms)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return
		}
		for i := range pfds {
			if pfds[i].Revents != 0 {
				pfds[i].Fd, pfds[i].Revents = -1, 0
				pending--
			}
		}
	}
}

// drainNonblock reads what is already in the pipe f, up to max bytes,
// without waiting for more.
func drainNonblock(f *os.File, max int) []byte {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil
	}
	var out []byte
	buf := make([]byte, 32<<10)
	for len(out) < max {
		var n int
		var rerr error
		if err := rc.Control(func(fd uintptr) {
			for {
				n, rerr = unix.Read(int(fd), buf[:min(len(buf), max-len(out))])
				if rerr != unix.EINTR {
					return
				}
			}
		}); err != nil || rerr != nil || n <= 0 {
			break
		}
		out = append(out, buf[:n]...)
	}
	return out
}
