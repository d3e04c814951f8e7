package cluster

import (
	"context"
)

// probeLoop runs Config.ReadyProbe for a Command worker and turns its
// success into readiness. The probe's context ends when the worker exits or
// the cluster's loop ends; the ready timeout still applies as for any other
// readiness signal.
func (c *Cluster) probeLoop(w *wproc) {
	defer c.bg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-w.p.Done():
		case <-c.loopDone:
		case <-ctx.Done():
		}
		cancel()
	}()
	if err := c.cfg.ReadyProbe(ctx, w.pid); err != nil {
		return
	}
	select {
	case c.evs <- wevent{w: w, c: ctl{Herd: msgReady}}:
	case <-c.loopDone:
	}
}
