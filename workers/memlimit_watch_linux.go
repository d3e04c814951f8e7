package workers

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// rssCheckInterval is how often the RLIMIT_AS fallback samples a worker's
// resident memory. A task that grows past MemoryLimit is stopped within
// about one interval of crossing it.
const rssCheckInterval = 20 * time.Millisecond

// rssLimit is the memory limit where no memory cgroup is available. Its
// main check samples the worker's resident anonymous memory (what a memory
// cgroup would charge it for: its heap, stacks and other private pages,
// not its binary's mapped text or shared buffers) every rssCheckInterval
// and kills the worker once that is over the limit, so a task over its
// limit ends as a memory-limit exit as soon as it crosses it, however slowly
// its pages are faulted in. The embedded rlimitLimit stays as a backstop
// for an allocation too large or too fast for the sampling: RLIMIT_AS then
// makes the Go runtime fail with "out of memory" at once.
type rssLimit struct {
	*rlimitLimit
	kill func(reason string) // kills the worker's process group

	over     atomic.Bool
	stop     chan struct{}
	stopOnce sync.Once
}

func newRSSLimit(limit int64, kill func(reason string)) *rssLimit {
	return &rssLimit{rlimitLimit: &rlimitLimit{limit: limit}, kill: kill, stop: make(chan struct{})}
}

func (l *rssLimit) afterReady(pid int) error {
	if err := l.rlimitLimit.afterReady(pid); err != nil {
		return err
	}
	// The open file names this process, not its pid: once the worker has
	// been reaped, reads fail instead of reporting a process that reused
	// the pid.
	f, err := os.Open(fmt.Sprintf("/proc/%d/statm", pid))
	if err != nil {
		return err
	}
	if _, err := statmAnon(f); err != nil {
		f.Close()
		return err
	}
	go l.watch(f)
	return nil
}

func (l *rssLimit) watch(f *os.File) {
	defer f.Close()
	t := time.NewTicker(rssCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		anon, err := statmAnon(f)
		if err != nil {
			return // the worker is gone
		}
		if anon > l.limit {
			l.over.Store(true)
			l.kill(fmt.Sprintf("%.1f MiB of private memory, over the limit of %.1f MiB", float64(anon)/(1<<20), float64(l.limit)/(1<<20)))
			return
		}
	}
}

func (l *rssLimit) oomKilled() bool { return l.over.Load() }

// release stops the sampling. It does not wait for it: the pool calls
// release with the worker's lock held, which a kill in progress may need.
func (l *rssLimit) release() {
	l.stopOnce.Do(func() { close(l.stop) })
	l.rlimitLimit.release()
}

// pageSize is the unit of /proc/<pid>/statm.
var pageSize = int64(os.Getpagesize())

// statmAnon reads an open /proc/<pid>/statm and returns the process's
// resident anonymous memory in bytes: resident minus shared (file-backed
// and shared-memory) pages.
func statmAnon(f *os.File) (int64, error) {
	var buf [128]byte
	n, err := f.ReadAt(buf[:], 0)
	if n == 0 {
		if err == nil {
			err = fmt.Errorf("empty statm")
		}
		return 0, err
	}
	fields := bytes.Fields(buf[:n])
	if len(fields) < 3 {
		return 0, fmt.Errorf("statm: %q", buf[:n])
	}
	res, err1 := strconv.ParseInt(string(fields[1]), 10, 64)
	shared, err2 := strconv.ParseInt(string(fields[2]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("statm: %q", buf[:n])
	}
	return (res - shared) * pageSize, nil
}
