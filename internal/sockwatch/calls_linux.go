package sockwatch

import "golang.org/x/sys/unix"

// acceptCalls are the system calls that wait on one listening fd, their
// first argument.
var acceptCalls = map[int64]bool{unix.SYS_ACCEPT: true, unix.SYS_ACCEPT4: true}

// pollCalls are the system calls that wait on a set of fds the kernel does
// not show.
var pollCalls = map[int64]bool{unix.SYS_PPOLL: true, unix.SYS_PSELECT6: true}

func init() {
	for _, nr := range legacyPollCalls {
		pollCalls[nr] = true
	}
}
