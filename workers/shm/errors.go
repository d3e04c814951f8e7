package shm

import (
	"errors"
	"fmt"
)

var (
	// ErrOutOfBounds is wrapped by a *RangeError for an offset or length
	// that does not fit in the Buffer.
	ErrOutOfBounds = errors.New("shm: out of bounds")
	// ErrUnaligned is wrapped by a *RangeError for a slot offset that is
	// not a multiple of the slot's size.
	ErrUnaligned = errors.New("shm: unaligned offset")
	// ErrNotShareable is returned by File for a Buffer made by NewLocal,
	// which lives in this process's ordinary memory.
	ErrNotShareable = errors.New("shm: buffer is local to this process (made by NewLocal)")
	// ErrClosed is returned by operations on a closed Buffer.
	ErrClosed = errors.New("shm: buffer is closed")
)

// RangeError reports an access outside the Buffer or at a bad alignment.
// It wraps ErrOutOfBounds or ErrUnaligned.
type RangeError struct {
	Op     string // "Int32", "Int64" or "Slice"
	Offset int    // the byte offset asked for
	Size   int    // the bytes the access needs
	Len    int    // the Buffer's length
	Err    error  // ErrOutOfBounds or ErrUnaligned
}

// Error returns a message naming the access and the Buffer's length, such as
// `shm: Int32 at offset 4094 (4 bytes) in a 4096-byte buffer: out of bounds`.
func (e *RangeError) Error() string {
	what := "out of bounds"
	if errors.Is(e.Err, ErrUnaligned) {
		what = fmt.Sprintf("offset must be a multiple of %d", e.Size)
	}
	return fmt.Sprintf("shm: %s at offset %d (%d bytes) in a %d-byte buffer: %s", e.Op, e.Offset, e.Size, e.Len, what)
}

// Unwrap returns ErrOutOfBounds or ErrUnaligned.
func (e *RangeError) Unwrap() error { return e.Err }
