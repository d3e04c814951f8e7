package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/herdrun/herd/internal/sdnotify"
)

// Config configures a Daemon.
type Config struct {
	// Home is the state directory.
	Home Home
	// Version is the daemon's version; a client of another version is
	// refused (see VersionHeader).
	Version string
	// Log receives the daemon's own lines; nil discards them.
	Log *slog.Logger
	// Resurrect restores the saved process list once the socket listens.
	Resurrect bool
	// NotifySocket is systemd's $NOTIFY_SOCKET, if any: Run sends it
	// READY=1 once it serves (after Resurrect), and STOPPING=1.
	NotifySocket string
	// TakeoverReady, set in a daemon that herd update starts, receives
	// "ok" once the handed-over apps run, or "error: ..." (then Run
	// returns); the handover's ListenFDs are valid descriptors.
	TakeoverReady *os.File
	// ExecState, set in a daemon that herd update started by replacing
	// the image of the running one (exec, same pid), is the path of the
	// state that image wrote (ExecStateEnv): Run takes its socket, its pid
	// file and its apps' instances from it, and answers the update.
	ExecState string
	// MetricsAddr, if set, is a loopback HOST:PORT on which the daemon
	// serves Prometheus metrics at MetricsPath (see MetricsHandler). Run
	// refuses an address that is not loopback (CheckMetricsAddr); while
	// the port is taken (by the daemon this one replaces), it tries again
	// each second.
	MetricsAddr string
	// OnServe, if set, runs in its own goroutine once the socket listens
	// (the Home is this daemon's); its ctx ends when the daemon begins to
	// stop, and Run waits for it to return. herd daemon serves the web
	// dashboard from it.
	OnServe func(ctx context.Context)
	// PassEnv are KEY=VALUE variables given to the daemon that herd
	// update starts in this one's place, such as the MetricsEnv that
	// made this one serve its metrics.
	PassEnv []string
}

// ErrRunning is wrapped by the error of a Run whose Home already has a
// running daemon.
var ErrRunning = errors.New("a daemon is already running")

// Daemon supervises many apps and serves the control protocol on its
// socket. Create it with New and call Run.
type Daemon struct {
	cfg     Config
	log     *slog.Logger
	hub     *hub
	started time.Time

	mu     sync.Mutex
	apps   []*proc
	nextID int

	cpuMu sync.Mutex
	cpu   map[int]cpuSample

	evMu sync.Mutex
	evs  map[chan Event]struct{}

	bg     sync.WaitGroup // the runs of the apps
	killed chan struct{}  // closed by POST /v1/kill
	kill   sync.Once
	saveMu sync.Mutex

	metricsOnce sync.Once // MetricsHandler's registry, made once
	metrics     http.Handler

	// The socket and the pid file's lock, which an update hands over.
	srv      *http.Server
	ln       *net.UnixListener
	pf       *os.File
	served   chan error
	updateMu sync.Mutex
	updating atomic.Bool    // the socket is being handed over
	gone     atomic.Bool    // handed over: the socket and pid file are the next daemon's
	execing  bool           // guarded by mu: herd update in place has taken the list
	conns    conns          // the control socket's connections (quiet.go)
	streams  followers      // the followers of GET /v1/logs (follow.go)
	streamWG sync.WaitGroup // their goroutines
	closing  chan struct{}  // closed when Run ends: followers stop
}

// Event is one line of GET /v1/events: a change of an app's state.
type Event struct {
	Time   time.Time `json:"time"`
	App    string    `json:"app"`
	Event  string    `json:"event"` // launching, online, stopped, errored, reloaded, scaled, deleted
	Detail string    `json:"detail,omitempty"`
}

// New returns a Daemon for cfg.
func New(cfg Config) *Daemon {
	lg := cfg.Log
	if lg == nil {
		lg = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Daemon{cfg: cfg, log: lg, hub: newHub(cfg.Home.Logs), started: time.Now(), cpu: map[int]cpuSample{},
		evs: map[chan Event]struct{}{}, killed: make(chan struct{}), closing: make(chan struct{})}
}

func (d *Daemon) event(app, ev, detail string) {
	e := Event{Time: time.Now(), App: app, Event: ev, Detail: detail}
	d.evMu.Lock()
	defer d.evMu.Unlock()
	for ch := range d.evs {
		select {
		case ch <- e:
		default:
		}
	}
}

// Run takes the state directory (its pid file locked, so that one daemon
// runs per Home), listens on the socket, tells systemd it is ready
// (READY=1 to $NOTIFY_SOCKET, if set), and serves until ctx ends or a
// client sends POST /v1/kill; then it stops every app gracefully and
// returns. It returns an error wrapping ErrRunning if another daemon holds
// the Home.
func (d *Daemon) Run(ctx context.Context) error {
	h := d.cfg.Home
	if d.cfg.MetricsAddr != "" {
		if err := CheckMetricsAddr(d.cfg.MetricsAddr); err != nil {
			return err
		}
	}
	if err := h.Prepare(); err != nil {
		return err
	}
	var st *execState
	if d.cfg.ExecState != "" {
		s, err := readExecState(d.cfg.ExecState)
		if err == nil {
			err = d.restoreExec(s)
		}
		if err != nil {
			// The apps' processes, if any, die with this process.
			return fmt.Errorf("taking over from the daemon's earlier image: %w", err)
		}
		st = &s
	} else if err := d.take(); err != nil {
		if d.cfg.TakeoverReady != nil {
			fmt.Fprintf(d.cfg.TakeoverReady, "error: %v\n", err)
		}
		return err
	}
	defer func() {
		d.pf.Close()
		if !d.gone.Load() {
			os.Remove(h.Pid)
		}
	}()
	d.log.Info("daemon started", "pid", os.Getpid(), "version", d.cfg.Version, "socket", h.Sock)
	d.srv = &http.Server{Handler: d.handler(), ReadHeaderTimeout: 10 * time.Second,
		ConnState: d.conns.connState, ConnContext: d.conns.connContext,
		ErrorLog: slog.NewLogLogger(d.log.Handler(), slog.LevelWarn)}
	d.served = make(chan error, 1)
	d.serve()
	stopServing := d.serveExtras(ctx)
	defer stopServing()
	if st != nil {
		d.execTakeover(ctx, *st)
	} else if d.cfg.TakeoverReady != nil {
		err := d.takeover(ctx)
		if err != nil {
			fmt.Fprintf(d.cfg.TakeoverReady, "error: %v\n", err)
		} else {
			fmt.Fprintf(d.cfg.TakeoverReady, "ok\n")
		}
		d.cfg.TakeoverReady.Close()
		if err != nil {
			d.log.Warn("takeover failed: " + err.Error())
			d.stopAll()
			d.ln.Close()
			d.bg.Wait()
			return err
		}
	} else if d.cfg.Resurrect {
		res, err := d.resurrect(ctx)
		switch {
		case err != nil:
			d.log.Warn("resurrect: " + err.Error())
		default:
			if res.Note != "" {
				d.log.Warn("resurrect: " + res.Note)
			}
			for _, r := range res.Results {
				if !r.OK {
					d.log.Warn("resurrect: " + r.Error)
				}
			}
		}
	}
	_ = sdNotify(d.cfg.NotifySocket, "READY=1\nMAINPID="+strconv.Itoa(os.Getpid()))
wait:
	for {
		select {
		case <-ctx.Done():
			d.log.Info("stopping: " + context.Cause(ctx).Error())
			break wait
		case <-d.killed:
			d.log.Info("stopping: herd kill")
			break wait
		case err := <-d.served:
			if d.updating.Load() || d.gone.Load() {
				continue // the socket was handed over (or is taken back)
			}
			d.log.Warn("serving ended", "err", err)
			break wait
		}
	}
	if !d.gone.Load() {
		_ = sdNotify(d.cfg.NotifySocket, "STOPPING=1")
	}
	stopServing()
	d.stopAll()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = d.srv.Shutdown(sctx)
	d.bg.Wait()
	close(d.closing)
	d.streamWG.Wait()
	d.log.Info("daemon stopped")
	return nil
}

// take locks the pid file and listens on the socket.
func (d *Daemon) take() error {
	h := d.cfg.Home
	pf, err := os.OpenFile(h.Pid, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if err := unix.Flock(int(pf.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		pf.Close()
		b, _ := os.ReadFile(h.Pid)
		return fmt.Errorf("%w in %s (pid %s)", ErrRunning, h.Dir, string(trimSpace(b)))
	}
	_ = pf.Truncate(0)
	if _, err := pf.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		pf.Close()
		return err
	}
	_ = os.Remove(h.Sock) // a dead daemon's: the lock says none runs
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", h.Sock)
	syscall.Umask(old)
	if err == nil {
		err = os.Chmod(h.Sock, 0o600)
	}
	if err != nil {
		if ln != nil {
			ln.Close()
		}
		pf.Close()
		return err
	}
	d.ln = ln.(*net.UnixListener)
	d.ln.SetUnlinkOnClose(true)
	d.pf = pf
	return nil
}

// serve serves the socket in the background; its end goes to d.served.
func (d *Daemon) serve() {
	srv, ln, served := d.srv, d.ln, d.served
	d.conns.pmu.Lock()
	d.conns.ln = ln
	d.conns.pmu.Unlock()
	go func() { served <- srv.Serve(&credListener{Listener: ln, log: d.log, gate: d.conns.gate}) }()
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

// stopAll stops every app at once, each gracefully.
func (d *Daemon) stopAll() {
	d.mu.Lock()
	ps := append([]*proc(nil), d.apps...)
	d.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Go(func() {
			p.op.Lock()
			defer p.op.Unlock()
			_ = d.stop(context.Background(), p)
		})
	}
	wg.Wait()
}

// credListener refuses connections from other users (SO_PEERCRED) and logs
// each refusal.
type credListener struct {
	net.Listener
	log  *slog.Logger
	gate func() // blocks while accepting is paused
}

// Accept returns the next connection from a process of this uid.
func (l *credListener) Accept() (net.Conn, error) {
	for {
		if l.gate != nil {
			l.gate()
		}
		c, err := l.Listener.Accept()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue // woken by quiet: wait at the gate
		}
		if err != nil {
			return nil, err
		}
		uc, ok := c.(*net.UnixConn)
		if !ok {
			c.Close()
			continue
		}
		cred, err := peerCred(uc)
		if err != nil {
			l.log.Warn("refused a connection: cannot read its credentials", "err", err)
			c.Close()
			continue
		}
		if int(cred.Uid) != os.Getuid() {
			l.log.Warn("refused a connection from another user", "uid", cred.Uid, "pid", cred.Pid)
			c.Close()
			continue
		}
		return c, nil
	}
}

func peerCred(c *net.UnixConn) (*unix.Ucred, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	return cred, cerr
}

// sdNotify sends state to the socket path (systemd's sd_notify), if set.
func sdNotify(path, state string) error { return sdnotify.Send(path, state) }

// writeJSON writes v with status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, ErrorBody{Error: err.Error()})
}
