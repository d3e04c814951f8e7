package runner

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/herdrun/herd/cmd/herd/internal/app"
	"github.com/herdrun/herd/internal/sockwatch"
	"golang.org/x/sys/unix"
)

// forked is an instance in cluster mode that has not been seen taking its
// socket yet.
type forked struct {
	at   time.Time
	pid  int
	slot int
}

// probed reports whether readiness comes from probeAccepting.
func (r *Runner) probed() bool {
	return r.app.ClusterMode() && !r.nodeShim && r.app.Ready == app.ReadyListen
}

// listenInodes returns the inodes of the app's shared sockets: those of its
// ports, found once in /proc/net and then kept (they live as long as the
// cluster), and without ports those of every address the cluster opened
// so far on the instances' request, looked up each time.
func (r *Runner) listenInodes() (map[uint64]bool, error) {
	if len(r.app.Ports) == 0 {
		var ports []int
		for _, a := range r.c.Addrs() {
			if ta, ok := a.(*net.TCPAddr); ok {
				ports = append(ports, ta.Port)
			}
		}
		if len(ports) == 0 {
			return nil, sockwatch.ErrNoSocket
		}
		return sockwatch.ListenInodes(ports)
	}
	r.mu.Lock()
	m := r.inodes
	r.mu.Unlock()
	if m != nil {
		return m, nil
	}
	// Without r.mu: the cluster's loop, which answers ListenerFiles, takes
	// it in onEvent.
	m = r.sharedInodes()
	if len(m) < len(r.app.Ports) {
		// Not every port is open yet (a node asks for its own): look in
		// /proc/net, which also sees sockets the cluster did not open.
		var err error
		if m, err = sockwatch.ListenInodes(r.app.Ports); err != nil {
			return nil, err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inodes == nil {
		r.inodes = m
	}
	return r.inodes, nil
}

// sharedInodes returns the inodes of the cluster's shared sockets, from
// the sockets themselves: reading /proc/net/tcp walks the kernel's whole
// connection table, milliseconds on a busy host, once per app.
func (r *Runner) sharedInodes() map[uint64]bool {
	fs, err := r.c.ListenerFiles()
	if err != nil {
		return nil
	}
	m := map[uint64]bool{}
	for _, f := range fs {
		var st unix.Stat_t
		if unix.Fstat(int(f.Fd()), &st) == nil {
			m[st.Ino] = true
		}
		f.Close()
	}
	return m
}

// accepting reports whether pid's process tree waits for connections on
// the app's sockets.
func (r *Runner) accepting(pid int) bool {
	ino, err := r.listenInodes()
	return err == nil && sockwatch.Accepting(pid, ino)
}

// probeAccepting is the cluster's ReadyProbe in cluster mode: it polls
// /proc until the instance's process tree waits for connections on a
// shared socket (in an epoll set, or blocked in accept), every 2 ms at
// first and every 25 ms after a while, or until the instance is ready by
// another signal. For a node under the shim, whose own message says when
// its server listens, the probe is only the fallback for a server in a
// process the node started: it first looks after shimProbeAfter, then
// every shimProbeEvery. Each look reads a few files per process of the
// tree, which is most of the daemon's work while 20 nodes start on a
// loaded machine.
func (r *Runner) probeAccepting(ctx context.Context, pid int) error {
	wait, most, look := 2*time.Millisecond, 25*time.Millisecond, true
	if r.nodeShim {
		wait, most, look = shimProbeAfter, shimProbeEvery, false
	}
	for {
		r.mu.Lock()
		ready := r.readyPIDs[pid] // by another signal (the shim's message)
		r.mu.Unlock()
		if ready || (look && r.accepting(pid)) {
			return nil
		}
		look = true
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(wait*5/4, most)
	}
}

// shimProbeAfter and shimProbeEvery pace probeAccepting for a node app
// under the shim (see there).
const (
	shimProbeAfter = 500 * time.Millisecond
	shimProbeEvery = 250 * time.Millisecond
)

// watchSockets warns once when an instance in cluster mode has not taken
// its socket after NoSocketWarning: a Node app whose server never listened
// (the shim reports it), or any other program that is not waiting for
// connections on the socket (sockwatch).
func (r *Runner) watchSockets(ctx context.Context) {
	after := r.app.NoSocketWarning
	t := time.NewTicker(min(after/4, time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			r.mu.Lock()
			var pending, late []forked
			for id, f := range r.started {
				if now.Sub(f.at) <= after {
					continue
				}
				delete(r.started, id)
				if r.nodeShim {
					late = append(late, f) // the shim would have told
				} else {
					pending = append(pending, f)
				}
			}
			r.mu.Unlock()
			// Programs other than Node: look in /proc, outside the lock.
			for _, f := range pending {
				if !r.accepting(f.pid) {
					late = append(late, f)
				}
			}
			r.mu.Lock()
			warn := len(late) > 0 && !r.warned
			if warn {
				r.warned = true
			}
			r.mu.Unlock()
			if !warn {
				continue
			}
			switch {
			case len(r.app.Ports) == 0:
				r.log.Warn(fmt.Sprintf("the app has not listened on any port after %v: does it call listen()? (cluster mode with no port: "+
					"herd sets no PORT; give one with -p, -e PORT= or the file's env)", after), "instance", late[0].slot, "pid", late[0].pid)
			case r.nodeShim:
				r.log.Warn(fmt.Sprintf("the app has not taken its socket after %v: does it call listen() on port %d? (PORT is set)", after, r.app.Ports[0]),
					"instance", late[0].slot, "pid", late[0].pid)
			default:
				r.log.Warn(fmt.Sprintf("the app is not accepting connections on its socket after %v: does it serve on the socket herd passes "+
					"(fd 3, LISTEN_FDS), or bind port %d itself?", after, r.app.Ports[0]), "instance", late[0].slot, "pid", late[0].pid)
			}
		}
	}
}
