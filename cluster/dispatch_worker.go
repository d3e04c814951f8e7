package cluster

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"
)

// dispatchListener is a worker's listener under PolicyDispatch: Accept
// returns the connections the primary passes over the channel.
type dispatchListener struct {
	w     *Worker
	idx   int
	addr  net.Addr
	conns chan net.Conn

	once   sync.Once
	closed chan struct{}
	taken  bool // returned by Listen already
}

// dispatchListener returns the listener for position i, once.
func (w *Worker) dispatchListener(i int) (net.Listener, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	d := w.dispatchFor(i)
	if d.taken {
		return nil, fmt.Errorf("cluster: %s %s: already listening in this worker (PolicyDispatch allows one listener per address)", w.specs[i].Net, w.specs[i].Addr)
	}
	d.taken = true
	return d, nil
}

// dispatchFor returns (creating) the listener for position i; w.mu held.
func (w *Worker) dispatchFor(i int) *dispatchListener {
	if d := w.dispatch[i]; d != nil {
		return d
	}
	d := &dispatchListener{w: w, idx: i, conns: make(chan net.Conn, 4096), closed: make(chan struct{})}
	if i < len(w.specs) {
		d.addr = specAddr(w.specs[i])
	}
	w.dispatch[i] = d
	return d
}

// deliver hands a dispatched connection to its listener, or back to the
// primary if that listener is closed.
func (w *Worker) deliver(i int, h any) {
	c, ok := h.(net.Conn)
	if !ok {
		closeHandle(h)
		return
	}
	w.mu.Lock()
	d := w.dispatchFor(i)
	w.mu.Unlock()
	select {
	case <-d.closed:
		w.giveBack(i, c)
		return
	default:
	}
	select {
	case d.conns <- &trackedConn{Conn: c, w: w}:
	case <-d.closed:
		w.giveBack(i, c)
	}
}

// giveBack returns a connection this worker will not serve to the primary,
// which passes it to another worker; the client never notices.
func (w *Worker) giveBack(i int, c net.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = w.conn.SendHandle(ctx, ctl{Herd: msgConn, L: i}, c)
	c.Close()
	w.connClosed()
}

// Accept returns the next connection the primary dispatched to this worker.
func (d *dispatchListener) Accept() (net.Conn, error) {
	select {
	case c := <-d.conns:
		return c, nil
	case <-d.closed:
		return nil, net.ErrClosed
	}
}

// Close stops Accept. Connections already dispatched here but not accepted
// go back to the primary for another worker.
func (d *dispatchListener) Close() error {
	d.shut()
	for {
		select {
		case c := <-d.conns:
			tc := c.(*trackedConn)
			d.w.giveBack(d.idx, tc.Conn)
		default:
			return nil
		}
	}
}

func (d *dispatchListener) shut() { d.once.Do(func() { close(d.closed) }) }

// Addr returns the shared address.
func (d *dispatchListener) Addr() net.Addr { return d.addr }

// trackedConn reports its Close to the primary, which keeps count of each
// worker's open connections to pick the least loaded.
type trackedConn struct {
	net.Conn
	w    *Worker
	once sync.Once
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.w.connClosed)
	return err
}

func (w *Worker) connClosed() {
	w.closedN.Add(1)
	select {
	case w.closedKick <- struct{}{}:
	default:
	}
}

// reportClosed tells the primary, in batches, how many dispatched
// connections closed, until ctx ends.
func (w *Worker) reportClosed(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.closedKick:
		}
		if n := w.closedN.Swap(0); n > 0 {
			_ = w.conn.Send(ctx, ctl{Herd: msgClosed, N: n})
		}
	}
}

// specAddr turns a spec's bound address back into a net.Addr.
func specAddr(s addrSpec) net.Addr {
	switch s.Net {
	case "unix", "unixpacket":
		return &net.UnixAddr{Name: s.Bound, Net: s.Net}
	}
	if a, err := net.ResolveTCPAddr("tcp", s.Bound); err == nil {
		return a
	}
	return &net.TCPAddr{}
}
