package cluster

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

var errSlotGone = errors.New("cluster: slot removed")

// Reload replaces every worker, one slot at a time, with a new process of
// the program as it is on disk now (so replacing the binary and reloading
// deploys new code; the primary's pid never changes). For each slot a new
// worker is started; only once it is ready is the old one drained. If the
// new worker exits or is not ready within Config.ReadyTimeout, the reload
// stops there with a *ReloadError and the old workers of that slot and of the
// later ones are kept. SIGHUP calls Reload. An old Command worker is
// quiesced before it is signalled (see Config.QuiesceTimeout), so that even
// a program that dies at once on SIGTERM loses no connection.
//
// A Reload called while a reload runs queues exactly one more reload, which
// starts when the running one ends (so it sees whatever changed meanwhile),
// and waits for it; further calls while that one is queued join it. Both
// cases are logged ("reload queued", "merged into the queued reload"), so a
// burst of SIGHUPs gives two reloads, never one silently lost. ctx bounds
// the reload this call runs, or only this call's wait for a queued one,
// which then runs on (each of its steps bounded by Config.ReadyTimeout).
func (c *Cluster) Reload(ctx context.Context) error {
	c.reloadMu.Lock()
	if c.reloadCur == nil {
		r := &reloadRun{done: make(chan struct{})}
		c.reloadCur = r
		c.reloadMu.Unlock()
		c.runReload(ctx, r)
		return r.err
	}
	r, merged := c.reloadNext, true
	if r == nil {
		r, merged = &reloadRun{done: make(chan struct{})}, false
		c.reloadNext = r
	}
	c.reloadMu.Unlock()
	if merged {
		c.log().Info("cluster: reload request merged into the queued reload")
	} else {
		c.log().Info("cluster: reload queued: a reload is in progress")
	}
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// reloadRun is one reload that Reload calls wait for.
type reloadRun struct {
	done chan struct{} // closed when err is set
	err  error
}

// runReload runs r, then the reload queued meanwhile, if any, on a
// goroutine of its own.
func (c *Cluster) runReload(ctx context.Context, r *reloadRun) {
	r.err = c.reload(ctx)
	c.reloadMu.Lock()
	next := c.reloadNext
	c.reloadCur, c.reloadNext = next, nil
	c.reloadMu.Unlock()
	close(r.done)
	if next == nil {
		return
	}
	// Added on the loop, so that Run waits for it.
	err := c.do(func() {
		c.bg.Add(1)
		go func() {
			defer c.bg.Done()
			c.log().Info("cluster: starting the queued reload")
			c.runReload(context.Background(), next)
		}()
	})
	if err != nil {
		c.reloadMu.Lock()
		c.reloadCur = nil
		c.reloadMu.Unlock()
		next.err = err
		close(next.done)
	}
}

// reload replaces every slot's worker in turn.
func (c *Cluster) reload(ctx context.Context) error {
	c.replaceMu.Lock()
	defer c.replaceMu.Unlock()
	var idxs []int
	if err := c.do(func() {
		for _, s := range c.slots {
			idxs = append(idxs, s.idx)
		}
	}); err != nil {
		return err
	}
	start := time.Now()
	for _, idx := range idxs {
		if err := c.replace(ctx, idx, "reload"); err != nil {
			if errors.Is(err, errSlotGone) {
				continue
			}
			return err
		}
	}
	c.log().Info("cluster: reload done", "workers", len(idxs), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// goReplace replaces one slot's worker in the background (recycling).
func (c *Cluster) goReplace(idx int, reason string) {
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		c.replaceMu.Lock()
		defer c.replaceMu.Unlock()
		if err := c.replace(context.Background(), idx, reason); err != nil && !errors.Is(err, ErrStopping) && !errors.Is(err, errSlotGone) && !errors.Is(err, ErrNotRunning) {
			c.log().Error(err.Error())
		}
	}()
}

// replace starts a new worker for slot idx, waits until it is ready and
// then drains the old one. c.replaceMu is held.
func (c *Cluster) replace(ctx context.Context, idx int, reason string) error {
	var (
		nw, old *wproc
		err     error
	)
	if e := c.do(func() {
		s := c.slotAt(idx)
		switch {
		case c.stopping:
			err = ErrStopping
		case s == nil:
			err = errSlotGone
		default:
			old = s.cur
			nw, err = c.spawn(s, true)
		}
	}); e != nil {
		return e
	}
	oldID := 0
	if old != nil {
		oldID = old.id
	}
	if err != nil {
		if errors.Is(err, ErrStopping) || errors.Is(err, errSlotGone) {
			return err
		}
		return &ReloadError{Slot: idx, Old: oldID, Reason: "could not start: " + err.Error()}
	}

	t := time.NewTimer(c.cfg.ReadyTimeout)
	defer t.Stop()
	var fail string
	select {
	case <-nw.readyC:
	case <-nw.doneC:
		fail = "exited before it was ready: " + nw.status.String()
	case <-t.C:
		fail = fmt.Sprintf("was not ready within %v", c.cfg.ReadyTimeout)
	case <-c.stopC:
		return ErrStopping
	case <-ctx.Done():
		fail = "was not ready when the reload was cancelled: " + ctx.Err().Error()
	}
	if fail != "" {
		_ = c.do(func() {
			if !nw.exited {
				nw.reason = "reload aborted"
				c.stopWorker(nw, "reload aborted")
				_ = nw.p.Kill(syscall.SIGKILL)
			}
		})
		return &ReloadError{Slot: idx, Old: oldID, New: nw.id, Reason: fail}
	}
	var (
		prev *wproc
		q    *quiescer
	)
	if err := c.do(func() {
		s := c.slotAt(idx)
		if c.stopping || s == nil || nw.exited {
			if !nw.exited {
				c.stopWorker(nw, reason)
			}
			return
		}
		if s.next == nw {
			s.next = nil
		}
		prev = s.cur
		s.cur = nw
		if s.timer != nil {
			s.timer.Stop()
			s.timer = nil
		}
		if prev == nil {
			return
		}
		if q = c.quiescerFor(prev); q != nil {
			return
		}
		c.stopWorker(prev, reason)
		c.log().Info("cluster: worker replaced", "slot", idx, "old", prev.id, "old_pid", prev.pid, "new", nw.id, "new_pid", nw.pid, "reason", reason)
	}); err != nil || q == nil {
		return err
	}
	return c.quiesceAndStop(q, prev, reason, "cluster: worker replaced",
		"slot", idx, "old", prev.id, "old_pid", prev.pid, "new", nw.id, "new_pid", nw.pid, "reason", reason)
}

// quiescerFor returns how to quiesce w, about to be drained while the
// cluster runs on, or nil if it is signalled at once: Go workers (they
// drain by themselves) and workers without a shared socket (under
// PolicyReusePort a stopped worker's own queue would only grow). On the
// loop.
func (c *Cluster) quiescerFor(w *wproc) *quiescer {
	if !w.command || len(c.lns) == 0 || c.cfg.Policy != PolicyShared || c.cfg.QuiesceTimeout < 0 || w.exited || w.draining {
		return nil
	}
	ports, paths := c.listenerKeys()
	return &quiescer{pgid: w.pid, ports: ports, paths: paths}
}

// quiesceAndStop quiesces w (see quiesce.go) and then drains it, logging
// msg with args and how it went. Off the loop; it returns once w has been
// signalled.
func (c *Cluster) quiesceAndStop(q *quiescer, w *wproc, reason, msg string, args ...any) error {
	start := time.Now()
	ok, held, qerr := q.quiesce(c.cfg.QuiesceTimeout, c.stopC)
	err := c.do(func() {
		w.quiesced = ok
		c.stopWorker(w, reason)
		w.quiesced = false
		if ok {
			_ = unix.Kill(-q.pgid, unix.SIGCONT)
			if len(q.clamps) > 0 {
				c.bg.Add(1)
				go func() {
					defer c.bg.Done()
					watchClamps(q.clamps, syscall.SIGTERM)
				}()
			}
		}
		switch {
		case ok:
			args = append(args, "quiesced_in", time.Since(start).Round(time.Millisecond))
			if len(q.clamps) > 0 {
				args = append(args, "accept_clamped", len(q.clamps))
			}
			c.log().Info(msg, args...)
		case errors.Is(qerr, errNoInspect):
			c.log().Warn(msg+" without quiescing: "+qerr.Error(), args...)
		case held > 0:
			c.log().Warn(msg+" while it still held connections (Config.QuiesceTimeout passed)", append(args, "connections", held, "timeout", c.cfg.QuiesceTimeout)...)
		default:
			c.log().Info(msg, args...)
		}
	})
	if err != nil && ok {
		releaseClamps(q.clamps)
		_ = unix.Kill(-q.pgid, unix.SIGCONT)
	}
	return err
}
