package shm

import (
	"context"
	"math"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// spinLoads is how many times Wait rereads the slot before sleeping: a few
// microseconds, which saves two context switches when the notifier runs on
// another core.
const spinLoads = 2000

// cancelSlice bounds one kernel sleep when ctx can be cancelled but has no
// deadline, so that cancellation is seen within this long.
const cancelSlice = 20 * time.Millisecond

// futex operations, shared (not _PRIVATE) so that they work across
// processes mapping the same file.
const (
	opWait = 0 // FUTEX_WAIT
	opWake = 1 // FUTEX_WAKE
)

func futexWait(ctx context.Context, v *atomic.Int32, old int32) (bool, error) {
	addr := uintptr(unsafe.Pointer(v))
	for {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		var tsp *unix.Timespec
		d, hasDeadline := ctx.Deadline()
		switch {
		case hasDeadline:
			rem := time.Until(d)
			if rem <= 0 {
				return false, context.DeadlineExceeded
			}
			if ctx.Done() != nil && rem > cancelSlice {
				rem = cancelSlice
			}
			ts := unix.NsecToTimespec(rem.Nanoseconds())
			tsp = &ts
		case ctx.Done() != nil:
			ts := unix.NsecToTimespec(cancelSlice.Nanoseconds())
			tsp = &ts
		}
		_, _, errno := unix.Syscall6(unix.SYS_FUTEX, addr, opWait, uintptr(uint32(old)), uintptr(unsafe.Pointer(tsp)), 0, 0)
		switch errno {
		case 0:
			return true, nil
		case syscall.EAGAIN:
			// The value was not old when the kernel looked: it changed.
			return true, nil
		case syscall.EINTR, syscall.ETIMEDOUT:
			if v.Load() != old {
				return true, nil
			}
			continue
		default:
			return false, errno
		}
	}
}

func futexWake(v *atomic.Int32, count int) int {
	n := count
	if count < 0 || count > math.MaxInt32 {
		n = math.MaxInt32
	}
	r, _, errno := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(v)), opWake, uintptr(n), 0, 0, 0)
	if errno != 0 {
		return 0
	}
	return int(r)
}
