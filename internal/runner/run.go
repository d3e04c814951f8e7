package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/herdrun/herd/cluster"
	"github.com/herdrun/herd/internal/nodeshim"
)

// instanceScript sets the per-instance variables from the cluster slot and
// execs the program; exec keeps the pid, so LISTEN_PID stays right.
// The cluster package's own variables are removed: the program is not a Go
// cluster worker, and a herd or cluster program it runs must not think so.
const instanceScript = `if [ -n "$HERD_APP_DIR" ]; then cd "$HERD_APP_DIR" || exit 126; fi; ` +
	`HERD_INSTANCE=$HERD_CLUSTER_SLOT; NODE_APP_INSTANCE=$HERD_CLUSTER_SLOT; export HERD_INSTANCE NODE_APP_INSTANCE; ` +
	`unset HERD_CLUSTER_WORKER HERD_CLUSTER_SLOT HERD_CLUSTER_PARENT HERD_CLUSTER_POLICY HERD_CLUSTER_ADDRS HERD_CLUSTER_MAX_REQS HERD_APP_DIR; ` +
	`exec "$0" "$@"`

// BootError reports an app whose instance failed while it started: it
// exited, or was not ready in time. Tail holds its last stderr lines.
type BootError struct {
	App  string
	Err  error // the *cluster.BootError
	Tail []string
}

// Error returns a line naming the app and the cause.
func (e *BootError) Error() string {
	return fmt.Sprintf("app %s failed to start: %v", e.App, e.Err)
}

// Unwrap returns the cluster's error.
func (e *BootError) Unwrap() error { return e.Err }

// ErroredError reports an app that kept crashing: more than MaxRestarts
// unexpected exits within RestartWindow. herd stopped it.
type ErroredError struct {
	App  string
	Err  error // the *cluster.CrashLoopError
	Tail []string
}

// Error returns a line naming the app and the last failure.
func (e *ErroredError) Error() string {
	return fmt.Sprintf("app %s errored: %v", e.App, e.Err)
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

// Runner runs one App. Create it with New; Run runs it, and Reload, Scale and
// Shutdown drive it meanwhile.
type Runner struct {
	app  App
	logs *Logs
	c    *cluster.Cluster
	tail *tail
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
	instances   int
}

// New returns a Runner for app (which must have passed Validate) writing to
// logs. It opens the app's log files (a *LogFileError if one cannot be
// opened) and writes the Node shim to its cache file when the app needs it.
func New(app App, logs *Logs) (*Runner, error) {
	if logs == nil {
		logs = &Logs{}
	}
	logs, err := logs.forApp(&app) // the app's own log files, if any
	if err != nil {
		return nil, err
	}
	r := &Runner{app: app, logs: logs, tail: &tail{n: 12}, started: map[int]forked{}, instances: app.instances()}
	lg := logs.Logger(app.Name)
	r.log = lg
	if len(app.Unsupported) > 0 {
		lg.Warn("ecosystem keys herd does not support are ignored: " + strings.Join(app.Unsupported, ", "))
	}
	cfg := cluster.Config{
		Workers:           r.instances,
		Env:               append([]string{"HERD_APP=" + app.Name}, app.Env...),
		ReadyTimeout:      app.ReadyTimeout,
		ShutdownTimeout:   orDefault(app.KillTimeout, 10*time.Second),
		HeartbeatInterval: -1,
		BackoffInitial:    app.BackoffInitial,
		BackoffMax:        app.BackoffMax,
		MinUptime:         app.MinUptime,
		CrashLoopMax:      app.MaxRestarts,
		CrashLoopWindow:   app.RestartWindow,
		Logger:            lg,
		OnEvent:           r.onEvent,
		Output:            r.output,
	}
	if app.Restart != "" && app.Restart != "always" || len(app.StopExitCodes) > 0 {
		cfg.Respawn = func(s cluster.ExitStatus) bool { return app.respawn(s.Code) }
	}
	if app.Dir != "" {
		cfg.Env = append(cfg.Env, "HERD_APP_DIR="+app.Dir)
	}
	cmd := append([]string(nil), app.Command...)
	if len(app.Ports) > 0 {
		for _, p := range app.Ports {
			cfg.Listen = append(cfg.Listen, cluster.Addr{Address: net.JoinHostPort(app.Host, strconv.Itoa(p)), Name: nodeshim.FDName(p)})
		}
		cfg.Env = append(cfg.Env, "PORT="+strconv.Itoa(app.Ports[0]))
		shim, err := nodeshim.Path("")
		if err != nil {
			return nil, err
		}
		r.shimPath = shim
		if app.isNode() {
			r.nodeShim = true
			cmd = append([]string{cmd[0], "--require", shim}, cmd[1:]...)
		} else {
			// Any node the command starts (npm start, a script) loads it
			// too; the shim does nothing in a process whose pid is not
			// LISTEN_PID.
			cfg.Env = append(cfg.Env, "NODE_OPTIONS="+strings.TrimSpace(getenv("NODE_OPTIONS")+` --require "`+shim+`"`))
		}
	}
	ready := app.Ready
	if ready == "" {
		ready = ReadyListen
	}
	cfg.Env = append(cfg.Env, "HERD_READY="+ready)
	switch {
	case ready == ReadyNotify:
		cfg.NotifySocket = true
	case ready == ReadyStart:
		cfg.ReadyOnStart = true
	case ready == ReadyListen && len(app.Ports) == 0:
		cfg.ReadyOnStart = true // nothing to listen on in fork mode
	case ready == ReadyListen && !r.nodeShim:
		// Any other program is ready once it waits for connections on
		// the shared socket, as /proc shows.
		cfg.ReadyProbe = r.probeAccepting
	}
	cfg.Command = append([]string{"/bin/sh", "-c", instanceScript}, cmd...)
	r.c = cluster.New(cfg, nil)
	return r, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// output gives each instance its own prefixed line writers.
func (r *Runner) output(id, slot int) (io.Writer, io.Writer) {
	return &lineWriter{l: r.logs, app: r.app.Name, instance: slot, stream: "stdout"},
		&lineWriter{l: r.logs, app: r.app.Name, instance: slot, stream: "stderr", tail: r.tail}
}

// onEvent runs on the cluster's goroutine: it must not block.
func (r *Runner) onEvent(e cluster.Event) {
	switch e.Kind {
	case cluster.EventFork:
		if len(r.app.Ports) > 0 {
			r.mu.Lock()
			r.started[e.Worker] = forked{at: e.Time, pid: e.PID, slot: e.Slot}
			r.mu.Unlock()
		}
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
		r.mu.Lock()
		delete(r.started, e.Worker)
		if !e.Expected && e.Status.Code != 0 && !r.app.respawn(e.Status.Code) {
			r.failedExits++
			r.lastFailure = fmt.Sprintf("instance %d (pid %d) %s", e.Slot, e.PID, e.Status)
		}
		r.mu.Unlock()
	case cluster.EventReady:
		if r.probed() {
			r.mu.Lock()
			delete(r.started, e.Worker) // the probe saw it accept
			r.mu.Unlock()
		}
		r.log.Info("instance ready", "instance", e.Slot, "pid", e.PID)
	}
}

// Run runs the app in the foreground until ctx ends, SIGTERM or SIGINT
// arrives (graceful stop: SIGTERM to every instance, SIGKILL to its process
// group after KillTimeout), or Shutdown is called. SIGHUP reloads, SIGTTIN
// and SIGTTOU add and remove an instance. It returns nil after a clean stop,
// a *cluster.ListenError for a port that cannot be opened, a *BootError for
// an instance that fails at start, an *ErroredError for a crash loop. It
// closes the app's log files (see Close) when it returns.
func (r *Runner) Run(ctx context.Context) error {
	defer r.Close() // the app's log files
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	if len(r.app.Ports) > 0 {
		wg.Go(func() { r.watchSockets(wctx) })
	}
	if r.app.MaxMemory > 0 {
		wg.Go(func() { r.watchMemory(wctx, orDefault(r.app.MemoryInterval, time.Second)) })
	}
	mode := "fork"
	if len(r.app.Ports) > 0 {
		mode = "cluster"
	}
	r.log.Info(fmt.Sprintf("starting %d instance(s) in %s mode", r.instances, mode), "command", strings.Join(r.app.Command, " "))
	err := r.c.Run(ctx)
	var be *cluster.BootError
	var ce *cluster.CrashLoopError
	switch {
	case errors.As(err, &be):
		time.Sleep(100 * time.Millisecond) // let the last output lines arrive
		return &BootError{App: r.app.Name, Err: err, Tail: r.tail.get()}
	case errors.As(err, &ce):
		time.Sleep(100 * time.Millisecond)
		return &ErroredError{App: r.app.Name, Err: err, Tail: r.tail.get()}
	case err == nil && ctx.Err() == nil:
		r.mu.Lock()
		n, last := r.failedExits, r.lastFailure
		r.mu.Unlock()
		if n > 0 && r.app.Restart != "" && r.app.Restart != "always" {
			return &ExitedError{App: r.app.Name, Failures: n, Last: last, Tail: r.tail.get()}
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

// Ready returns a channel closed once every initial instance is ready.
func (r *Runner) Ready() <-chan struct{} { return r.c.Ready() }

// Addrs returns the bound addresses in cluster mode.
func (r *Runner) Addrs() []net.Addr { return r.c.Addrs() }

// Instances returns the live instances.
func (r *Runner) Instances() []cluster.WorkerInfo { return r.c.Workers() }
