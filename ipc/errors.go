package ipc

import (
	"errors"
	"fmt"
)

var (
	// ErrClosed is returned by operations on a Conn that this side closed.
	ErrClosed = errors.New("ipc: channel closed")
	// ErrDisconnected is returned when the peer closed its end of the
	// channel or its process exited.
	ErrDisconnected = errors.New("ipc: peer disconnected")
	// ErrTooLarge reports a message over the size limit, on either side.
	ErrTooLarge = errors.New("ipc: message too large")
	// ErrMalformed reports bytes from the peer that are not a valid frame.
	ErrMalformed = errors.New("ipc: malformed frame")
	// ErrNoChannel is returned by FromEnv when this process was not started
	// with a channel (NODE_CHANNEL_FD is unset).
	ErrNoChannel = errors.New("ipc: no channel in the environment (NODE_CHANNEL_FD is unset)")
	// ErrUnsupportedSerialization is returned by FromEnv when the parent asked
	// for a serialization herd does not speak (Node's "advanced").
	ErrUnsupportedSerialization = errors.New("ipc: unsupported serialization mode")
	// ErrNotBytes is returned by Message.Bytes for a message that carries
	// neither raw bytes nor a Node Buffer.
	ErrNotBytes = errors.New("ipc: message is not a byte payload")
	// ErrHandleType is returned by SendHandle for a value that holds no file
	// descriptor herd can pass.
	ErrHandleType = errors.New("ipc: value cannot be passed as a handle")
)

// ProtocolError describes input from the peer that broke the wire format.
// The channel ends when one occurs. It wraps ErrMalformed or ErrTooLarge.
type ProtocolError struct {
	Mode   Mode   // framing in use
	Offset int64  // byte offset in the stream where the bad frame starts
	Reason string // what was wrong, for people
	Err    error  // ErrMalformed or ErrTooLarge
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("ipc: %s at byte %d (%s mode): %s", e.Err.Error()[len("ipc: "):], e.Offset, e.Mode, e.Reason)
}

// Unwrap returns ErrMalformed or ErrTooLarge.
func (e *ProtocolError) Unwrap() error { return e.Err }

// SizeError is returned by the send methods for a message over the limit.
// It wraps ErrTooLarge.
type SizeError struct {
	Size  int // encoded size of the message
	Limit int // Options.MaxMessageSize in effect
}

func (e *SizeError) Error() string {
	return fmt.Sprintf("ipc: message of %d bytes is over the %d-byte limit", e.Size, e.Limit)
}

// Unwrap returns ErrTooLarge.
func (e *SizeError) Unwrap() error { return ErrTooLarge }
