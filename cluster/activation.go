package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/herdrun/herd/internal/sdnotify"
	"github.com/herdrun/herd/ipc"
)

// Socket activation. A program of this package may be started by a
// supervisor that has opened its listeners already and passes them as fds
// 3, 4, ... with LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID set to the
// program's own pid: `herd run -p PORT`, systemd, or any activation-aware
// parent. Such a process must neither become a primary (binding the port
// again fails: the supervisor holds it) nor fork workers of its own (the
// supervisor runs the instances). Run then serves as the only worker over
// the inherited sockets and exits, as in a worker:
//
//   - Worker.Listen returns the inherited socket that matches the address:
//     the Config.Listen entry whose Name is the socket's LISTEN_FDNAMES
//     entry, or whose address has the socket's port (and its host, unless
//     either is a wildcard) or unix path; an entry with port 0 takes the
//     first inherited socket left of its kind; the bound address itself
//     always matches.
//   - With a channel from the parent (NODE_CHANNEL_FD; herd run gives every
//     instance one) the worker speaks the protocol of this package's
//     primary on it: {"herd":"ready"} on its first Listen (Config.ManualReady:
//     on Worker.Ready), heartbeats, Send and Recv. herd run counts the first
//     as ready under --ready message or notify. Without a channel, Ready sends
//     READY=1 to $NOTIFY_SOCKET (sd_notify) if set, Send goes nowhere and an
//     address that matches no inherited socket fails with ErrNoListener.
//   - SIGTERM and SIGINT cancel the worker's context, and Worker.Serve drains.
//   - Slot is $HERD_INSTANCE (herd run's instance number), else 0, and ID
//     is Slot+1. Config's supervision fields (Workers, Policy, timeouts,
//     recycling) are the supervisor's business and are ignored.
//
// A Cluster with Config.Command (such as herd run's own) is a supervisor of
// other programs and is always a primary.

// activated reports whether this process was socket-activated: LISTEN_PID
// is its own pid and LISTEN_FDS is at least 1.
func activated() bool {
	pid, err := strconv.Atoi(os.Getenv(envListenPD))
	n, _ := strconv.Atoi(os.Getenv(envListenN))
	return err == nil && pid == os.Getpid() && n > 0
}

// activatedWorker reports whether Run serves as a socket-activated worker.
func (c *Cluster) activatedWorker() bool {
	return c.fn != nil && len(c.cfg.Command) == 0 && activated()
}

// runSocketActivated is Run in a socket-activated process. It returns the exit
// status.
func runSocketActivated(ctx context.Context, cfg Config, fn WorkerFunc) int {
	cfg = cfg.withDefaults()
	w := newWorker(&cfg)
	w.slot, _ = strconv.Atoi(os.Getenv("HERD_INSTANCE"))
	w.id = w.slot + 1
	n, _ := strconv.Atoi(os.Getenv(envListenN))
	w.files = takeActivation(n, true)
	w.specs = inheritedSpecs(w.files, strings.Split(os.Getenv(envListenNm), ":"), cfg.Listen)
	conn, err := ipc.FromEnv(nil)
	if errors.Is(err, ipc.ErrNoChannel) {
		conn, err = standInChannel()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "cluster (socket-activated, pid %d): %v\n", os.Getpid(), err)
		return 2
	}
	return w.run(ctx, conn, fn)
}

// inheritedSpecs describes the inherited sockets, by position, with the
// Config.Listen entry each one serves.
func inheritedSpecs(files []*os.File, names []string, listen []Addr) []addrSpec {
	specs := make([]addrSpec, len(files))
	bound := make([]net.Addr, len(files))
	for i, f := range files {
		if i < len(names) {
			specs[i].Name = names[i]
		}
		ln, err := net.FileListener(f) // a duplicate, to read the address
		if err != nil {
			continue // not a listening socket: nothing matches it
		}
		bound[i] = ln.Addr()
		ln.Close()
		specs[i].Net, specs[i].Addr, specs[i].Bound = bound[i].Network(), bound[i].String(), bound[i].String()
	}
	taken := make([]bool, len(files))
	claim := func(a Addr, i int) {
		taken[i] = true
		specs[i].Net, specs[i].Addr = a.Network, a.Address
		if specs[i].Net == "" {
			specs[i].Net = "tcp"
		}
	}
	done := make([]bool, len(listen))
	for _, match := range []func(a Addr, name string, b net.Addr) bool{
		func(a Addr, name string, _ net.Addr) bool { return a.Name != "" && a.Name == name },
		func(a Addr, _ string, b net.Addr) bool { return addrMatches(a, b, false) },
		func(a Addr, _ string, b net.Addr) bool { return addrMatches(a, b, true) },
	} {
		for j, a := range listen {
			for i := range files {
				if done[j] || taken[i] || bound[i] == nil || !match(a, specs[i].Name, bound[i]) {
					continue
				}
				claim(a, i)
				done[j] = true
			}
		}
	}
	return specs
}

// addrMatches reports whether the configured address a is served by a
// socket bound to b: same unix path, or same TCP port and host (either a
// wildcard matches any). With anyPort, a's port 0 matches any TCP port.
func addrMatches(a Addr, b net.Addr, anyPort bool) bool {
	network := a.Network
	if network == "" {
		network = "tcp"
	}
	switch b := b.(type) {
	case *net.UnixAddr:
		return !anyPort && strings.HasPrefix(network, "unix") && a.Address == b.Name
	case *net.TCPAddr:
		if !strings.HasPrefix(network, "tcp") {
			return false
		}
		host, port, err := net.SplitHostPort(a.Address)
		if err != nil {
			return false
		}
		p, err := net.LookupPort(network, port)
		if err != nil || anyPort != (p == 0) || !anyPort && p != b.Port {
			return false
		}
		ip := net.ParseIP(host)
		return host == "" || b.IP.IsUnspecified() || ip != nil && (ip.IsUnspecified() || ip.Equal(b.IP)) ||
			host == "localhost" && b.IP.IsLoopback()
	}
	return false
}

// standInChannel returns a channel whose other end stands in for the
// primary a socket-activated process does not have: it turns "ready" into
// sd_notify's READY=1, refuses requests for other listeners and drops the
// rest.
func standInChannel() (*ipc.Conn, error) {
	opts := &ipc.Options{Mode: ipc.ModeFast}
	peer, f, err := ipc.Pair(opts)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	conn, err := ipc.New(f, opts)
	if err != nil {
		peer.Close()
		return nil, err
	}
	go standIn(peer)
	return conn, nil
}

// standIn answers the worker's control messages on peer until the channel
// ends.
func standIn(peer *ipc.Conn) {
	defer peer.Close()
	for {
		m, err := peer.Recv(context.Background())
		if err != nil {
			return
		}
		closeHandle(m.Handle)
		var c ctl
		_ = json.Unmarshal(m.Data, &c)
		switch c.Herd {
		case msgReady:
			_ = sdNotify("READY=1")
		case msgListen:
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = peer.Send(ctx, ctl{Herd: msgListenErr, Seq: c.Seq,
				Msg: fmt.Sprintf("%v: %s %s is not among the sockets this process inherited (LISTEN_FDS)", ErrNoListener, c.Net, c.Addr)})
			cancel()
		}
	}
}

// sdNotify sends state to $NOTIFY_SOCKET (systemd's sd_notify protocol), if
// set.
func sdNotify(state string) error { return sdnotify.Send(os.Getenv("NOTIFY_SOCKET"), state) }
