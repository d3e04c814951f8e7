package child

import (
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// maxDrain caps what finish keeps from a pipe that still has data when herd
// closes it: a pipe holds 64 KiB by default and at most 1 MiB.
const maxDrain = 1 << 20

// pipeReader is the parent's read end of a stdout or stderr pipe. The reaper
// calls finish once the child has exited and the pipe hung up or PipeGrace
// ran out: finish keeps whatever is still buffered in the pipe, closes the
// descriptor, and from then on Read returns that data and then io.EOF, never
// "file already closed".
type pipeReader struct {
	f        *os.File
	mu       sync.Mutex    // held across f.Read: one reader at a time
	forced   atomic.Bool   // finish has started
	closed   atomic.Bool   // Close was called
	finished chan struct{} // closed when finish is done
	fin      bool          // guarded by mu
	rest     []byte        // guarded by mu: drained by finish, not yet read
}

func newPipeReader(f *os.File) *pipeReader {
	return &pipeReader{f: f, finished: make(chan struct{})}
}

// Read reads from the pipe. After the child exited and herd closed the pipe
// it returns what was left in it, then io.EOF.
func (r *pipeReader) Read(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		if r.closed.Load() {
			return 0, os.ErrClosed
		}
		if r.fin {
			if len(r.rest) == 0 {
				return 0, io.EOF
			}
			n := copy(b, r.rest)
			r.rest = r.rest[n:]
			return n, nil
		}
		n, err := r.f.Read(b)
		if n > 0 || err == nil {
			return n, nil
		}
		if err == io.EOF {
			return 0, io.EOF
		}
		if r.closed.Load() {
			return 0, os.ErrClosed
		}
		if r.forced.Load() && (errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, os.ErrClosed)) {
			// finish woke us; let it take the lock, then serve r.rest.
			r.mu.Unlock()
			<-r.finished
			r.mu.Lock()
			continue
		}
		return 0, err
	}
}

// Close closes the pipe. It is safe to call more than once and concurrently
// with Read, which then returns os.ErrClosed.
func (r *pipeReader) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	if err := r.f.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return err
	}
	return nil
}

// finish wakes any blocked Read, keeps what is left in the pipe and closes
// it. Only the reaper calls it, once.
func (r *pipeReader) finish() {
	r.forced.Store(true)
	_ = r.f.SetReadDeadline(time.Unix(1, 0)) // wake a Read blocked in f.Read
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed.Load() {
		r.rest = drainNonblock(r.f, maxDrain)
	}
	_ = r.f.Close()
	r.fin = true
	close(r.finished)
}

// closeOnceFile is the parent's write end of the stdin pipe: Close is safe to
// call more than once (the user, the stdin copier and Wait may all close it).
type closeOnceFile struct {
	*os.File
	once sync.Once
	err  error
}

// Close closes the file the first time and returns that result every time.
func (c *closeOnceFile) Close() error {
	c.once.Do(func() { c.err = c.File.Close() })
	return c.err
}
