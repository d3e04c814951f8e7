package workers

import (
	"os"

	"github.com/herdrun/herd/internal/procfs"
	"golang.org/x/sys/unix"
)

// lowerThreads gives every thread of this process the nice value nice (if
// it is not nicer already) and, with idle, the SCHED_IDLE policy. On Linux
// both belong to a thread, and setpriority or sched_setattr on a pid
// changes only the thread with that id, so a Go program, whose goroutines
// run on many threads, must change each one; a thread created afterwards
// inherits them from the thread that creates it. A pass that finds a thread
// it had not seen runs again, in case a thread was being created during the
// previous one.
func lowerThreads(nice int, idle bool) {
	done := map[int]bool{}
	for pass := 0; pass < 5; pass++ {
		tids, err := procfs.Tasks(os.Getpid())
		if err != nil {
			return
		}
		fresh := false
		for _, tid := range tids {
			if done[tid] {
				continue
			}
			done[tid], fresh = true, true
			setPriority(tid, nice, idle)
		}
		if !fresh {
			return
		}
	}
}

// setPriority lowers one thread's priority: SCHED_IDLE with idle, and the
// nice value nice unless the thread is nicer already (raising it back
// needs CAP_SYS_NICE). Errors are ignored: a thread may have just exited.
func setPriority(tid, nice int, idle bool) {
	if cur, err := unix.Getpriority(unix.PRIO_PROCESS, tid); err == nil && 20-cur > nice {
		nice = 20 - cur // the kernel returns 20 - nice
	}
	if idle {
		_ = unix.SchedSetAttr(tid, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_IDLE, Nice: int32(nice)}, 0)
		return
	}
	if nice > 0 {
		_ = unix.Setpriority(unix.PRIO_PROCESS, tid, nice)
	}
}
