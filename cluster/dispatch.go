package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"hash/maphash"
	"net"
	"strconv"
	"time"
)

type netConn = net.Conn

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

var stickySeed = maphash.MakeSeed()

// acceptLoop accepts connections on listener i and dispatches them, until
// the listener is closed (shutdown).
func (c *Cluster) acceptLoop(i int, ln net.Listener) {
	defer c.bg.Done()
	msg := json.RawMessage(`{"herd":"conn","l":` + strconv.Itoa(i) + `}`)
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and friends: back off briefly rather than spin.
			select {
			case <-time.After(5 * time.Millisecond):
			case <-c.stopC:
				return
			}
			continue
		}
		c.send(i, msg, conn)
	}
}

// dispatchConn passes conn to a worker; used for connections a worker gave
// back.
func (c *Cluster) dispatchConn(i int, conn net.Conn) {
	c.send(i, json.RawMessage(`{"herd":"conn","l":`+strconv.Itoa(i)+`}`), conn)
}

// send passes conn to the least loaded (or sticky) worker and closes the
// primary's copy. With no worker ready it waits, up to ReadyTimeout, for one;
// a worker that cannot take it is skipped.
func (c *Cluster) send(i int, msg json.RawMessage, conn net.Conn) {
	defer conn.Close()
	deadline := time.Now().Add(c.cfg.ReadyTimeout)
	var skip *wproc
	for {
		if w := c.pick(conn, skip); w != nil {
			w.inflight.Add(1)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			err := w.conn.SendHandle(ctx, msg, conn)
			cancel()
			if err == nil {
				return
			}
			w.inflight.Add(-1)
			skip = w
			continue
		}
		if time.Now().After(deadline) {
			return
		}
		select {
		case <-time.After(2 * time.Millisecond):
		case <-c.stopC:
			return
		}
		skip = nil
	}
}

// pick chooses a dispatch target: by client IP (Sticky) or the fewest open
// connections, ties going round-robin.
func (c *Cluster) pick(conn net.Conn, skip *wproc) *wproc {
	lp := c.live.Load()
	if lp == nil {
		return nil
	}
	live := *lp
	n := len(live)
	if n == 0 || (n == 1 && live[0] == skip) {
		return nil
	}
	if c.cfg.Sticky {
		ip := conn.RemoteAddr().String()
		if ta, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
			ip = ta.IP.String()
		}
		var best *wproc
		var bestH uint64
		for _, w := range live {
			if w == skip {
				continue
			}
			h := maphash.String(stickySeed, ip+"/"+strconv.Itoa(w.slot))
			if best == nil || h > bestH {
				best, bestH = w, h
			}
		}
		return best
	}
	start := int(c.rr.Add(1) % uint64(n))
	var best *wproc
	var bestN int64
	for k := range n {
		w := live[(start+k)%n]
		if w == skip {
			continue
		}
		if f := w.inflight.Load(); best == nil || f < bestN {
			best, bestN = w, f
		}
	}
	return best
}
