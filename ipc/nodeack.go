package ipc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"golang.org/x/sys/unix"
)

// maxHandleRetries is how often a handle NACKed by a Node peer is resent,
// as Node does.
const maxHandleRetries = 3

// outHandle is a node-mode handle frame kept until the peer acknowledges it.
type outHandle struct {
	fd      int
	line    []byte
	retries int
}

// gatedWrite is writeCut for ModeNode: it first waits until no handle
// awaits an acknowledgement (it takes the gate token). A handle frame that
// was written keeps the token, and ackHandle returns it when the peer
// answers; any other write returns it when it ends.
func (c *Conn) gatedWrite(ctx context.Context, bufs [][]byte, h *outHandle, clean func(int) bool) (int, error) {
	select {
	case <-c.gate:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-c.closing:
		return 0, ErrClosed
	case <-c.readDone:
		return 0, c.sendErrAfterRead()
	}
	if h != nil {
		c.pmu.Lock()
		c.pending = h
		c.pmu.Unlock()
	}
	n, err := c.writeCut(ctx, bufs, h, clean)
	if h == nil || err != nil {
		if h != nil {
			c.pmu.Lock()
			c.pending = nil
			c.pmu.Unlock()
		}
		c.gate <- struct{}{}
	}
	return n, err
}

// processInternal handles a ModeNode frame that maybeInternal flagged: one
// of Node's internal messages is answered or acted on here, and anything
// else is returned as an ordinary message. The caller holds the read role.
func (c *Conn) processInternal(f frame) (Message, bool, error) {
	var in struct {
		Cmd  any             `json:"cmd"`
		Type string          `json:"type"`
		Msg  json.RawMessage `json:"msg"`
		Key  json.RawMessage `json:"key"`
	}
	if json.Unmarshal(f.data, &in) != nil {
		return Message{Kind: KindJSON, Data: f.data}, true, nil
	}
	cmd, ok := in.Cmd.(string)
	if !ok || len(cmd) <= 5 || cmd[:5] != "NODE_" {
		return Message{Kind: KindJSON, Data: f.data}, true, nil
	}
	switch cmd {
	case "NODE_HANDLE":
		fd := c.popFD()
		if fd < 0 {
			c.writeInternal([]byte(`{"cmd":"NODE_HANDLE_NACK"}`+"\n"), -1)
			return Message{}, false, nil
		}
		c.writeInternal([]byte(`{"cmd":"NODE_HANDLE_ACK"}`+"\n"), -1)
		if isInternalMsg(in.Msg) {
			// Node gives a handle whose message is itself internal (as
			// cluster's NODE_CLUSTER ones are) to its own machinery, never
			// to 'message': do the same, and drop the descriptor.
			unix.Close(fd)
			return Message{}, false, nil
		}
		return Message{Kind: KindJSON, Data: []byte(in.Msg), Handle: handleFromFD(fd, nodeTypeToHandle(in.Type))}, true, nil
	case "NODE_HANDLE_ACK":
		c.ackHandle(true)
	case "NODE_HANDLE_NACK":
		c.ackHandle(false)
	case "NODE_SOCKET_NOTIFY_CLOSE":
		// herd does not track the sockets it received; report them closed
		// so that a Node server's close() is not held up.
		if len(in.Key) > 0 {
			c.writeInternal(fmt.Appendf(nil, `{"cmd":"NODE_SOCKET_ALL_CLOSED","key":%s}`+"\n", in.Key), -1)
		}
	case "NODE_SOCKET_GET_COUNT":
		if len(in.Key) > 0 {
			c.writeInternal(fmt.Appendf(nil, `{"cmd":"NODE_SOCKET_COUNT","key":%s,"count":0}`+"\n", in.Key), -1)
		}
	}
	return Message{}, false, nil
}

// isInternalMsg reports whether b is a Node internal message: an object
// whose "cmd" is a string longer than 5 that starts with "NODE_".
func isInternalMsg(b []byte) bool {
	if !maybeInternal(b) {
		return false
	}
	var in struct {
		Cmd any `json:"cmd"`
	}
	if json.Unmarshal(b, &in) != nil {
		return false
	}
	cmd, ok := in.Cmd.(string)
	return ok && len(cmd) > 5 && cmd[:5] == "NODE_"
}

// maybeInternal reports whether a JSON line could be a Node internal
// message, cheaply, so that ordinary messages skip a second parse.
func maybeInternal(b []byte) bool {
	return len(b) > 0 && b[0] == '{' && (bytes.Contains(b, []byte("NODE_")) || bytes.Contains(b, []byte(`\u`)))
}

// ackHandle handles NODE_HANDLE_ACK (ok) or NODE_HANDLE_NACK from a Node peer.
func (c *Conn) ackHandle(ok bool) {
	c.pmu.Lock()
	p := c.pending
	if p == nil {
		c.pmu.Unlock()
		return
	}
	if !ok && p.retries < maxHandleRetries {
		p.retries++
		c.pmu.Unlock()
		c.writeInternal(p.line, p.fd)
		return
	}
	c.pending = nil
	c.pmu.Unlock()
	unix.Close(p.fd)
	c.gate <- struct{}{}
}
