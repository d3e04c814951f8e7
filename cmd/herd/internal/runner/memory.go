package runner

import (
	"context"
	"fmt"
	"syscall"
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

// killTree sends SIGKILL to pid's process group and to every process it
// started (a child in a group or session of its own too).
func killTree(pid int) {
	tree := procfs.Tree(pid)
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	for _, p := range tree {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
}

// watchMemory samples every instance's tree RSS every interval, from its
// start. A ready instance over MaxMemory is recycled (graceful
// replacement); one that is not ready yet has nothing to hand over and
// could grow until its ready timeout, so its process tree is killed at
// once: a failed start (a *BootError at herd's start; later an unstable
// exit, respawned after the backoff).
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
			if w.State == "draining" {
				continue
			}
			rss := treeRSS(w.PID)
			if rss <= r.app.MaxMemory {
				continue
			}
			reason := fmt.Sprintf("memory %d MiB over the limit of %d MiB (--max-memory, max_memory)", rss>>20, r.app.MaxMemory>>20)
			if w.State == "ready" {
				r.log.Warn("restarting instance", "instance", w.Slot, "pid", w.PID, "reason", reason)
				_ = r.c.Recycle(w.ID, reason)
				continue
			}
			reason += " before it was ready"
			r.mu.Lock()
			r.memKilled[w.ID] = reason
			r.mu.Unlock()
			r.log.Warn("killing instance: a failed start", "instance", w.Slot, "pid", w.PID, "reason", reason)
			killTree(w.PID)
		}
	}
}
