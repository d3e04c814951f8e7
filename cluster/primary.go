package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/internal/killer"
	"github.com/herdrun/herd/internal/supervise"
	"github.com/herdrun/herd/ipc"
	"golang.org/x/sys/unix"
)

var exit = os.Exit

// wevent is what a worker's goroutines report to the loop.
type wevent struct {
	w    *wproc
	exit bool        // the process has exited; err is Wait's result
	err  error       // for exit
	c    ctl         // for a message
	m    ipc.Message // for a message
}

// checkMax is the longest the loop sleeps between two checks of heartbeats,
// readiness deadlines and lifetimes; it wakes at the next deadline when one
// is due sooner (see nextCheck), so an idle primary wakes once a second.
const checkMax = time.Second

func (c *Cluster) log() *slog.Logger { return c.cfg.Logger }

func (c *Cluster) runPrimary(ctx context.Context) (err error) {
	defer close(c.done)
	if err := c.cfg.validate(); err != nil {
		close(c.loopDone)
		return err
	}
	c.crash = supervise.CrashLoop{Max: c.cfg.CrashLoopMax, Window: c.cfg.CrashLoopWindow}
	c.backoff = supervise.Backoff{Initial: c.cfg.BackoffInitial, Max: c.cfg.BackoffMax}

	for _, a := range c.cfg.Listen {
		s, err := openShared(ctx, c.cfg.Policy, a)
		if err != nil {
			for _, s := range c.lns {
				s.close()
			}
			close(c.loopDone)
			return err
		}
		c.addShared(s)
	}

	sigc := make(chan os.Signal, 8)
	if !c.cfg.NoSignals {
		signal.Notify(sigc, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGTTIN, syscall.SIGTTOU)
		defer signal.Stop(sigc)
	}
	check := time.NewTimer(checkMax)
	defer check.Stop()

	// Workers ready at once (ReadyOnStart) must not make the cluster
	// booted before every initial slot exists.
	c.starting = true
	ctxDone := ctx.Done()
	// A stop request is seen between two starts, so a large Workers count
	// cannot hold off SIGTERM, SIGINT or ctx; other signals wait for the
	// loop below.
	var deferred []os.Signal
	adopt, rest := c.adoptable()
	for range c.cfg.Workers {
		if hw, ok := adopt[len(c.slots)]; ok {
			c.addAdopted(hw)
		} else {
			c.addSlot()
		}
		deferred = c.pollStop(sigc, &ctxDone, deferred)
		if c.stopping {
			break
		}
	}
	for _, hw := range rest {
		c.adoptDraining(hw)
	}
	c.starting = false
	if !c.stopping {
		c.checkBooted()
	}
	for _, sig := range deferred {
		c.onSignal(sig.(syscall.Signal))
	}
	for !c.stopping || len(c.workers) > 0 {
		select {
		case f := <-c.reqs:
			f()
		case ev := <-c.evs:
			c.handle(ev)
		case sig := <-sigc:
			c.onSignal(sig.(syscall.Signal))
		case <-ctxDone:
			ctxDone = nil
			c.beginStop(nil, "context done")
		case now := <-check.C:
			c.check(now)
		}
		check.Reset(c.nextCheck(time.Now()))
	}
	close(c.loopDone)
	for _, s := range c.lns {
		s.close()
	}
	c.bg.Wait()
	return c.fatal
}

// pollStop handles, without waiting, what arrived while the initial workers
// were being started: SIGTERM, SIGINT or the end of ctx begins the stop at
// once; other signals are returned, appended to deferred, to be handled once
// the start is over.
func (c *Cluster) pollStop(sigc <-chan os.Signal, ctxDone *<-chan struct{}, deferred []os.Signal) []os.Signal {
	for !c.stopping {
		select {
		case sig := <-sigc:
			if sig != syscall.SIGTERM && sig != syscall.SIGINT {
				deferred = append(deferred, sig)
				continue
			}
			c.log().Info("cluster: " + unix.SignalName(sig.(syscall.Signal)) + " while starting the workers: not starting the rest")
			c.onSignal(sig.(syscall.Signal))
		case <-*ctxDone:
			*ctxDone = nil
			c.log().Info("cluster: context done while starting the workers: not starting the rest")
			c.beginStop(nil, "context done")
		default:
			return deferred
		}
	}
	return deferred
}

// addShared records a listener; under PolicyDispatch it starts accepting.
func (c *Cluster) addShared(s *shared) {
	c.lns = append(c.lns, s)
	if s.ln != nil {
		c.bg.Add(1)
		go c.acceptLoop(len(c.lns)-1, s.ln)
	}
}

func (c *Cluster) emit(w *wproc, e Event) {
	if c.cfg.OnEvent == nil {
		return
	}
	e.Time, e.Worker, e.Slot, e.PID = time.Now(), w.id, w.slot, w.pid
	c.cfg.OnEvent(e)
}

func (c *Cluster) onSignal(sig syscall.Signal) {
	switch sig {
	case syscall.SIGHUP:
		c.log().Info("cluster: SIGHUP: rolling reload")
		c.bg.Add(1)
		go func() {
			defer c.bg.Done()
			if err := c.Reload(context.Background()); err != nil && !errors.Is(err, ErrStopping) && !errors.Is(err, ErrNotRunning) {
				c.log().Error(err.Error())
			}
		}()
	case syscall.SIGTERM, syscall.SIGINT:
		if c.stopping && !c.stopSignalAt.IsZero() && time.Since(c.stopSignalAt) < DuplicateSignalWindow {
			// GNU timeout and systemd (KillMode=control-group) signal the
			// process and its group at once: the same request, twice.
			c.log().Info("cluster: " + unix.SignalName(sig) + " again within " + DuplicateSignalWindow.String() + " of the first: taken as the same stop")
			return
		}
		if c.stopping {
			c.log().Warn("cluster: second " + unix.SignalName(sig) + ": killing the workers now")
			c.killAll()
			return
		}
		c.beginStop(nil, unix.SignalName(sig))
		c.stopSignalAt = time.Now()
	case syscall.SIGTTIN:
		if err := c.scale(len(c.slots) + 1); err == nil {
			c.log().Info("cluster: SIGTTIN: scaled up", "workers", len(c.slots))
		}
	case syscall.SIGTTOU:
		if len(c.slots) <= 1 {
			c.log().Warn("cluster: SIGTTOU: already at 1 worker")
			return
		}
		if err := c.scale(len(c.slots) - 1); err == nil {
			c.log().Info("cluster: SIGTTOU: scaled down", "workers", len(c.slots))
		}
	}
}

// scale sets the number of slots; on the loop.
func (c *Cluster) scale(n int) error {
	if c.stopping {
		return ErrStopping
	}
	for len(c.slots) < n && !c.stopping {
		c.addSlot()
	}
	for len(c.slots) > n {
		s := c.slots[len(c.slots)-1]
		c.slots = c.slots[:len(c.slots)-1]
		if s.timer != nil {
			s.timer.Stop()
		}
		for _, w := range []*wproc{s.cur, s.next} {
			if w == nil {
				continue
			}
			if q := c.quiescerFor(w); q != nil {
				c.bg.Add(1)
				go func() {
					defer c.bg.Done()
					_ = c.quiesceAndStop(q, w, "scale down", "cluster: worker scaled down", "slot", s.idx, "worker", w.id, "pid", w.pid)
				}()
				continue
			}
			c.stopWorker(w, "scale down")
		}
	}
	return nil
}

func (c *Cluster) addSlot() {
	s := &slot{idx: len(c.slots)}
	c.slots = append(c.slots, s)
	if _, err := c.spawn(s, false); err != nil {
		c.spawnFailed(s, err)
	}
}

func (c *Cluster) slotAt(idx int) *slot {
	if idx < 0 || idx >= len(c.slots) {
		return nil
	}
	return c.slots[idx]
}

// spawn starts a worker for s, as its current worker or, for a replacement,
// as its next.
func (c *Cluster) spawn(s *slot, asNext bool) (*wproc, error) {
	c.nextID++
	now := time.Now()
	w := &wproc{
		id: c.nextID, slot: s.idx, restarts: s.restarts, command: len(c.cfg.Command) > 0,
		started: now, readyC: make(chan struct{}), doneC: make(chan struct{}), readerDone: make(chan struct{}),
	}
	w.lastBeat.Store(now.UnixNano())
	if c.cfg.MaxLifetime > 0 {
		w.recycleAt = now.Add(supervise.Jitter(c.cfg.MaxLifetime, max(c.cfg.RecycleJitter, 0)))
	}
	p, err := c.start(w)
	if err != nil {
		return nil, err
	}
	w.p, w.pid, w.conn = p, p.Pid, p.Channel
	c.workers[w.id] = w
	if asNext {
		s.next = w
	} else {
		s.cur = w
	}
	c.emit(w, Event{Kind: EventFork})
	c.bg.Add(2)
	go c.readLoop(w)
	go c.waitLoop(w)
	if w.notify != nil {
		c.bg.Add(1)
		go c.notifyLoop(w)
	}
	if w.command && c.cfg.ReadyOnStart {
		c.markReady(w)
	} else if w.command && c.cfg.ReadyProbe != nil {
		c.bg.Add(1)
		go c.probeLoop(w)
	}
	return w, nil
}

// spawnFailed handles a worker that could not even be started.
func (c *Cluster) spawnFailed(s *slot, err error) {
	if !c.booted {
		c.log().Error("cluster: cannot start a worker", "err", err)
		c.beginStop(fmt.Errorf("cluster: start worker: %w", err), "start failure")
		return
	}
	c.failed(s, "could not start a worker: "+err.Error())
}

// readLoop forwards a worker's messages to the loop; heartbeats and
// connection counts it records itself.
func (c *Cluster) readLoop(w *wproc) {
	defer c.bg.Done()
	defer close(w.readerDone)
	for {
		m, err := w.conn.Recv(context.Background())
		if err != nil {
			return
		}
		var cm ctl
		if m.Kind == ipc.KindJSON && len(m.Data) > 0 && m.Data[0] == '{' {
			_ = jsonUnmarshal(m.Data, &cm)
		} else if w.command && string(m.Data) == `"ready"` {
			cm.Herd = msgReady
		}
		switch cm.Herd {
		case msgBeat:
			w.lastBeat.Store(time.Now().UnixNano())
			w.beats.Store(true)
			continue
		case msgClosed:
			w.inflight.Add(-cm.N)
			continue
		case msgConn:
			if conn, ok := m.Handle.(netConn); ok {
				c.bg.Add(1)
				go func() {
					defer c.bg.Done()
					c.dispatchConn(cm.L, conn)
				}()
			} else {
				closeHandle(m.Handle)
			}
			continue
		}
		select {
		case c.evs <- wevent{w: w, c: cm, m: m}:
		case <-c.loopDone:
			closeHandle(m.Handle)
			return
		}
	}
}

// waitLoop waits for a worker to exit and reports it once its messages are
// read.
func (c *Cluster) waitLoop(w *wproc) {
	defer c.bg.Done()
	<-w.p.Done()
	w.closeNotify()
	t := time.NewTimer(time.Second)
	select {
	case <-w.readerDone:
	case <-t.C: // a grandchild holds the channel open: stop reading
	}
	t.Stop()
	w.conn.Close()
	<-w.readerDone
	select {
	case c.evs <- wevent{w: w, exit: true, err: w.p.Wait()}:
	case <-c.loopDone:
	}
}

func (c *Cluster) handle(ev wevent) {
	w := ev.w
	if c.handedOver {
		// The next image of this primary sees it; an exit here only
		// lets a Shutdown (if the image is not replaced) end.
		if ev.exit {
			w.exited = true
			delete(c.workers, w.id)
			close(w.doneC)
		}
		return
	}
	if ev.exit {
		c.onExit(w, ev.err)
		return
	}
	switch ev.c.Herd {
	case msgOnline:
		c.emit(w, Event{Kind: EventOnline})
	case msgListening:
		c.emit(w, Event{Kind: EventListening, Addr: ev.c.Addr})
	case msgReady:
		c.markReady(w)
	case msgError:
		w.errMsg = ev.c.Msg
	case msgRecycle:
		if s := c.slotAt(w.slot); s != nil && s.cur == w && !w.draining && !w.recycling && !c.stopping {
			w.recycling = true
			c.log().Info("cluster: recycling worker", "worker", w.id, "pid", w.pid, "reason", ev.c.Msg)
			c.goReplace(w.slot, "recycle: "+ev.c.Msg)
		}
	case msgListen:
		c.listenFor(w, ev.c)
	case msgUser:
		c.emit(w, Event{Kind: EventMessage, Data: ev.c.Data})
	default:
		c.emit(w, Event{Kind: EventMessage, Data: ev.m.Data})
		closeHandle(ev.m.Handle)
	}
}

func (c *Cluster) markReady(w *wproc) {
	if w.isReady || w.exited {
		return
	}
	w.isReady = true
	w.readyAt = time.Now()
	w.lastBeat.Store(w.readyAt.UnixNano())
	close(w.readyC)
	c.emit(w, Event{Kind: EventReady})
	c.publish()
	c.checkBooted()
}

// checkBooted marks the cluster booted (Ready closed) once every initial
// slot has a ready worker.
func (c *Cluster) checkBooted() {
	if c.booted || c.starting || len(c.slots) == 0 {
		return
	}
	for _, s := range c.slots {
		if s.cur == nil || !s.cur.isReady {
			return
		}
	}
	c.booted = true
	close(c.readyC)
	args := []any{"workers", len(c.slots), "policy", c.cfg.Policy.String()}
	if len(c.lns) > 0 {
		addrs := make([]string, len(c.lns))
		for i, s := range c.lns {
			addrs[i] = s.addr.String()
		}
		args = append(args, "listen", strings.Join(addrs, ","))
	}
	c.log().Info("cluster: ready", args...)
}

func (c *Cluster) onExit(w *wproc, err error) {
	w.exited = true
	delete(c.workers, w.id)
	if w.killTimer != nil {
		w.killTimer.Stop()
	}
	w.status = exitStatus(err, w.errMsg)
	c.emit(w, Event{Kind: EventDisconnect})
	c.emit(w, Event{Kind: EventExit, Status: w.status, Expected: w.expected, Reason: w.reason})
	close(w.doneC)
	c.publish()

	s := c.slotAt(w.slot)
	if s != nil && s.next == w {
		s.next = nil
	}
	if s == nil || s.cur != w {
		return // a replacement that failed, an old one that drained, a removed slot
	}
	s.cur = nil
	if c.stopping || w.expected {
		return
	}
	desc := fmt.Sprintf("worker %d (pid %d) %s", w.id, w.pid, w.status)
	if w.reason != "" {
		desc += " (" + w.reason + ")"
	}
	if !c.booted && !w.isReady {
		reason := "exited before it was ready"
		if w.reason != "" {
			reason = w.reason
		}
		be := &BootError{Worker: w.id, PID: w.pid, Status: w.status, Reason: reason}
		c.log().Error(be.Error())
		c.beginStop(be, "boot failure")
		return
	}
	if c.cfg.Respawn != nil && !c.cfg.Respawn(w.status) {
		c.log().Info("cluster: "+desc+"; not respawning (restart policy)", "slot", s.idx)
		if c.allSlotsEmpty() {
			c.beginStop(nil, "every worker has exited")
		}
		return
	}
	if w.isReady && time.Since(w.readyAt) >= c.cfg.MinUptime {
		s.failures = 0 // a stable run: the backoff starts afresh
		if cleanExit(w) {
			// A stable worker that exited cleanly, such as one stopped
			// by hand with kill <pid>: no failure, no crash-loop count,
			// no backoff.
			c.log().Info("cluster: "+desc+" after a stable run; respawning", "slot", s.idx)
			c.respawn(s)
			return
		}
	}
	c.failed(s, desc)
}

// cleanExit reports whether w ended cleanly: with code 0, or by a signal
// that asks a program to stop (SIGTERM, SIGINT, SIGHUP) that the primary
// did not send (it sends those only to a worker it drains, whose exit is
// expected). A crash signal (SIGSEGV, SIGABRT) and a SIGKILL (the
// primary's, the OOM killer's) are failures.
func cleanExit(w *wproc) bool {
	if w.killed {
		return false
	}
	switch w.status.Signal {
	case 0:
		return w.status.Code == 0
	case syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP:
		return true
	}
	return false
}

// allSlotsEmpty reports whether no slot has a worker or a pending respawn.
func (c *Cluster) allSlotsEmpty() bool {
	for _, s := range c.slots {
		if s.cur != nil || s.next != nil || s.timer != nil {
			return false
		}
	}
	return true
}

// failed counts a failure of slot s and respawns it after the backoff,
// unless that makes a crash loop: more than CrashLoopMax failures of all
// slots within CrashLoopWindow, or more than CrashLoopMax failures of s in
// a row (none after a stable run), whatever the backoff.
func (c *Cluster) failed(s *slot, desc string) {
	now := time.Now()
	s.failures++
	var ce *CrashLoopError
	switch {
	case c.crash.Fail(now):
		ce = &CrashLoopError{Failures: c.crash.Count(now), Window: c.crashWindow(), Last: desc}
	case c.crash.InARow(s.failures):
		ce = &CrashLoopError{Failures: s.failures, InARow: true, Slot: s.idx, MinUptime: c.cfg.MinUptime, Last: desc}
	}
	if ce != nil {
		c.log().Error(ce.Error())
		c.beginStop(ce, "crash loop")
		return
	}
	delay := c.backoff.Delay(s.failures)
	c.log().Warn("cluster: "+desc+"; respawning", "slot", s.idx, "in", delay, "failures", s.failures)
	if delay <= 0 {
		c.respawn(s)
		return
	}
	s.timer = time.AfterFunc(delay, func() {
		select {
		case c.reqs <- func() { c.respawn(s) }:
		case <-c.loopDone:
		}
	})
}

func (c *Cluster) crashWindow() time.Duration {
	if c.cfg.CrashLoopWindow > 0 {
		return c.cfg.CrashLoopWindow
	}
	return supervise.DefaultCrashLoopWindow
}

func (c *Cluster) respawn(s *slot) {
	s.timer = nil
	if c.stopping || c.slotAt(s.idx) != s || s.cur != nil {
		return
	}
	s.restarts++
	if _, err := c.spawn(s, false); err != nil {
		c.failed(s, "could not start a worker: "+err.Error())
	}
}

// check enforces readiness deadlines, heartbeats and lifetimes.
// nextCheck returns how long the loop may sleep before check has work: the
// nearest readiness deadline, heartbeat deadline or recycling time, capped
// at checkMax. A heartbeat that arrives meanwhile only moves its deadline
// later, and a Command worker's first heartbeat is seen within checkMax.
func (c *Cluster) nextCheck(now time.Time) time.Duration {
	next := now.Add(checkMax)
	hb := c.cfg.HeartbeatInterval > 0
	for _, w := range c.workers {
		if w.draining || w.killed {
			continue
		}
		switch {
		case !w.isReady:
			next = earliest(next, w.started.Add(c.cfg.ReadyTimeout))
		case hb && (w.beats.Load() || !w.command):
			next = earliest(next, time.Unix(0, w.lastBeat.Load()).Add(c.cfg.HeartbeatTimeout))
		}
		if !w.recycleAt.IsZero() && !w.recycling {
			next = earliest(next, w.recycleAt)
		}
	}
	// check compares with ">": a millisecond past the deadline, and never
	// a busy loop.
	return max(next.Sub(now)+time.Millisecond, time.Millisecond)
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func (c *Cluster) check(now time.Time) {
	if c.handedOver {
		return
	}
	hb := c.cfg.HeartbeatInterval > 0
	for _, w := range c.workers {
		if w.draining || w.killed {
			continue
		}
		switch {
		case !w.isReady:
			if now.Sub(w.started) > c.cfg.ReadyTimeout {
				c.log().Warn("cluster: worker not ready in time; killing it", "worker", w.id, "pid", w.pid, "timeout", c.cfg.ReadyTimeout)
				c.kill(w, fmt.Sprintf("not ready within %v", c.cfg.ReadyTimeout))
			}
		// Go workers of this package always beat, so their clock runs
		// from readiness even if they hang before the first beat; a
		// Command worker is held to heartbeats only once it has sent one.
		case hb && (w.beats.Load() || !w.command) && now.Sub(time.Unix(0, w.lastBeat.Load())) > c.cfg.HeartbeatTimeout:
			silent := now.Sub(time.Unix(0, w.lastBeat.Load())).Round(time.Millisecond)
			c.log().Warn("cluster: worker missed its heartbeat; killing it", "worker", w.id, "pid", w.pid, "silent", silent, "timeout", c.cfg.HeartbeatTimeout)
			c.kill(w, "heartbeat timeout")
		case !w.recycleAt.IsZero() && now.After(w.recycleAt) && !w.recycling && !c.stopping:
			if s := c.slotAt(w.slot); s != nil && s.cur == w {
				w.recycling = true
				c.log().Info("cluster: recycling worker", "worker", w.id, "pid", w.pid, "reason", "max lifetime")
				c.goReplace(w.slot, "recycle: max lifetime")
			}
		}
	}
}

// kill sends SIGKILL to a worker the primary gave up on; its exit counts as
// a failure.
func (c *Cluster) kill(w *wproc, reason string) {
	w.killed = true
	w.reason = reason
	_ = w.p.Kill(syscall.SIGKILL)
}

// stopWorker drains a worker: SIGTERM (Config.StopSignal) now, SIGKILL
// after ShutdownTimeout.
func (c *Cluster) stopWorker(w *wproc, reason string) {
	if w.draining || w.exited {
		return
	}
	w.draining, w.expected = true, true
	if w.reason == "" {
		w.reason = reason
	}
	c.publish()
	stop := c.cfg.StopSignal
	if stop == 0 {
		stop = syscall.SIGTERM
	}
	w.killTimer = killer.Escalation{Signal: stop, Grace: c.cfg.ShutdownTimeout}.Start(c.escalationSender(w))
}

// escalationSender returns what signals w when it is stopped; a SIGKILL it
// delivers (the worker outlived Config.ShutdownTimeout) is logged as a
// warning that names the worker, its pid and the timeout.
func (c *Cluster) escalationSender(w *wproc) func(syscall.Signal) error {
	p := w.p
	return func(sig syscall.Signal) error {
		if sig != syscall.SIGKILL && w.quiesced {
			return signalStopped(w.pid, sig)
		}
		if sig == syscall.SIGKILL {
			select {
			case <-p.Done():
				return os.ErrProcessDone
			default:
			}
			// Before the kill, so that the line precedes the exit it causes.
			c.log().Warn("cluster: worker still running after the shutdown timeout; sending SIGKILL",
				"worker", w.id, "slot", w.slot, "pid", w.pid, "timeout", c.cfg.ShutdownTimeout)
		}
		return p.Kill(sig)
	}
}

// beginStop starts the graceful stop; fatal, if set, is Run's result.
func (c *Cluster) beginStop(fatal error, why string) {
	if fatal != nil && c.fatal == nil {
		c.fatal = fatal
	}
	if c.stopping {
		return
	}
	c.stopping = true
	close(c.stopC)
	if fatal == nil {
		c.log().Info("cluster: stopping", "reason", why, "workers", len(c.workers))
	}
	for _, s := range c.slots {
		if s.timer != nil {
			s.timer.Stop()
		}
	}
	for _, s := range c.lns {
		s.close()
	}
	for _, w := range c.workers {
		c.stopWorker(w, why)
	}
}

// killAll sends SIGKILL to every live worker; on the loop.
func (c *Cluster) killAll() {
	for _, w := range c.workers {
		w.expected = true
		_ = w.p.Kill(syscall.SIGKILL)
	}
}

// publish refreshes the dispatch targets: ready, not draining, by slot.
func (c *Cluster) publish() {
	var live []*wproc
	for _, w := range c.workers {
		if w.isReady && !w.draining && !w.exited {
			live = append(live, w)
		}
	}
	sort.Slice(live, func(i, j int) bool {
		return live[i].slot < live[j].slot || (live[i].slot == live[j].slot && live[i].id < live[j].id)
	})
	c.live.Store(&live)
}

// exitStatus turns Wait's result into an ExitStatus.
func exitStatus(err error, msg string) ExitStatus {
	st := ExitStatus{Err: msg}
	var ee *child.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		st.ExitStatus = ee.ExitStatus
	default:
		st.Code = -1
		if st.Err == "" {
			st.Err = err.Error()
		}
	}
	return st
}
