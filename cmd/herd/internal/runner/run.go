package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/herdrun/herd/cluster"
	"github.com/herdrun/herd/cmd/herd/internal/app"
	"github.com/herdrun/herd/cmd/herd/internal/logsink"
	"github.com/herdrun/herd/cmd/herd/internal/nodeshim"
	"golang.org/x/sys/unix"
)

// BootError reports an app whose instance failed while it started: it
// exited, or was not ready in time. Tail holds its last stderr lines.
type BootError struct {
	App  string
	Err  error // the *cluster.BootError
	Tail []string
	// Cause, if set, is why herd killed the instance itself, such as
	// its memory over App.MaxMemory before it was ready.
	Cause string
}

// Error returns a line naming the app and the cause.
func (e *BootError) Error() string {
	if e.Cause != "" {
		return fmt.Sprintf("app %s failed to start: %v: herd killed it: %s", e.App, e.Err, e.Cause)
	}
	return fmt.Sprintf("app %s failed to start: %v", e.App, e.Err)
}

// Unwrap returns the cluster's error.
func (e *BootError) Unwrap() error { return e.Err }

// ErroredError reports an app that kept crashing, and that herd stopped:
// more than MaxRestarts unstable exits of one instance in a row (Err is an
// *UnstableError), or more than MaxRestarts unexpected exits of all within
// RestartWindow (Err is the *cluster.CrashLoopError).
type ErroredError struct {
	App  string
	Err  error // an *UnstableError or the *cluster.CrashLoopError
	Tail []string
}

// Error returns a line naming the app and the last failure, and what to
// do about it.
func (e *ErroredError) Error() string {
	return fmt.Sprintf("app %s errored: %v; fix what makes it exit (its output says why), "+
		"or let herd keep restarting it longer with a higher --max-restarts (max_restarts; -1 never gives up)", e.App, e.Err)
}

// UnstableError reports an instance that kept failing soon after it
// started: more than App.MaxRestarts exits in a row, each before it had
// been ready for App.MinUptime.
type UnstableError struct {
	Instance  int           // the slot, 0..N-1
	Exits     int           // exits in a row
	MinUptime time.Duration // App.MinUptime
	Last      string        // the last exit, e.g. "pid 99 exited with code 1"
}

// Error returns a line with the instance, the count and the last exit.
func (e *UnstableError) Error() string {
	return fmt.Sprintf("instance %d exited %d times in a row, each before it had been ready for %v (--min-uptime, min_uptime); stopped restarting (last: %s)",
		e.Instance, e.Exits, e.MinUptime, e.Last)
}

// Unwrap returns the cluster's error.
func (e *ErroredError) Unwrap() error { return e.Err }

// ExitedError reports an app whose instances all exited without being
// restarted (restart policy on-failure or never), at least one of them with
// a failure.
type ExitedError struct {
	App      string
	Failures int
	Last     string
	Tail     []string
}

// Error returns a line with the count and the last failure.
func (e *ExitedError) Error() string {
	return fmt.Sprintf("app %s: %d instance(s) failed and were not restarted; last: %s", e.App, e.Failures, e.Last)
}

// Guard, when not nil, rewrites the command of every instance of a
// Runner created afterwards, given the app's directory, kill timeout and
// stop signal: the herd command runs each instance under a guard process
// (internal/guard) with it. Set it before New, and only in a program whose
// binary can act as that guard.
var Guard func(cmd []string, dir string, grace time.Duration, stop syscall.Signal) []string

// Option changes how New sets up a Runner.
type Option func(*options)

type options struct {
	noSignals bool
	listeners []*os.File
	adopt     *Handed
}

// Handed is what a Runner hands to the next image of its process (herd
// update replaces the daemon with exec, keeping its children): see
// Runner.Handover and WithAdopted.
type Handed struct {
	// Workers are the app's instances, with their descriptors.
	Workers []cluster.HandedWorker
	// Listeners are the app's listening sockets, in the order of
	// App.Ports; pass them with WithListeners.
	Listeners []*os.File
	// Broker is the path of the socket on which the Node shim's relay
	// asks for ports (cluster mode), named in the instances' environment.
	Broker string
	// Pending holds, per worker ID, the start of the line each instance
	// was writing on stdout and stderr (no newline yet), which the next
	// image's line writers go on from.
	Pending map[int][2][]byte
}

// WithAdopted makes Run take back the instances h.Workers (see
// cluster.Config.Adopt) instead of starting new ones, and serve the Node
// shim's requests at h.Broker again. Give h.Listeners with WithListeners.
func WithAdopted(h Handed) Option { return func(o *options) { o.adopt = &h } }

// WithListeners makes the app share the listening sockets files (one per
// port of App.Ports, in order) instead of opening its ports: the sockets
// of a runner in another process that is being replaced (herd update), so
// that no connection is refused meanwhile. See cluster.Addr.File.
func WithListeners(files []*os.File) Option { return func(o *options) { o.listeners = files } }

// WithoutSignals makes Run handle no signal: a process that runs many
// apps (the daemon) drives each with Reload, Scale and Shutdown instead.
func WithoutSignals() Option { return func(o *options) { o.noSignals = true } }

// Relay, when not empty, is the path of a binary that acts as the Node
// shim's listen relay (nodeshim.RelayMain) when its first argument is
// nodeshim.RelayArg. Without it, a Node app in cluster mode cannot ask herd
// for its ports. Set it before New.
var Relay string

// Runner runs one app.App. Create it with New; Run runs it, and Reload,
// Scale and Shutdown drive it meanwhile.
type Runner struct {
	app  app.App // with its defaults filled in
	logs *logsink.Logs
	c    *cluster.Cluster
	tail *logsink.Tail
	log  interface {
		Info(string, ...any)
		Warn(string, ...any)
	}

	mu      sync.Mutex
	started map[int]forked // worker ID -> when and which, until it took a socket
	warned  bool
	inodes  map[uint64]bool // the shared sockets, once found (sockwatch)
	// failedExits counts unexpected exits with a failure; lastFailure
	// describes the last one.
	failedExits int
	lastFailure string
	shimPath    string
	nodeShim    bool
	preopen     bool             // the ports are opened before the instances start
	broker      *nodeshim.Broker // answers the shim's listen requests
	readyPIDs   map[int]bool     // the instances that are ready, until they exit
	// pending holds the handed-over start of a line per adopted worker
	// ID (Handed.Pending), until output gives it to its writers.
	pending   map[int][2][]byte
	instances int

	// Per worker ID, until it exits: its slot, when it was ready and its
	// line writers (flushed at its exit, for a last line without newline).
	insts map[int]*inst
	// Per slot, the worker the cluster respawns when it exits (cur) and a
	// replacement starting beside it (next), and the unstable exits in a
	// row of the slot.
	cur, next, unstable map[int]int
	// memKilled holds, per worker ID, why herd killed a worker that was
	// not ready yet (its memory).
	memKilled map[int]string
	// errored is set when an instance crash-loops (see onExit); Run then
	// returns it in an *ErroredError.
	errored *UnstableError
	bg      sync.WaitGroup // the Shutdown that errored starts
}

// inst is one worker process of the app.
type inst struct {
	slot     int
	readyAt  time.Time
	out, err *logsink.LineWriter
}

// New returns a Runner for a (which must have passed Validate; its zero
// fields take their defaults, see app.App.WithDefaults) writing to logs.
// It opens the app's log files (a *logsink.LogFileError if one cannot be
// opened) and writes the Node shim to its cache file when the app needs
// it.
func New(a app.App, logs *logsink.Logs, opts ...Option) (*Runner, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	if logs == nil {
		logs = &logsink.Logs{}
	}
	a = a.WithDefaults()
	if err := a.Check(); err != nil {
		return nil, err
	}
	files := logsink.Files{ // the app's own log files, if any
		App: a.Name, Log: a.LogFile, Out: a.OutFile, Error: a.ErrorFile,
		Rotate:   logsink.RotateOptions{MaxSize: a.LogMaxSize, Keep: a.LogKeep, MaxAge: a.LogMaxAge},
		Prefixed: a.LogFormat == app.LogFormatHerd,
	}
	if a.LogDateFormat != "" {
		files.Date, _ = logsink.ParseDateFormat(a.LogDateFormat) // Check parsed it
	}
	logs, err := logs.ForApp(files)
	if err != nil {
		return nil, err
	}
	r := &Runner{app: a, logs: logs, tail: logsink.NewTail(12), started: map[int]forked{}, instances: a.Count(),
		insts: map[int]*inst{}, cur: map[int]int{}, next: map[int]int{}, unstable: map[int]int{}, memKilled: map[int]string{}, readyPIDs: map[int]bool{}}
	lg := logs.Logger(a.Name)
	r.log = lg
	for _, w := range a.Warnings {
		lg.Warn(w)
	}
	for _, d := range logs.CreatedDirs() {
		lg.Info("created the log folder " + d)
	}
	cfg := cluster.Config{
		Workers: r.instances,
		Env:     append([]string{"HERD_APP=" + a.Name}, a.Env...),
		// The instance number, for the program; the cluster's own
		// variables are left out: the program is not a Go cluster
		// worker, and a herd or cluster program it runs must not think so.
		WorkerEnv: func(slot int) []string {
			n := strconv.Itoa(slot)
			return []string{"HERD_INSTANCE=" + n, "NODE_APP_INSTANCE=" + n}
		},
		NoClusterEnv:      true,
		Dir:               a.Dir,
		ReadyTimeout:      a.ReadyTimeout,
		ShutdownTimeout:   a.KillTimeout,
		StopSignal:        a.Signal(),
		HeartbeatInterval: -1,
		BackoffInitial:    a.BackoffInitial,
		BackoffMax:        a.BackoffMax,
		MinUptime:         a.MinUptime,
		CrashLoopMax:      a.MaxRestarts,
		CrashLoopWindow:   a.RestartWindow,
		Logger:            lg,
		OnEvent:           r.onEvent,
		Output:            r.output,
		NoSignals:         o.noSignals,
	}
	// The restart policy; and once the app is errored (see onExit, which
	// runs first), no instance is restarted while herd stops it.
	cfg.Respawn = func(s cluster.ExitStatus) bool {
		r.mu.Lock()
		errored := r.errored != nil
		r.mu.Unlock()
		return !errored && a.Respawn(s.Code)
	}
	cmd := append([]string(nil), a.Command...)
	if a.ClusterMode() {
		// A node started by herd asks for its ports itself (the shim, on
		// demand, at the host it gives listen); any other program gets them
		// open before it starts, as do all when the host is given or the
		// listeners were handed over (WithListeners).
		handed := len(a.Ports) > 0 && len(o.listeners) == len(a.Ports)
		r.preopen = !a.IsNode() || a.Host != "" || handed
		if r.preopen {
			for i, p := range a.Ports {
				ad := cluster.Addr{Address: net.JoinHostPort(a.Host, strconv.Itoa(p)), Name: nodeshim.FDName(p)}
				if handed {
					ad.File = o.listeners[i]
				}
				cfg.Listen = append(cfg.Listen, ad)
			}
		}
		if len(a.Ports) > 0 {
			cfg.Env = append(cfg.Env, "PORT="+strconv.Itoa(a.Ports[0]))
		}
		shim, err := nodeshim.Path("")
		if err != nil {
			logs.Release()
			return nil, err
		}
		r.shimPath = shim
		if o.adopt != nil && o.adopt.Broker != "" {
			r.broker, err = nodeshim.ReopenBroker(o.adopt.Broker, r.openListener)
			if err != nil {
				lg.Warn("the instances taken over cannot ask for new ports: " + err.Error())
			}
		}
		if r.broker == nil {
			r.broker, err = nodeshim.NewBroker("", r.openListener)
		}
		if err != nil {
			logs.Release()
			return nil, err
		}
		cfg.Env = append(cfg.Env, nodeshim.EnvSocket+"="+r.broker.Path(), nodeshim.EnvStopSignal+"="+unix.SignalName(a.Signal()))
		if Relay != "" {
			cfg.Env = append(cfg.Env, nodeshim.EnvRelay+"="+Relay)
		}
		if a.IsNode() {
			r.nodeShim = true
			cmd = append([]string{cmd[0], "--require", shim}, cmd[1:]...)
		} else {
			// Any node the command starts (npm start, a script) loads it
			// too, and asks herd for its ports through the broker.
			cfg.Env = append(cfg.Env, "NODE_OPTIONS="+strings.TrimSpace(getenv("NODE_OPTIONS")+` --require "`+shim+`"`))
		}
	}
	cfg.Env = append(cfg.Env, "HERD_READY="+string(a.Ready))
	switch {
	case a.Ready == app.ReadyNotify:
		cfg.NotifySocket = true
	case a.Ready == app.ReadyStart:
		cfg.ReadyOnStart = true
	case a.Ready == app.ReadyListen && !a.ClusterMode():
		cfg.ReadyOnStart = true // nothing to listen on in fork mode
	case a.Ready == app.ReadyListen:
		// Any other program is ready once its process tree waits for
		// connections on a shared socket, as /proc shows. So is a node
		// app whose server runs in a process it forked (the shim reports
		// only from the node herd started), whichever comes first.
		cfg.ReadyProbe = r.probeAccepting
	}
	// Guard: each instance under a guard process (see Guard).
	if Guard != nil {
		cmd = Guard(cmd, a.Dir, a.KillTimeout, a.Signal())
	}
	// End guard.
	cfg.Command = cmd
	if o.adopt != nil {
		cfg.Adopt = o.adopt.Workers
		r.pending = o.adopt.Pending
	}
	r.c = cluster.New(cfg, nil)
	return r, nil
}

// output gives each instance its own prefixed line writers; onEvent
// flushes them when the instance exits.
func (r *Runner) output(id, slot int) (io.Writer, io.Writer) {
	in := &inst{slot: slot,
		out: r.logs.Writer(r.app.Name, slot, logsink.StreamStdout, nil),
		err: r.logs.Writer(r.app.Name, slot, logsink.StreamStderr, r.tail)}
	r.mu.Lock()
	if p, ok := r.pending[id]; ok { // an adopted instance's line in progress
		_, _ = in.out.Write(p[0])
		_, _ = in.err.Write(p[1])
		delete(r.pending, id)
	}
	r.insts[id] = in
	r.mu.Unlock()
	return in.out, in.err
}

// onEvent runs on the cluster's goroutine: it must not block.
func (r *Runner) onEvent(e cluster.Event) {
	switch e.Kind {
	case cluster.EventFork:
		r.mu.Lock()
		if r.app.ClusterMode() && !e.Adopted {
			r.started[e.Worker] = forked{at: e.Time, pid: e.PID, slot: e.Slot}
		}
		if r.cur[e.Slot] == 0 {
			r.cur[e.Slot] = e.Worker
		} else {
			r.next[e.Slot] = e.Worker // a replacement (reload, recycle)
		}
		r.mu.Unlock()
	case cluster.EventListening:
		// The shim's {"herd":"listening"} arrives as the cluster's own
		// listening event.
		r.mu.Lock()
		delete(r.started, e.Worker)
		r.mu.Unlock()
	case cluster.EventMessage:
		var m struct {
			Herd string `json:"herd"`
		}
		if json.Unmarshal(e.Data, &m) == nil && m.Herd == "listening" {
			r.mu.Lock()
			delete(r.started, e.Worker)
			r.mu.Unlock()
		}
	case cluster.EventExit:
		r.onExit(e)
	case cluster.EventReady:
		r.mu.Lock()
		if in := r.insts[e.Worker]; in != nil {
			in.readyAt = e.Time
		}
		r.readyPIDs[e.PID] = true
		if r.next[e.Slot] == e.Worker { // the replacement takes over
			r.cur[e.Slot], r.next[e.Slot] = e.Worker, 0
		}
		r.mu.Unlock()
		if r.probed() {
			r.mu.Lock()
			delete(r.started, e.Worker) // the probe saw it accept
			r.mu.Unlock()
		}
		r.log.Info("instance ready", "instance", e.Slot, "pid", e.PID)
	}
}

// onExit handles the exit of a worker: it flushes the worker's last
// output line, counts a failure of a restart policy that does not restart,
// and applies the crash-loop rule of consecutive unstable exits: an
// instance that exits more than MaxRestarts times in a row, each time
// before it had been ready for MinUptime, makes the app errored, whatever
// the backoff and the number of instances. The cluster gives up by the
// same rule (a *cluster.CrashLoopError with InARow); this one runs first,
// on the exit event, so that Run returns the *UnstableError that names
// herd's flags. A clean exit after MinUptime (kill <pid>) starts the count
// afresh, as any stable run does, and the cluster logs it at Info.
func (r *Runner) onExit(e cluster.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	in := r.insts[e.Worker]
	delete(r.insts, e.Worker)
	delete(r.readyPIDs, e.PID)
	delete(r.started, e.Worker)
	if in != nil {
		// The cluster reports the exit after the output pipes are
		// drained: what is left is a last line without a newline.
		in.out.Flush()
		in.err.Flush()
	}
	if !e.Expected && e.Status.Code != 0 && !r.app.Respawn(e.Status.Code) {
		r.failedExits++
		r.lastFailure = fmt.Sprintf("instance %d (pid %d) %s", e.Slot, e.PID, e.Status)
	}
	if r.next[e.Slot] == e.Worker {
		r.next[e.Slot] = 0 // a replacement that failed; the old one stays
		return
	}
	if r.cur[e.Slot] != e.Worker {
		return // an old worker that drained
	}
	r.cur[e.Slot] = 0
	if e.Expected || !r.app.Respawn(e.Status.Code) || r.app.MaxRestarts < 0 {
		return
	}
	if in != nil && !in.readyAt.IsZero() && e.Time.Sub(in.readyAt) >= r.app.MinUptime {
		r.unstable[e.Slot] = 0 // a stable run: the count starts afresh
		return
	}
	r.unstable[e.Slot]++
	if r.unstable[e.Slot] <= r.app.MaxRestarts || r.errored != nil {
		return
	}
	r.errored = &UnstableError{Instance: e.Slot, Exits: r.unstable[e.Slot], MinUptime: r.app.MinUptime,
		Last: fmt.Sprintf("pid %d %s", e.PID, e.Status)}
	r.log.Warn("app errored: " + r.errored.Error() + "; stopping")
	// onEvent must not block: the cluster's loop serves Shutdown.
	r.bg.Go(func() { _ = r.c.Shutdown(context.Background()) })
}

// Run runs the app in the foreground until ctx ends, SIGTERM or SIGINT
// arrives (graceful stop: the app's StopSignal, SIGTERM by default, to
// every instance, SIGKILL to its process group after KillTimeout; not with
// WithoutSignals), or Shutdown is called. SIGHUP reloads, SIGTTIN
// and SIGTTOU add and remove an instance. It returns nil after a clean stop,
// a *cluster.ListenError for a port that cannot be opened, a *BootError for
// an instance that fails at start, an *ErroredError for a crash loop (see
// app.App.MaxRestarts). It
// closes the app's log files (see Close) when it returns.
func (r *Runner) Run(ctx context.Context) error {
	defer r.Close() // the app's log files
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	if r.app.ClusterMode() {
		wg.Go(func() { r.watchSockets(wctx) })
	}
	if r.app.MaxMemory > 0 {
		wg.Go(func() { r.watchMemory(wctx, r.app.MemoryInterval) })
	}
	mode := "fork"
	if r.app.ClusterMode() {
		mode = "cluster"
	}
	r.log.Info(fmt.Sprintf("starting %d instance(s) in %s mode", r.instances, mode), "command", strings.Join(r.app.Command, " "))
	err := r.c.Run(ctx)
	r.bg.Wait()
	r.mu.Lock()
	errored := r.errored
	r.mu.Unlock()
	var be *cluster.BootError
	var ce *cluster.CrashLoopError
	switch {
	case errored != nil && (err == nil || errors.As(err, &ce)):
		return &ErroredError{App: r.app.Name, Err: errored, Tail: r.tail.Lines()}
	case errors.As(err, &be):
		time.Sleep(100 * time.Millisecond) // let the last output lines arrive
		r.mu.Lock()
		cause := r.memKilled[be.Worker]
		r.mu.Unlock()
		return &BootError{App: r.app.Name, Err: err, Tail: r.tail.Lines(), Cause: cause}
	case errors.As(err, &ce):
		time.Sleep(100 * time.Millisecond)
		return &ErroredError{App: r.app.Name, Err: err, Tail: r.tail.Lines()}
	case err == nil && ctx.Err() == nil:
		r.mu.Lock()
		n, last := r.failedExits, r.lastFailure
		r.mu.Unlock()
		if n > 0 && r.app.Restart != app.RestartAlways {
			return &ExitedError{App: r.app.Name, Failures: n, Last: last, Tail: r.tail.Lines()}
		}
	}
	return err
}

// Reload replaces the instances one at a time, each new one ready before
// the old one stops; see cluster.Cluster.Reload.
func (r *Runner) Reload(ctx context.Context) error { return r.c.Reload(ctx) }

// Scale sets the number of instances.
func (r *Runner) Scale(n int) error { return r.c.Scale(n) }

// Shutdown stops the app gracefully and waits for Run to return.
func (r *Runner) Shutdown(ctx context.Context) error { return r.c.Shutdown(ctx) }

// Handover freezes the app for an exec of this process (herd update) and
// returns what the next image needs to take it back with WithAdopted and
// WithListeners: see cluster.Cluster.Handover. The line an instance was
// in the middle of writing goes in Handed.Pending. The Runner is of no
// use afterwards.
func (r *Runner) Handover(ctx context.Context) (Handed, error) {
	var h Handed
	if r.app.ClusterMode() && len(r.app.Ports) > 0 {
		fs, err := r.c.ListenerFiles()
		if err != nil {
			return h, err
		}
		h.Listeners = fs
	}
	ws, err := r.c.Handover(ctx)
	if err != nil {
		for _, f := range h.Listeners {
			f.Close()
		}
		return h, err
	}
	h.Workers = ws
	r.mu.Lock()
	for id, in := range r.insts {
		out, errb := in.out.Take(), in.err.Take()
		if len(out) > 0 || len(errb) > 0 {
			if h.Pending == nil {
				h.Pending = map[int][2][]byte{}
			}
			h.Pending[id] = [2][]byte{out, errb}
		}
	}
	r.mu.Unlock()
	if r.broker != nil {
		h.Broker = r.broker.Path()
	}
	return h, nil
}

// Ready returns a channel closed once every initial instance is ready.
func (r *Runner) Ready() <-chan struct{} { return r.c.Ready() }

// Addrs returns the bound addresses in cluster mode.
func (r *Runner) Addrs() []net.Addr { return r.c.Addrs() }

// ListenerFiles returns duplicates of the app's listening sockets, in the
// order of App.Ports, for WithListeners in another process; the caller
// closes them.
func (r *Runner) ListenerFiles() ([]*os.File, error) { return r.c.ListenerFiles() }

// Instances returns the live instances.
func (r *Runner) Instances() []cluster.WorkerInfo { return r.c.Workers() }

// Close releases the app's log files (app.App.LogFile, OutFile,
// ErrorFile): each is closed once no other app of the same Logs still uses
// it. Run calls it when it returns; call it for a Runner that is never
// run. Lines written after it are dropped from those files. Calling it
// again does nothing.
func (r *Runner) Close() error {
	if r.broker != nil {
		r.broker.Close()
	}
	return r.logs.Release()
}
