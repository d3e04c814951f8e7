package main

import (
	"fmt"
	"io"
	"time"

	"github.com/herdrun/herd/internal/reaper"
)

// withOrphans runs f with herd as the subreaper of everything its apps
// start: a process an instance abandons (a daemon that called setsid, a
// double fork) is re-parented to herd instead of init, reaped when it exits,
// and ended with the rest when f returns (SIGTERM, then SIGKILL after
// grace), so that no process of an app outlives herd. If the kernel refuses
// the subreaper flag, f runs without it and a note goes to stderr.
func withOrphans(stderr io.Writer, grace time.Duration, f func() error) error {
	r, err := reaper.Start(time.Second)
	if err != nil {
		fmt.Fprintf(stderr, "herd: %v; processes that apps abandon will not be stopped\n", err)
		return f()
	}
	err = f()
	pids, rerr := r.Stop(grace)
	if len(pids) > 0 {
		fmt.Fprintf(stderr, "herd: stopped %d process(es) the apps had left running: %v\n", len(pids), pids)
	}
	if rerr != nil {
		fmt.Fprintf(stderr, "herd: %v\n", rerr)
	}
	return err
}
