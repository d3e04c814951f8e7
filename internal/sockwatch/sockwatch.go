package sockwatch

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/herdrun/herd/internal/procfs"
)

// ErrNoSocket is returned by ListenInodes when no listening socket has one of
// the ports.
var ErrNoSocket = errors.New("sockwatch: no listening socket on the ports")

// proc is the /proc that is read; tests can point it elsewhere.
var proc = procfs.Default

// ListenInodes returns the inodes of the TCP sockets in state LISTEN, in
// this process's network namespace, bound to one of ports on any address.
// It returns ErrNoSocket when there is none.
func ListenInodes(ports []int) (map[uint64]bool, error) {
	want := map[int]bool{}
	for _, p := range ports {
		want[p] = true
	}
	out := map[uint64]bool{}
	var firstErr error
	for _, f := range []string{"net/tcp", "net/tcp6"} {
		b, err := proc.ReadFile(f)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		for ino := range parseListeners(b, want) {
			out[ino] = true
		}
	}
	if len(out) == 0 {
		if firstErr != nil {
			return nil, fmt.Errorf("sockwatch: %w", firstErr)
		}
		return nil, ErrNoSocket
	}
	return out, nil
}

// parseListeners yields the inodes of the LISTEN rows of a /proc/net/tcp
// table whose local port is in want. Rows look like
// "  0: 0100007F:0BB8 00000000:0000 0A ... uid timeout inode ...".
func parseListeners(b []byte, want map[int]bool) map[uint64]bool {
	out := map[uint64]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 4096), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[3] != "0A" { // 0A is TCP_LISTEN
			continue
		}
		_, hexPort, ok := strings.Cut(f[1], ":")
		if !ok {
			continue
		}
		port, err := strconv.ParseUint(hexPort, 16, 16)
		if err != nil || !want[int(port)] {
			continue
		}
		if ino, err := strconv.ParseUint(f[9], 10, 64); err == nil && ino != 0 {
			out[ino] = true
		}
	}
	return out
}

// Accepting reports whether pid, or a process it started, waits for
// connections on one of the sockets with the given inodes: it holds the
// socket and the socket is in one of its epoll sets, or one of its
// threads is blocked in accept on it, or in select or poll while holding
// it. Processes that vanish while they are read are skipped.
func Accepting(pid int, inodes map[uint64]bool) bool {
	for _, p := range proc.Tree(pid) {
		if processAccepting(p, inodes) {
			return true
		}
	}
	return false
}

// processAccepting checks one process.
func processAccepting(pid int, inodes map[uint64]bool) bool {
	fds, err := proc.FDs(pid)
	if err != nil {
		return false
	}
	held := map[int]bool{}    // fds that are one of the sockets
	mine := map[uint64]bool{} // and their inodes
	var epolls []int
	for _, fd := range fds {
		if fd.IsEpoll() {
			epolls = append(epolls, fd.Num)
		} else if ino, ok := fd.SocketInode(); ok && inodes[ino] {
			held[fd.Num], mine[ino] = true, true
		}
	}
	// A process accepts only on a socket it holds. So an epoll entry
	// counts only with the inode of a socket this process holds: an
	// epoll's "ino:" is any file's inode number, and a file of another
	// file system (a pidfd, say) may have the same number as the socket.
	if len(held) == 0 {
		return false
	}
	for _, ep := range epolls {
		b, err := proc.FDInfo(pid, ep)
		if err == nil && epollWatches(b, mine, held) {
			return true
		}
	}
	tids, err := proc.Tasks(pid)
	if err != nil {
		return false
	}
	for _, tid := range tids {
		b, err := proc.TaskSyscall(pid, tid)
		if err == nil && blockedOn(b, held) {
			return true
		}
	}
	return false
}

// epollWatches reports whether an epoll fdinfo file lists one of the
// sockets. Its lines look like
// "tfd:        7 events:       19 data: 7f... pos:0 ino:1a2b sdev:8";
// ino (hex) names the watched file, and tfd its fd number when it was added
// (used when ino is missing, on old kernels).
func epollWatches(b []byte, inodes map[uint64]bool, held map[int]bool) bool {
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "tfd:" {
			continue
		}
		found := false
		for _, kv := range f {
			if v, ok := strings.CutPrefix(kv, "ino:"); ok {
				found = true
				if ino, err := strconv.ParseUint(v, 16, 64); err == nil && inodes[ino] {
					return true
				}
			}
		}
		if !found {
			if fd, err := strconv.Atoi(f[1]); err == nil && held[fd] {
				return true
			}
		}
	}
	return false
}

// blockedOn reports whether a thread's syscall file ("nr arg1 arg2 ... sp
// pc", or "running", or "-1 sp pc") shows it blocked in accept on one of the
// held fds, or in a select or poll call while holding one.
func blockedOn(b []byte, held map[int]bool) bool {
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return false
	}
	nr, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || nr < 0 {
		return false
	}
	switch {
	case acceptCalls[nr]:
		fd, err := strconv.ParseUint(strings.TrimPrefix(f[1], "0x"), 16, 64)
		return err == nil && held[int(fd)]
	case pollCalls[nr]:
		return len(held) > 0
	}
	return false
}
