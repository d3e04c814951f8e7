package ipc

import (
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"syscall"
)

// sockKey is what a Conn knows of one key of Node's shared server sockets:
// how many of the sockets received with that key are still open here, and
// whether the peer asked to hear when none is (NODE_SOCKET_NOTIFY_CLOSE).
type sockKey struct {
	n      int
	notify bool
	raw    json.RawMessage // the key as the peer wrote it, echoed in answers
}

// nodeSocketKey returns the key of a NODE_SOCKET_* message or of a
// NODE_HANDLE carrying a net.Socket: Node's server connection key, a
// string. ok is false when there is none or it is not a string.
func nodeSocketKey(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var k string
	if json.Unmarshal(raw, &k) != nil {
		return "", false
	}
	return k, true
}

// trackSocket counts h, a socket Node shared from its server under key,
// and returns it wrapped so that its Close is counted. Anything other than
// a net.Conn is returned as it is.
func (c *Conn) trackSocket(h any, key string, raw json.RawMessage) any {
	nc, ok := h.(net.Conn)
	if !ok {
		return h
	}
	c.smu.Lock()
	if c.socks == nil {
		c.socks = make(map[string]*sockKey)
	}
	k := c.socks[key]
	if k == nil {
		k = &sockKey{raw: raw}
		c.socks[key] = k
	}
	k.n++
	c.smu.Unlock()
	return &sharedConn{Conn: nc, c: c, key: key}
}

// socketCount answers NODE_SOCKET_GET_COUNT: the number of sockets of key
// still open here. The caller holds the read role.
func (c *Conn) socketCount(raw json.RawMessage) {
	n := 0
	if key, ok := nodeSocketKey(raw); ok {
		c.smu.Lock()
		if k := c.socks[key]; k != nil {
			n = k.n
		}
		c.smu.Unlock()
	}
	c.writeInternal(fmt.Appendf(nil, `{"cmd":"NODE_SOCKET_COUNT","key":%s,"count":%d}`+"\n", raw, n), -1)
}

// socketNotifyClose answers NODE_SOCKET_NOTIFY_CLOSE: at once if no socket
// of key is open here, otherwise when the last one closes. The caller holds
// the read role.
func (c *Conn) socketNotifyClose(raw json.RawMessage) {
	if key, ok := nodeSocketKey(raw); ok {
		c.smu.Lock()
		if k := c.socks[key]; k != nil && k.n > 0 {
			k.notify = true
			c.smu.Unlock()
			return
		}
		c.smu.Unlock()
	}
	c.writeInternal(allClosed(raw), -1)
}

func allClosed(raw json.RawMessage) []byte {
	return fmt.Appendf(nil, `{"cmd":"NODE_SOCKET_ALL_CLOSED","key":%s}`+"\n", raw)
}

// closeSocket closes a received shared socket and counts it as closed,
// in one step under smu, so that a peer that sees the socket close and
// then asks for the count gets the new count. If the peer waits for the
// key's sockets to close and this was the last, a goroutine tells it: the
// Close of a socket must not wait for the channel.
func (c *Conn) closeSocket(s *sharedConn) error {
	c.smu.Lock()
	defer c.smu.Unlock()
	err := s.Conn.Close()
	k := c.socks[s.key]
	if k == nil {
		return err
	}
	k.n--
	if k.n > 0 {
		return err
	}
	if k.notify && !c.sclosed {
		c.swg.Add(1)
		go func(line []byte) {
			defer c.swg.Done()
			c.writeInternal(line, -1)
		}(allClosed(k.raw))
	}
	delete(c.socks, s.key)
	return err
}

// endSockets stops answers about received sockets; Close calls it before it
// waits for the answers already under way.
func (c *Conn) endSockets() {
	c.smu.Lock()
	c.sclosed = true
	c.smu.Unlock()
}

// sharedConn is a socket that a Node server shared with this process (its
// NODE_HANDLE carried the server's connection key). It is the net.Conn it
// wraps, except that Close also tells the peer's server, whose
// getConnections and close count the sockets its workers hold.
type sharedConn struct {
	net.Conn
	c    *Conn
	key  string
	once sync.Once
}

// Close closes the socket. The first call counts it as closed for the
// peer's server.
func (s *sharedConn) Close() error {
	err := net.ErrClosed
	first := false
	s.once.Do(func() {
		first = true
		err = s.c.closeSocket(s)
	})
	if !first {
		return s.Conn.Close()
	}
	return err
}

// NetConn returns the socket it wraps, for example a *net.TCPConn.
// Closing that directly is not counted.
func (s *sharedConn) NetConn() net.Conn { return s.Conn }

// SyscallConn returns the raw connection of the socket, so that a received
// socket can be passed on with SendHandle.
func (s *sharedConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := s.Conn.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("ipc: %T has no file descriptor", s.Conn)
	}
	return sc.SyscallConn()
}

// CloseRead shuts down the reading side of the socket, when it has one.
func (s *sharedConn) CloseRead() error {
	if cr, ok := s.Conn.(interface{ CloseRead() error }); ok {
		return cr.CloseRead()
	}
	return fmt.Errorf("ipc: %T cannot close its reading side", s.Conn)
}

// CloseWrite shuts down the writing side of the socket, when it has one.
func (s *sharedConn) CloseWrite() error {
	if cw, ok := s.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return fmt.Errorf("ipc: %T cannot close its writing side", s.Conn)
}
