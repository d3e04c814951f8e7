package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The socketpair floor: this binary re-executed as a plain peer on a bare
// AF_UNIX socketpair (fd 3), doing blocking read and write system calls on
// both sides with no framing, no runtime poller and no goroutine hand-off.
// It is the physical limit an IPC layer over the same socket can approach.

// envRaw starts this binary as the raw peer: "echo:<size>" sends back every
// <size>-byte message; "sink:<warmup bytes>:<n bytes>" reads and answers one
// byte after warmup bytes and again after warmup+n bytes.
const envRaw = "HERD_IPCBENCH_RAW"

// rawFD is the peer's end of the socketpair.
const rawFD = 3

// rawPeer is the parent's end of a socketpair to a raw peer process.
type rawPeer struct {
	fd  int
	cmd *exec.Cmd
}

// startRaw starts exe as a raw peer in mode (see envRaw).
func startRaw(exe, mode string) (*rawPeer, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	// A stuck peer must not hang the benchmark: time out blocking calls.
	tv := unix.Timeval{Sec: 60}
	_ = unix.SetsockoptTimeval(fds[0], unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	_ = unix.SetsockoptTimeval(fds[0], unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
	remote := os.NewFile(uintptr(fds[1]), "raw-peer")
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), envRaw+"="+mode)
	cmd.ExtraFiles = []*os.File{remote}
	cmd.Stderr = os.Stderr
	err = cmd.Start()
	remote.Close()
	if err != nil {
		unix.Close(fds[0])
		return nil, fmt.Errorf("start raw peer: %w", err)
	}
	return &rawPeer{fd: fds[0], cmd: cmd}, nil
}

// close closes the parent's end, which ends the peer, and reaps it.
func (r *rawPeer) close() error {
	unix.Close(r.fd)
	if err := r.cmd.Wait(); err != nil {
		return fmt.Errorf("raw peer: %w", err)
	}
	return nil
}

// runRawPeer is the raw peer's main; it returns the exit code.
func runRawPeer(mode string) int {
	if err := rawPeerLoop(mode); err != nil {
		fmt.Fprintln(os.Stderr, "raw peer:", err)
		return 1
	}
	return 0
}

func rawPeerLoop(mode string) error {
	parts := strings.Split(mode, ":")
	nums := make([]int, len(parts)-1)
	for i, p := range parts[1:] {
		n, err := strconv.Atoi(p)
		if err != nil {
			return fmt.Errorf("mode %q: %w", mode, err)
		}
		nums[i] = n
	}
	switch {
	case parts[0] == "echo" && len(nums) == 1:
		buf := make([]byte, nums[0])
		for {
			if err := readFull(rawFD, buf); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
			if err := writeFull(rawFD, buf); err != nil {
				return err
			}
		}
	case parts[0] == "sink" && len(nums) == 2:
		buf := make([]byte, 64<<10)
		marks := []int{nums[0], nums[0] + nums[1]}
		got := 0
		for len(marks) > 0 {
			n, err := unix.Read(rawFD, buf)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return err
			}
			if n == 0 {
				return io.ErrUnexpectedEOF
			}
			got += n
			if got >= marks[0] {
				marks = marks[1:]
				if err := writeFull(rawFD, buf[:1]); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return fmt.Errorf("unknown mode %q", mode)
}

// readFull reads exactly len(b) bytes with blocking reads; io.EOF means the
// other end closed before the first byte.
func readFull(fd int, b []byte) error {
	for got := 0; got < len(b); {
		n, err := unix.Read(fd, b[got:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			if got == 0 {
				return io.EOF
			}
			return io.ErrUnexpectedEOF
		}
		got += n
	}
	return nil
}

// writeFull writes all of b with blocking writes.
func writeFull(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}
