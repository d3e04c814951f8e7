package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/internal/killer"
	"github.com/herdrun/herd/internal/procfs"
	"github.com/herdrun/herd/internal/supervise"
	"github.com/herdrun/herd/ipc"
)

// Cluster is a cluster's primary: it owns the listeners and the worker
// processes. Create it with New and start it with Run; the other methods
// may be called from any goroutine while Run runs (before, they wait for it
// to start; after, they return ErrNotRunning).
type Cluster struct {
	cfg Config
	fn  WorkerFunc

	runOnce  sync.Once
	reqs     chan func()    // calls to run on the loop goroutine
	evs      chan wevent    // from the per-worker goroutines
	loopDone chan struct{}  // closed when the loop has ended
	done     chan struct{}  // closed when Run returns
	readyC   chan struct{}  // closed when every initial worker is ready
	stopC    chan struct{}  // closed when shutdown begins
	bg       sync.WaitGroup // goroutines Run waits for before returning

	replaceMu  sync.Mutex // one replacement (reload step, recycling) at a time
	reloadMu   sync.Mutex
	reloadCur  *reloadRun // the reload running, if any
	reloadNext *reloadRun // the one queued behind it, if any
	rr         atomic.Uint64
	live       atomic.Pointer[[]*wproc] // ready, not draining: dispatch targets
	handed     atomic.Bool              // Handover was called (and has not failed)

	// Owned by the loop goroutine.
	lns      []*shared
	slots    []*slot
	workers  map[int]*wproc
	nextID   int
	stopping bool
	// stopSignalAt is when the SIGTERM or SIGINT that began the stop was
	// handled; another within DuplicateSignalWindow is the same request.
	stopSignalAt time.Time
	booted       bool
	handedOver   bool // Handover: the workers are the next image's
	starting     bool // the initial workers are being started
	fatal        error
	crash        supervise.CrashLoop
	backoff      supervise.Backoff
}

// slot is a position in the cluster, 0..Workers-1, that one worker fills at
// a time (two during its replacement).
type slot struct {
	idx       int
	cur, next *wproc
	failures  int // consecutive unexpected exits, for the backoff
	restarts  int
	timer     *time.Timer // pending respawn
}

// wproc is the primary's view of one worker process.
type wproc struct {
	id, slot, pid int
	restarts      int
	command       bool // a Config.Command worker, Node-compatible channel
	p             *child.Process
	conn          *ipc.Conn
	started       time.Time
	readyAt       time.Time
	recycleAt     time.Time
	readyC        chan struct{} // closed when ready
	doneC         chan struct{} // closed when its exit has been handled
	readerDone    chan struct{}
	notify        *net.UnixConn // sd_notify socket (Config.NotifySocket)
	notifyDir     string

	lastBeat atomic.Int64 // unix nanoseconds of the last heartbeat
	beats    atomic.Bool  // it has sent at least one
	inflight atomic.Int64 // dispatched connections not yet closed

	// Owned by the loop.
	isReady, draining, expected, killed, recycling, exited bool
	quiesced                                               bool // its group is stopped, holding no connection (quiesce.go)
	reason                                                 string
	errMsg                                                 string
	status                                                 ExitStatus
	killTimer                                              *killer.Kill
}

// New returns a Cluster that runs fn in every worker. cfg's zero fields
// take their documented defaults.
func New(cfg Config, fn WorkerFunc) *Cluster {
	return &Cluster{
		cfg:      cfg.withDefaults(),
		fn:       fn,
		reqs:     make(chan func()),
		evs:      make(chan wevent),
		loopDone: make(chan struct{}),
		done:     make(chan struct{}),
		readyC:   make(chan struct{}),
		stopC:    make(chan struct{}),
		workers:  map[int]*wproc{},
	}
}

// Run runs the cluster. In a worker process (see IsWorker) it runs the
// worker function and exits the process with its status; it never returns.
// A socket-activated process (herd run -p, systemd) is such a worker, the
// only one, over the sockets it inherited, unless Config.Command is set.
// In the primary it opens the listeners (a *ListenError if one cannot be
// opened), starts Config.Workers workers and supervises them until ctx
// ends, SIGTERM or SIGINT arrives or Shutdown is called, then drains them. It
// returns nil after a clean stop, a *BootError when a worker fails to boot at
// start-up, a *CrashLoopError when workers keep failing, or a *ConfigError.
// Run may be called once.
func (c *Cluster) Run(ctx context.Context) error {
	if isClusterWorker() {
		exit(runWorker(ctx, c.cfg, c.fn))
	}
	if c.activatedWorker() {
		exit(runSocketActivated(ctx, c.cfg, c.fn))
	}
	err := errors.New("cluster: Run called twice")
	c.runOnce.Do(func() { err = c.runPrimary(ctx) })
	return err
}

// Ready returns a channel that is closed once every initial worker is
// ready.
func (c *Cluster) Ready() <-chan struct{} { return c.readyC }

// Done returns a channel that is closed when Run has returned.
func (c *Cluster) Done() <-chan struct{} { return c.done }

// do runs f on the loop goroutine and waits for it.
func (c *Cluster) do(f func()) error {
	ran := make(chan struct{})
	select {
	case c.reqs <- func() { f(); close(ran) }:
	case <-c.loopDone:
		return ErrNotRunning
	}
	<-ran
	return nil
}

// Addrs returns the addresses the workers listen on, as bound (port 0
// resolved), in the order of Config.Listen followed by any opened on a
// worker's request.
func (c *Cluster) Addrs() []net.Addr {
	var out []net.Addr
	_ = c.do(func() {
		for _, s := range c.lns {
			out = append(out, s.addr)
		}
	})
	return out
}

// WorkerInfo describes a live worker process.
type WorkerInfo struct {
	// ID, Slot and PID are the worker's, as in Event.
	ID, Slot, PID int
	// State is "starting", "ready" or "draining".
	State    string
	Started  time.Time     // when the worker was started
	Uptime   time.Duration // how long it has run, at the Workers call
	Restarts int           // respawns of this slot before this worker
	RSS      int64         // resident memory in bytes, from /proc
	CPU      time.Duration // user+system CPU time, from /proc
	// Inflight is the number of open dispatched connections (PolicyDispatch).
	Inflight int64
}

// Workers returns the live workers, by slot then ID, with their resource
// use read from /proc.
func (c *Cluster) Workers() []WorkerInfo {
	var out []WorkerInfo
	_ = c.do(func() {
		for _, w := range c.workers {
			st := "starting"
			switch {
			case w.draining:
				st = "draining"
			case w.isReady:
				st = "ready"
			}
			out = append(out, WorkerInfo{ID: w.id, Slot: w.slot, PID: w.pid, State: st, Started: w.started, Restarts: w.restarts, Inflight: w.inflight.Load()})
		}
	})
	now := time.Now()
	for i := range out {
		out[i].Uptime = now.Sub(out[i].Started)
		if s, err := procfs.ReadStat(out[i].PID); err == nil {
			out[i].RSS, out[i].CPU = s.RSS(), s.CPU()
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Slot != out[j].Slot {
			return out[i].Slot < out[j].Slot
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Broadcast sends v, encoded with encoding/json, to every live worker
// (Worker.Recv). A Command worker gets v as it is on its Node channel. It
// returns the errors of the sends that failed, joined.
func (c *Cluster) Broadcast(ctx context.Context, v any) error {
	var ws []*wproc
	if err := c.do(func() {
		for _, w := range c.workers {
			ws = append(ws, w)
		}
	}); err != nil {
		return err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var errs []error
	for _, w := range ws {
		if err := w.sendUser(ctx, data); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Send sends v to the worker with the given ID.
func (c *Cluster) Send(ctx context.Context, id int, v any) error {
	var w *wproc
	if err := c.do(func() { w = c.workers[id] }); err != nil {
		return err
	}
	if w == nil {
		return errors.New("cluster: no live worker " + itoa(id))
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return w.sendUser(ctx, data)
}

func (w *wproc) sendUser(ctx context.Context, data json.RawMessage) error {
	if w.command {
		return w.conn.Send(ctx, data)
	}
	return w.conn.Send(ctx, ctl{Herd: msgUser, Data: data})
}

// Scale sets the number of workers to n (at least 1). New workers start at
// once; surplus ones, the highest slots, drain as in a shutdown.
func (c *Cluster) Scale(n int) error {
	if n < 1 {
		return &ConfigError{Field: "Workers", Reason: "Scale needs at least 1 worker, got " + itoa(n)}
	}
	var err error
	if e := c.do(func() { err = c.scale(n) }); e != nil {
		return e
	}
	return err
}

// Shutdown stops the cluster gracefully: the primary closes its copies of the
// listeners and every worker gets SIGTERM (its context is cancelled), then
// SIGKILL after Config.ShutdownTimeout. If ctx ends first, the remaining
// workers get SIGKILL at once and Shutdown returns ctx.Err(). It returns
// when Run has finished (or would, for a Cluster whose Run has returned).
func (c *Cluster) Shutdown(ctx context.Context) error {
	if err := c.do(func() { c.beginStop(nil, "shutdown") }); err != nil {
		<-c.done
		return nil
	}
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
	}
	_ = c.do(c.killAll)
	<-c.done
	return ctx.Err()
}

// Recycle replaces the worker with the given ID as Worker.Recycle would: a
// new worker is started in its slot and, once it is ready, the old one
// drains. reason appears in the primary's log. It returns an error if no
// live, non-draining worker has that ID; a worker already being recycled is
// left alone.
func (c *Cluster) Recycle(id int, reason string) error {
	var err error
	if e := c.do(func() {
		w := c.workers[id]
		if w == nil || w.exited || w.draining {
			err = fmt.Errorf("cluster: no live worker %d", id)
			return
		}
		if s := c.slotAt(w.slot); s != nil && s.cur == w && !w.recycling && !c.stopping {
			w.recycling = true
			c.log().Info("cluster: recycling worker", "worker", w.id, "pid", w.pid, "reason", reason)
			c.goReplace(w.slot, "recycle: "+reason)
		}
	}); e != nil {
		return e
	}
	return err
}
