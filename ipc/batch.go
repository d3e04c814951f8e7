package ipc

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
)

// SendBatch sends msgs as consecutive messages, each encoded as Send
// encodes it, and returns how many were sent. The peer receives them as
// separate messages, in order, with no message of a concurrent sender
// between them; a Node peer gets one 'message' event per element.
//
// The batch is encoded into one buffer before anything is written: if any
// element fails to encode, or is over MaxMessageSize (a *SizeError), the
// error names its index and nothing is sent. The buffer then goes out in
// one write(2) when the socket has room for it, else in as few as the
// peer's reading allows, so a batch costs about one system call, not one
// per message. Only MaxMessageSize applies, per message; the batch as a
// whole has no limit, but all of it is held in memory while it is written.
//
// Like Send, SendBatch returns once every byte is in the kernel, and blocks
// while the peer is not reading, until ctx is done. It then returns the
// number of leading messages that were written whole (the peer receives
// them) with an error wrapping ctx's. If ctx ended between two messages
// the channel stays usable, and msgs[n:] may be sent again. If it ended
// inside a message, the stream can no longer be framed: the channel is
// shut down, as for Send, later sends fail, and the error says so; the
// peer receives the n whole messages and then sees the channel end (a
// herd peer's Recv returns a *ProtocolError for the cut message).
//
// Over ModeNode, a batch waits like Send for the acknowledgement of a
// handle sent before it. A batch carries no handles; use SendHandle.
// With no msgs, SendBatch does nothing and returns 0, nil.
func (c *Conn) SendBatch(ctx context.Context, msgs ...any) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	if err := c.flushQueue(ctx); err != nil {
		return 0, err
	}
	bp := bufPool.Get().(*encBuf)
	defer putBuf(bp)
	if err := c.encodeBatch(bp, msgs); err != nil {
		return 0, err
	}
	return c.sendBatch(ctx, bp.Bytes(), len(msgs))
}

// SendBytesBatch is SendBatch for byte payloads, each sent as SendBytes
// sends it: raw over ModeFast, as a Node Buffer over ModeNode. Every
// payload is copied into the batch's buffer, so it suits many small
// payloads; SendBytes writes a payload over 4 KiB without copying it.
func (c *Conn) SendBytesBatch(ctx context.Context, payloads ...[]byte) (int, error) {
	if len(payloads) == 0 {
		return 0, nil
	}
	if err := c.flushQueue(ctx); err != nil {
		return 0, err
	}
	bp := bufPool.Get().(*encBuf)
	defer putBuf(bp)
	if err := c.encodeBytesBatch(bp, payloads); err != nil {
		return 0, err
	}
	return c.sendBatch(ctx, bp.Bytes(), len(payloads))
}

// encodeBatch encodes msgs into bp, replacing its contents, one frame each.
func (c *Conn) encodeBatch(bp *encBuf, msgs []any) error {
	bp.Reset()
	for i, v := range msgs {
		start := bp.Len()
		if c.mode == ModeFast {
			bp.Write(zeroHeader[:])
		}
		if err := bp.enc.Encode(v); err != nil {
			return fmt.Errorf("ipc: encode message %d of a batch: %w", i, err)
		}
		if c.mode == ModeFast {
			bp.Truncate(bp.Len() - 1) // the encoder's newline
			n := bp.Len() - start - fastHeaderLen
			if n > c.max {
				return fmt.Errorf("ipc: message %d of a batch: %w", i, &SizeError{Size: n, Limit: c.max})
			}
			appendFastHeader(bp.Bytes()[start:start], n, KindJSON, handleNone)
		} else if n := bp.Len() - start - 1; n > c.max {
			return fmt.Errorf("ipc: message %d of a batch: %w", i, &SizeError{Size: n, Limit: c.max})
		}
	}
	return nil
}

// encodeBytesBatch encodes payloads into bp, replacing its contents, one
// frame each.
func (c *Conn) encodeBytesBatch(bp *encBuf, payloads [][]byte) error {
	bp.Reset()
	for i, p := range payloads {
		if c.mode == ModeFast {
			if len(p) > c.max {
				return fmt.Errorf("ipc: message %d of a batch: %w", i, &SizeError{Size: len(p), Limit: c.max})
			}
			bp.Write(appendFastHeader(bp.AvailableBuffer(), len(p), KindBytes, handleNone))
			bp.Write(p)
			continue
		}
		line := appendNodeBuffer(bp.AvailableBuffer(), p)
		if len(line) > c.max {
			return fmt.Errorf("ipc: message %d of a batch: %w", i, &SizeError{Size: len(line), Limit: c.max})
		}
		bp.Write(append(line, '\n'))
	}
	return nil
}

// sendBatch writes b, which holds count whole frames, and returns how many
// of them went out whole.
func (c *Conn) sendBatch(ctx context.Context, b []byte, count int) (int, error) {
	n, err := c.sendCut(ctx, [][]byte{b}, nil, func(n int) bool {
		_, clean := c.framesIn(b[:n])
		return clean
	})
	if err != nil {
		sent, _ := c.framesIn(b[:n])
		return sent, err
	}
	return count, nil
}

// framesIn counts the whole frames at the start of b, a prefix of frames
// this side encoded, and reports whether b ends on a frame boundary.
func (c *Conn) framesIn(b []byte) (int, bool) {
	if c.mode == ModeNode {
		// Encoded lines hold no raw newline but their last byte.
		return bytes.Count(b, []byte{'\n'}), len(b) == 0 || b[len(b)-1] == '\n'
	}
	count, off := 0, 0
	for len(b)-off >= fastHeaderLen {
		end := off + fastHeaderLen + int(binary.BigEndian.Uint32(b[off:]))
		if end > len(b) {
			break
		}
		count, off = count+1, end
	}
	return count, off == len(b)
}
