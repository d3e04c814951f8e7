package shm

import (
	"fmt"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Buffer is a fixed-size block of memory that can be shared with other
// processes. Its methods are safe for concurrent use. The zero value is an
// empty, unusable Buffer: make one with New, NewLocal or Open.
type Buffer struct {
	mem  []byte
	file *os.File // nil for NewLocal
	ref  []uint64 // NewLocal: keeps the 8-byte aligned backing array alive

	mu     sync.Mutex
	closed bool
}

// New creates a Buffer of size bytes, zero-filled, backed by an anonymous
// memory file (memfd) mapped MAP_SHARED, so that every process that maps
// the same file sees the same bytes. Pass File to another process and call
// Open there. size must be positive.
func New(size int) (*Buffer, error) {
	if size <= 0 {
		return nil, fmt.Errorf("shm: New(%d): size must be positive", size)
	}
	fd, err := unix.MemfdCreate("herd-shm", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("shm: memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "herd-shm")
	if err := f.Truncate(int64(size)); err != nil {
		f.Close()
		return nil, fmt.Errorf("shm: size memfd: %w", err)
	}
	b, err := mapFile(f, size)
	if err != nil {
		f.Close()
		return nil, err
	}
	return b, nil
}

// Open maps a file received from another process (the File of a Buffer made
// by New) and returns a Buffer over the same memory. Open duplicates f's
// descriptor; the caller still owns f and may close it.
func Open(f *os.File) (*Buffer, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("shm: open: %w", err)
	}
	size := st.Size()
	if size <= 0 || int64(int(size)) != size {
		return nil, fmt.Errorf("shm: open %s: unusable size %d", f.Name(), size)
	}
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("shm: open: duplicate descriptor: %w", err)
	}
	own := os.NewFile(uintptr(fd), "herd-shm")
	b, err := mapFile(own, int(size))
	if err != nil {
		own.Close()
		return nil, err
	}
	return b, nil
}

func mapFile(f *os.File, size int) (*Buffer, error) {
	mem, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("shm: mmap %d bytes: %w", size, err)
	}
	return &Buffer{mem: mem, file: f}, nil
}

// NewLocal creates a Buffer of size bytes in this process's ordinary
// memory, 8-byte aligned. It has the same methods as a Buffer from New,
// for sharing between goroutines (the goroutine backend of package
// workers), but it cannot be passed to another process: File returns
// ErrNotShareable. size must be positive.
func NewLocal(size int) (*Buffer, error) {
	if size <= 0 {
		return nil, fmt.Errorf("shm: NewLocal(%d): size must be positive", size)
	}
	words := make([]uint64, (size+7)/8)
	mem := unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), size)
	return &Buffer{mem: mem, ref: words}, nil
}

// Len returns the size of the Buffer in bytes.
func (b *Buffer) Len() int { return len(b.mem) }

// Bytes returns the whole shared memory as a byte slice. Writes through it
// are seen by every process that maps the Buffer, with no ordering
// guarantee: publish data with a slot's Store or Add after writing it, and
// read it after a slot's Load or Wait. The slice is invalid after Close.
func (b *Buffer) Bytes() []byte { return b.mem }

// Slice returns length bytes starting at off, or a *RangeError if they do not
// fit. The slice is invalid after Close.
func (b *Buffer) Slice(off, length int) ([]byte, error) {
	if off < 0 || length < 0 || off > len(b.mem)-length {
		return nil, &RangeError{Op: "Slice", Offset: off, Size: length, Len: len(b.mem), Err: ErrOutOfBounds}
	}
	return b.mem[off : off+length : off+length], nil
}

// File returns the memory file behind a Buffer made by New or Open, to pass
// to another process, which maps it with Open. The Buffer keeps ownership:
// do not close the file. It returns ErrNotShareable for a NewLocal Buffer
// and ErrClosed after Close.
func (b *Buffer) File() (*os.File, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	if b.file == nil {
		return nil, ErrNotShareable
	}
	return b.file, nil
}

// Shareable reports whether the Buffer can be passed to another process
// (it was made by New or Open).
func (b *Buffer) Shareable() bool { return b.file != nil }

// Close unmaps the memory and closes the memory file. Other processes that
// mapped it keep their mapping. Slots and slices taken from b must not be
// used afterwards. Close returns ErrClosed if called twice.
func (b *Buffer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	b.closed = true
	if b.file == nil {
		b.mem, b.ref = nil, nil
		return nil
	}
	err := unix.Munmap(b.mem)
	b.mem = nil
	if cerr := b.file.Close(); err == nil {
		err = cerr
	}
	return err
}

// slot checks that size bytes at off are inside b and aligned to size.
func (b *Buffer) slot(op string, off, size int) (unsafe.Pointer, error) {
	if off < 0 || off > len(b.mem)-size {
		return nil, &RangeError{Op: op, Offset: off, Size: size, Len: len(b.mem), Err: ErrOutOfBounds}
	}
	if off%size != 0 {
		return nil, &RangeError{Op: op, Offset: off, Size: size, Len: len(b.mem), Err: ErrUnaligned}
	}
	return unsafe.Pointer(&b.mem[off]), nil
}
