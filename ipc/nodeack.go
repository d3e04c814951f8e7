package ipc

import (
	"bytes"
	"context"
	"encoding/json"

	"golang.org/x/sys/unix"
)

// maxHandleRetries is how often a handle NACKed by a Node peer is resent,
// as Node does.
const maxHandleRetries = 3

// outHandle is a node-mode handle frame kept until the peer acknowledges it.
type outHandle struct {
	fd   int
	line []byte
	// queued says that gatedWrite stored the handle in Conn.pending: from
	// then on whoever clears pending closes fd and returns the gate token,
	// and SendHandle no longer may. Only the sending goroutine sets it
	// (under pmu) and reads it.
	queued bool
	// The fields below are guarded by Conn.pmu.
	// written says that the frame, or its latest resend, is fully written.
	// Until then an answer from the peer is only noted in early, so that
	// the descriptor is never closed while a write may still use it.
	written bool
	// early is an answer that arrived while written was false: answerNone,
	// answerACK or answerNACK. The writer acts on it once the write ends.
	early   uint8
	retries int
}

// Answers to a handle frame, as kept in outHandle.early.
const (
	answerNone uint8 = iota
	answerACK
	answerNACK
)

// testHookHandleWriteFailed, when set by a test, runs when the write of a
// handle frame has failed, before the failure is handled.
var testHookHandleWriteFailed func(fd int)

// gatedWrite is writeCut for ModeNode: it first waits until no handle
// awaits an acknowledgement (it takes the gate token). A handle frame that
// was written keeps the token, and the answer from the peer returns it;
// any other write returns it when it ends.
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
	if h == nil {
		n, err := c.writeCut(ctx, bufs, nil, clean)
		c.gate <- struct{}{}
		return n, err
	}
	c.pmu.Lock()
	c.pending = h
	h.queued = true
	c.pmu.Unlock()
	n, err := c.writeCut(ctx, bufs, h, clean)
	if err != nil {
		if testHookHandleWriteFailed != nil {
			testHookHandleWriteFailed(h.fd)
		}
		c.pmu.Lock()
		c.releaseHandle(h)
		return n, err
	}
	c.pmu.Lock()
	c.handleWritten(h)
	return n, nil
}

// releaseHandle ends handle h: if h is still pending, it clears pending,
// closes h's descriptor and returns the gate token that h kept. Only the
// caller that clears pending does this, so each happens once per handle
// however Close, the writer and the peer's answers interleave; if pending
// is no longer h, someone else already did. The caller holds pmu;
// releaseHandle unlocks it.
func (c *Conn) releaseHandle(h *outHandle) {
	if c.pending != h {
		c.pmu.Unlock()
		return
	}
	c.pending = nil
	c.pmu.Unlock()
	unix.Close(h.fd)
	// h held the only token, so the slot is free: this never blocks.
	c.gate <- struct{}{}
}

// handleWritten records that h's frame (or a resend of it) is fully
// written, and acts on an answer that arrived meanwhile. The caller holds
// pmu; handleWritten unlocks it.
func (c *Conn) handleWritten(h *outHandle) {
	if c.pending != h {
		c.pmu.Unlock()
		return
	}
	h.written = true
	early := h.early
	h.early = answerNone
	if early == answerNone {
		c.pmu.Unlock()
		return
	}
	c.answerHandle(h, early == answerACK)
}

// answerHandle acts on the peer's answer to the written handle frame h:
// it resends h after a NACK, up to maxHandleRetries times as Node does,
// and otherwise releases it. The caller holds pmu and h is pending;
// answerHandle unlocks pmu.
func (c *Conn) answerHandle(h *outHandle, ok bool) {
	if ok || h.retries >= maxHandleRetries {
		c.releaseHandle(h)
		return
	}
	h.retries++
	h.written = false
	c.pmu.Unlock()
	c.writeInternal(h.line, h.fd)
	c.pmu.Lock()
	c.handleWritten(h)
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
		h := handleFromFD(fd, nodeTypeToHandle(in.Type))
		if in.Type == "net.Socket" {
			// A socket of a Node server carries the server's key: count
			// it, as Node's SocketListReceive does, for the server's
			// getConnections and close.
			if key, ok := nodeSocketKey(in.Key); ok {
				h = c.trackSocket(h, key, in.Key)
			}
		}
		return Message{Kind: KindJSON, Data: []byte(in.Msg), Handle: h}, true, nil
	case "NODE_HANDLE_ACK":
		c.ackHandle(true)
	case "NODE_HANDLE_NACK":
		c.ackHandle(false)
	case "NODE_SOCKET_NOTIFY_CLOSE":
		if len(in.Key) > 0 {
			c.socketNotifyClose(in.Key)
		}
	case "NODE_SOCKET_GET_COUNT":
		if len(in.Key) > 0 {
			c.socketCount(in.Key)
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

// ackHandle handles NODE_HANDLE_ACK (ok) or NODE_HANDLE_NACK from a Node
// peer. An answer with no handle pending is ignored. An answer that comes
// while the pending frame is still being written (the write call has not
// returned, or a misbehaving peer answered early) is noted for the writer,
// which acts on it when its write ends.
func (c *Conn) ackHandle(ok bool) {
	c.pmu.Lock()
	p := c.pending
	if p == nil {
		c.pmu.Unlock()
		return
	}
	if !p.written {
		if p.early == answerNone {
			p.early = answerNACK
			if ok {
				p.early = answerACK
			}
		}
		c.pmu.Unlock()
		return
	}
	c.answerHandle(p, ok)
}
