package runner

import (
	"context"
	"fmt"
	"time"

	"github.com/herdrun/herd/internal/procfs"
)

// treeRSS returns the resident memory, in bytes, of pid and every process
// it started (its descendants, found through /proc's children files, so a
// child in another process group or session counts too). Under a Guard,
// pid is the guard and only what it started counts.
func treeRSS(pid int) int64 {
	var total int64
	for i, p := range procfs.Tree(pid) {
		if i == 0 && Guard != nil {
			continue // the instance's guard: herd's, not the app's
		}
		if st, err := procfs.ReadStat(p); err == nil {
			total += st.RSS()
		}
	}
	return total
}

// watchMemory samples every instance's tree RSS every interval and recycles
// (graceful replacement) an instance whose memory is over MaxMemory.
func (r *Runner) watchMemory(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, w := range r.c.Workers() {
			if w.State != "ready" {
				continue
			}
			if rss := treeRSS(w.PID); rss > r.app.MaxMemory {
				reason := fmt.Sprintf("memory %d MiB over the limit of %d MiB", rss>>20, r.app.MaxMemory>>20)
				r.log.Warn("restarting instance", "instance", w.Slot, "pid", w.PID, "reason", reason)
				_ = r.c.Recycle(w.ID, reason)
			}
		}
	}
}
