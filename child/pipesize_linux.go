package child

import (
	"os"

	"golang.org/x/sys/unix"
)

// outputPipeSize is the capacity herd asks for on the stdout and stderr
// pipes it creates, so that a chatty child blocks less often on a full pipe
// and the parent reads in larger chunks.
const outputPipeSize = 1 << 20

// growPipe asks the kernel to make the pipe behind f hold size bytes. It
// ignores failure: an unprivileged process may not exceed
// /proc/sys/fs/pipe-max-size, and the default capacity still works.
func growPipe(f *os.File, size int) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		unix.FcntlInt(fd, unix.F_SETPIPE_SZ, size)
	})
}

// pipeSize returns the capacity of the pipe behind f, or -1 if it cannot
// be read.
func pipeSize(f *os.File) int {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1
	}
	n := -1
	rc.Control(func(fd uintptr) {
		if v, err := unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0); err == nil {
			n = v
		}
	})
	return n
}
