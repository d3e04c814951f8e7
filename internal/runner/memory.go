package runner

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// treeRSS returns the resident memory, in bytes, of every process in the
// process group pgid (herd starts each instance as the leader of its own
// group, so this is the instance and what it started), read from /proc.
func treeRSS(pgid int) int64 {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	pageSize := int64(os.Getpagesize())
	var total int64
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		// Fields after the command: state ppid pgrp ... rss is field 24.
		f := strings.Fields(s[i+1:])
		if len(f) < 22 {
			continue
		}
		if g, _ := strconv.Atoi(f[2]); g != pgid {
			continue
		}
		pages, _ := strconv.ParseInt(f[21], 10, 64)
		total += pages * pageSize
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
