package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/ipc"
)

// A primary can replace its own image with a newer binary (exec, keeping
// its pid) without touching its workers, which stay its children:
//
//	old image: ws, _ := c.Handover(ctx)   // descriptors of every worker
//	           ListenerFiles, write ws down, clear close-on-exec, child.Reexec
//	new image: New(Config{Command: ..., Listen: [{File: ...}], Adopt: ws}, nil).Run
//
// The new Cluster waits for the adopted workers, reads their output from
// where the old image stopped, talks to them over their channels, and
// supervises them as its own; a worker that exited in between is reaped
// and restarted by the restart policy.

// HandedWorker is one worker process handed from one image of a primary to
// the next: what Handover returns and Config.Adopt takes.
type HandedWorker struct {
	// ID, Slot and PID are the worker's, as in Event.
	ID, Slot, PID int
	Restarts      int       // respawns of its slot before it
	Started       time.Time // when it was started
	Ready         bool      // it was ready (not draining)
	// Draining: it was being stopped; the new image stops it again (its
	// stop signal, then SIGKILL after ShutdownTimeout) and does not
	// count it in its slot.
	Draining bool
	// Stdout and Stderr are the read ends of its output pipes, nil if it
	// has none (the primary's own output, or it exited).
	Stdout, Stderr *os.File
	// Channel is the primary's end of its Node-compatible channel.
	Channel *os.File
	// Notify is its sd_notify socket (Config.NotifySocket) and NotifyDir
	// that socket's directory, removed when the worker exits.
	Notify    *os.File
	NotifyDir string
}

// ErrHandedOver is returned by Handover when the cluster stops or was
// already handed over.
var ErrHandedOver = errors.New("cluster: already handed over")

// Handover freezes the cluster for an exec of this process (see
// child.Reexec) and returns its live workers with close-on-exec
// duplicates of their descriptors (clear the flag on those the new image
// needs). It first waits, bounded by ctx, for a replacement in progress
// (reload step, recycling) to end. From then on the cluster starts,
// stops, signals and respawns nothing, and reports no event: the workers
// are the next image's. Only Command workers can be handed over. The
// Cluster is of no use afterwards: replace the image.
//
// Messages from the workers are not carried over: this image's reader of
// each channel goes on reading until the exec, and what it reads after
// Handover (or had read and not yet handled) is dropped. A message a
// worker sends in that window, a few milliseconds, is lost: for a ready
// worker that is only its own process.send, which nothing here uses; for
// a worker not ready yet it can be its readiness message, and the next
// image then counts it ready only by another signal (ReadyProbe) or
// stops it after ReadyTimeout. A message larger than one read (64 KiB)
// that straddles the exec leaves the next image reading from its middle:
// that reader fails on the first line and ends the channel; the worker
// runs on, unheard.
func (c *Cluster) Handover(ctx context.Context) ([]HandedWorker, error) {
	if c.handed.Swap(true) {
		return nil, ErrHandedOver
	}
	for !c.replaceMu.TryLock() {
		select {
		case <-ctx.Done():
			c.handed.Store(false)
			return nil, fmt.Errorf("cluster: handover: a replacement is under way: %w", ctx.Err())
		case <-c.loopDone:
			c.handed.Store(false)
			return nil, ErrNotRunning
		case <-time.After(10 * time.Millisecond):
		}
	}
	// replaceMu stays locked: no replacement may begin.
	var ws []*wproc
	var err error
	if e := c.do(func() {
		switch {
		case c.stopping || c.handedOver:
			err = ErrHandedOver
			return
		case len(c.cfg.Command) == 0:
			err = &ConfigError{Field: "Command", Reason: "only Command workers can be handed over"}
			return
		}
		c.handedOver = true
		for _, s := range c.slots {
			if s.timer != nil {
				s.timer.Stop()
			}
		}
		for _, w := range c.workers {
			if !w.exited {
				ws = append(ws, w)
			}
		}
	}); e != nil {
		c.replaceMu.Unlock()
		c.handed.Store(false)
		return nil, e
	}
	if err != nil {
		c.replaceMu.Unlock()
		c.handed.Store(false)
		return nil, err
	}
	out := make([]HandedWorker, 0, len(ws))
	for _, w := range ws {
		hw := HandedWorker{ID: w.id, Slot: w.slot, PID: w.pid, Restarts: w.restarts, Started: w.started,
			Ready: w.isReady && !w.draining, Draining: w.draining}
		hw.Stdout, hw.Stderr, _ = w.p.Detach()
		if f, err := w.conn.File(); err == nil {
			hw.Channel = f
		}
		if w.notify != nil {
			if f, err := w.notify.File(); err == nil {
				hw.Notify, hw.NotifyDir = f, w.notifyDir
			}
		}
		out = append(out, hw)
	}
	return out, nil
}

// adoptable sorts Config.Adopt: the current worker of each slot, and the
// rest (draining ones, and those of slots beyond Config.Workers).
func (c *Cluster) adoptable() (bySlot map[int]HandedWorker, rest []HandedWorker) {
	bySlot = map[int]HandedWorker{}
	for _, hw := range c.cfg.Adopt {
		if _, dup := bySlot[hw.Slot]; dup || hw.Draining || hw.Slot < 0 || hw.Slot >= c.cfg.Workers {
			hw.Draining = true
			rest = append(rest, hw)
			continue
		}
		bySlot[hw.Slot] = hw
	}
	return bySlot, rest
}

// addAdopted adds a slot whose worker is hw, or a new worker if hw cannot
// be adopted.
func (c *Cluster) addAdopted(hw HandedWorker) {
	s := &slot{idx: len(c.slots), restarts: hw.Restarts}
	c.slots = append(c.slots, s)
	if _, err := c.adopt(s, hw); err != nil {
		c.log().Warn("cluster: cannot adopt a worker; starting a new one", "slot", s.idx, "pid", hw.PID, "err", err)
		if _, err := c.spawn(s, false); err != nil {
			c.spawnFailed(s, err)
		}
	}
}

// adoptDraining takes back a worker that was being stopped and stops it.
func (c *Cluster) adoptDraining(hw HandedWorker) {
	w, err := c.adopt(nil, hw)
	if err != nil {
		c.log().Warn("cluster: cannot adopt a draining worker", "pid", hw.PID, "err", err)
		return
	}
	c.stopWorker(w, "draining when handed over")
}

// adopt makes hw a worker of this primary, the current one of s (nil for
// none); on the loop, as spawn.
func (c *Cluster) adopt(s *slot, hw HandedWorker) (*wproc, error) {
	closeAll := func() {
		for _, f := range []*os.File{hw.Stdout, hw.Stderr, hw.Channel, hw.Notify} {
			if f != nil {
				f.Close()
			}
		}
	}
	if hw.Channel == nil {
		closeAll()
		return nil, errors.New("no channel descriptor")
	}
	now := time.Now()
	started := hw.Started
	if started.IsZero() {
		started = now
	}
	w := &wproc{
		id: hw.ID, slot: hw.Slot, pid: hw.PID, restarts: hw.Restarts, command: true,
		started: started, readyC: make(chan struct{}), doneC: make(chan struct{}), readerDone: make(chan struct{}),
	}
	w.lastBeat.Store(now.UnixNano())
	if c.cfg.MaxLifetime > 0 {
		w.recycleAt = started.Add(c.cfg.MaxLifetime)
	}
	conn, err := ipc.New(hw.Channel, &ipc.Options{})
	hw.Channel.Close()
	hw.Channel = nil
	if err != nil {
		closeAll()
		return nil, err
	}
	if hw.Notify != nil {
		nc, err := net.FileConn(hw.Notify)
		hw.Notify.Close()
		hw.Notify = nil
		if uc, ok := nc.(*net.UnixConn); err == nil && ok {
			w.notify, w.notifyDir = uc, hw.NotifyDir
		} else if nc != nil {
			nc.Close()
		}
	}
	var stdout, stderr = c.cfg.Stdout, c.cfg.Stderr
	if c.cfg.Output != nil {
		if o, e := c.cfg.Output(w.id, w.slot); o != nil || e != nil {
			if o != nil {
				stdout = o
			}
			if e != nil {
				stderr = e
			}
		}
	}
	if stdout == nil {
		stdout = os.Stdout
	}
	if stderr == nil {
		stderr = os.Stderr
	}
	p, err := child.Adopt(context.Background(), hw.PID, hw.Stdout, hw.Stderr,
		&child.Options{Stdout: stdout, Stderr: stderr, KillGrace: c.cfg.ShutdownTimeout})
	if err != nil {
		conn.Close()
		w.closeNotify()
		return nil, err
	}
	w.p, w.conn = p, conn
	if w.id > c.nextID {
		c.nextID = w.id
	}
	c.workers[w.id] = w
	if s != nil {
		s.cur = w
	}
	c.emit(w, Event{Kind: EventFork, Adopted: true})
	c.bg.Add(2)
	go c.readLoop(w)
	go c.waitLoop(w)
	if w.notify != nil {
		c.bg.Add(1)
		go c.notifyLoop(w)
	}
	switch {
	case hw.Ready || c.cfg.ReadyOnStart:
		c.markReady(w)
	case c.cfg.ReadyProbe != nil:
		c.bg.Add(1)
		go c.probeLoop(w)
	}
	return w, nil
}
