package workers

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// reniceThreads sets the nice value of every thread of this process to at
// least nice. On Linux a nice value belongs to a thread, and setpriority on
// a pid changes only the thread with that id, so a Go program, whose
// goroutines run on many threads, must renice each one; a thread created
// afterwards inherits the value of the thread that creates it. A pass that
// finds a thread it had not seen runs again, in case a thread was being
// created during the previous one.
func reniceThreads(nice int) {
	done := map[int]bool{}
	for pass := 0; pass < 5; pass++ {
		ents, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return
		}
		fresh := false
		for _, e := range ents {
			tid, err := strconv.Atoi(e.Name())
			if err != nil || done[tid] {
				continue
			}
			done[tid], fresh = true, true
			// Only ever lower the priority: a thread that is nicer already
			// stays so (raising it back needs CAP_SYS_NICE).
			if cur, err := unix.Getpriority(unix.PRIO_PROCESS, tid); err == nil && 20-cur >= nice {
				continue
			}
			_ = unix.Setpriority(unix.PRIO_PROCESS, tid, nice)
		}
		if !fresh {
			return
		}
	}
}
