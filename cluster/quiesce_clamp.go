package cluster

import (
	"debug/elf"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The accept clamp: how a Go program without signal handling takes no
// connection between SIGCONT and its death.
//
// Go's runtime catches SIGTERM even when the program does not ask for it.
// The main thread runs the runtime's handler, which re-raises the signal
// with the default action; meanwhile the program's other threads run too,
// and one of them may accept a connection from a busy shared queue just
// before the process dies, and lose it. Nothing outside the process can
// take the shared listener out of its descriptor table. But accept(2)
// allocates the new descriptor before it takes a connection from the
// queue, and fails with EMFILE, leaving the connection queued for the other
// workers, when no descriptor is free below RLIMIT_NOFILE. So while the
// worker is stopped, the primary lowers RLIMIT_NOFILE (prlimit) of each of
// its Go processes that holds a cluster listener to the lowest free
// descriptor number, and puts the limit back once the process is gone or
// has shown that it handles SIGTERM itself: the signal is no longer
// pending, the runtime still catches it (a dying one has switched it to the
// default action by then, or is gone) and clampGrace has passed. A Go
// program that handles SIGTERM therefore cannot open a descriptor for the
// first clampGrace of its drain (an accept fails with EMFILE, which
// net/http retries after 5ms); clampMax bounds the clamp in any case.
//
// Only Go programs (an ELF .go.buildinfo section) are clamped: a program
// that dies by SIGTERM's default action (Python's, Node's) is killed,
// every thread at once, when the signal is sent; and libuv (Node) answers
// EMFILE from accept by accepting into a spare descriptor and closing the
// connection, which would lose the connection the clamp is there to keep.

// clampGrace is how long a clamped Go process that still catches SIGTERM
// after the signal was taken must live on before it counts as handling it,
// and clampMax the longest a clamp lasts.
const (
	clampGrace = 100 * time.Millisecond
	clampMax   = 2 * time.Second
)

// fdClamp is one process whose RLIMIT_NOFILE was lowered, and its limit
// before.
type fdClamp struct {
	pid   int
	pidfd int // tells when pid has exited, so that a reused pid is never touched
	old   unix.Rlimit
}

// clampAccepts clamps every Go process of the stopped group that holds one
// of the cluster's listeners (see above) and returns the clamps. A process
// that cannot be clamped is left as it was.
func (q *quiescer) clampAccepts() []fdClamp {
	var out []fdClamp
	for _, pid := range groupMembers(q.pgid) {
		low, ok := q.holdsListener(pid)
		if !ok || !isGoProgram(pid) {
			continue
		}
		pidfd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			continue
		}
		var old unix.Rlimit
		if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &old); err != nil || uint64(low) >= old.Cur {
			unix.Close(pidfd)
			continue
		}
		lim := unix.Rlimit{Cur: uint64(low), Max: old.Max}
		if unix.Prlimit(pid, unix.RLIMIT_NOFILE, &lim, nil) != nil {
			unix.Close(pidfd)
			continue
		}
		out = append(out, fdClamp{pid: pid, pidfd: pidfd, old: old})
	}
	return out
}

// holdsListener reports whether pid holds one of the cluster's listeners,
// and returns the lowest descriptor number it has free.
func (q *quiescer) holdsListener(pid int) (lowestFree int, holds bool) {
	fds, socks := procFDs(pid)
	if fds == nil {
		return 0, false
	}
	if len(socks) > 0 {
		pidfd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			return 0, false
		}
		for _, fd := range socks {
			sfd, err := unix.PidfdGetfd(pidfd, fd, 0)
			if err != nil {
				continue
			}
			holds = q.isListener(sfd)
			unix.Close(sfd)
			if holds {
				break
			}
		}
		unix.Close(pidfd)
	}
	used := make(map[int]bool, len(fds))
	for _, fd := range fds {
		used[fd] = true
	}
	for used[lowestFree] {
		lowestFree++
	}
	return lowestFree, holds
}

// isListener reports whether fd is one of the cluster's listening sockets.
func (q *quiescer) isListener(fd int) bool {
	if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || v == 0 {
		return false
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return false
	}
	return ours(sa, q.ports, q.paths)
}

// isGoProgram reports whether pid runs a Go binary: its executable has the
// section that holds Go's build information.
func isGoProgram(pid int) bool {
	f, err := elf.Open("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil {
		return false
	}
	defer f.Close()
	return f.Section(".go.buildinfo") != nil
}

// releaseClamps puts back the limits of clamps at once, for the processes
// that have not exited, and closes their pidfds.
func releaseClamps(clamps []fdClamp) {
	for _, cl := range clamps {
		cl.release()
	}
}

// release puts back cl's limit unless its process has exited, and closes
// its pidfd.
func (cl fdClamp) release() {
	if !cl.exited() {
		_ = unix.Prlimit(cl.pid, unix.RLIMIT_NOFILE, &cl.old, nil)
	}
	unix.Close(cl.pidfd)
}

// exited reports whether cl's process has exited (its pidfd is readable).
func (cl fdClamp) exited() bool {
	fds := []unix.PollFd{{Fd: int32(cl.pidfd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0
}

// watchClamps puts back each clamp's limit once its process is gone or
// handles sig itself (see above), or after clampMax. It returns when every
// clamp is released.
func watchClamps(clamps []fdClamp, sig syscall.Signal) {
	start := time.Now()
	taken := make([]time.Time, len(clamps)) // when sig was seen taken
	left := len(clamps)
	for wait := 50 * time.Microsecond; left > 0; wait = min(wait*2, time.Millisecond) {
		now := time.Now()
		for i, cl := range clamps {
			if cl.pid == 0 {
				continue
			}
			st, ok := readSigState(cl.pid)
			switch {
			case !ok || cl.exited(): // gone: nothing to put back
				unix.Close(cl.pidfd)
			case now.Sub(start) >= clampMax:
				cl.release()
			case st.pending&sigBit(sig) != 0 || st.caught&sigBit(sig) == 0:
				continue // not taken yet, or dying by the default action
			case taken[i].IsZero():
				taken[i] = now
				continue
			case now.Sub(taken[i]) < clampGrace:
				continue
			default: // it lives on and catches the signal: it handles it
				cl.release()
			}
			clamps[i].pid = 0
			left--
		}
		time.Sleep(wait)
	}
}

// sigState is what /proc/PID/task/PID/status says of a process's signals:
// pending for its main thread or for the process, and caught.
type sigState struct{ pending, caught uint64 }

// readSigState reads pid's sigState; false if it is gone or a zombie.
func readSigState(pid int) (sigState, bool) {
	b, err := mainThreadStatus(pid)
	if err != nil {
		return sigState{}, false
	}
	var st sigState
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "State":
			if strings.HasPrefix(v, "Z") || strings.HasPrefix(v, "X") {
				return sigState{}, false
			}
		case "SigPnd", "ShdPnd":
			n, _ := strconv.ParseUint(v, 16, 64)
			st.pending |= n
		case "SigCgt":
			st.caught, _ = strconv.ParseUint(v, 16, 64)
		}
	}
	return st, true
}

func sigBit(sig syscall.Signal) uint64 { return 1 << (uint(sig) - 1) }
