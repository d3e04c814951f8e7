package workers

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herdrun/herd/internal/procfs"
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
	f, err := procfs.OpenStatm(pid)
	if err != nil {
		return err
	}
	if _, err := f.Read(); err != nil {
		f.Close()
		return err
	}
	go l.watch(f)
	return nil
}

func (l *rssLimit) watch(f *procfs.StatmFile) {
	defer f.Close()
	t := time.NewTicker(rssCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		st, err := f.Read()
		if err != nil {
			return // the worker is gone
		}
		anon := st.Private()
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
