package workers

import (
	"bytes"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
)

// tailSize is how much of a worker's stderr is kept for WorkerExitError.
const tailSize = 4 << 10

// prefixWriter forwards a worker's output line by line to dst, each line
// prefixed with "[name pid] ", and keeps the last tailSize bytes when
// keepTail is set. Output is forwarded whole lines at a time, so lines of
// different workers do not interleave within a line.
type prefixWriter struct {
	dst      io.Writer
	name     string
	pid      atomic.Int64
	keepTail bool

	mu      sync.Mutex
	partial []byte
	tail    []byte
	fatal   string // first line of a Go runtime crash report
	oom     bool   // the runtime reported running out of memory
}

// crashPrefixes start the first line of the Go runtime's report of a
// crash: the line that says what happened, before the goroutine dump.
var crashPrefixes = []string{"fatal error:", "panic:", "SIGSEGV:", "SIGBUS:", "SIGILL:", "SIGFPE:", "SIGABRT:", "SIGTRAP:", "unexpected signal", "runtime: out of memory"}

func (w *prefixWriter) scanLine(line []byte) {
	if !w.keepTail {
		return
	}
	if bytes.Contains(line, []byte("out of memory")) {
		w.oom = true
	}
	if w.fatal != "" {
		return
	}
	for _, p := range crashPrefixes {
		if bytes.HasPrefix(line, []byte(p)) {
			w.fatal = string(bytes.TrimSpace(line))
			return
		}
	}
}

func (w *prefixWriter) prefix() []byte {
	b := make([]byte, 0, len(w.name)+16)
	b = append(b, '[')
	b = append(b, w.name...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, w.pid.Load(), 10)
	return append(b, "] "...)
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.keepTail {
		w.tail = append(w.tail, p...)
		if len(w.tail) > 2*tailSize {
			w.tail = append(w.tail[:0], w.tail[len(w.tail)-tailSize:]...)
		}
	}
	var out []byte
	data := p
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			w.partial = append(w.partial, data...)
			if len(w.partial) > 64<<10 { // a very long line: forward it in pieces
				out = append(append(append(out, w.prefix()...), w.partial...), '\n')
				w.partial = w.partial[:0]
			}
			break
		}
		out = append(out, w.prefix()...)
		lineStart := len(out)
		out = append(out, w.partial...)
		out = append(out, data[:i+1]...)
		w.scanLine(out[lineStart:])
		w.partial = w.partial[:0]
		data = data[i+1:]
	}
	if len(out) > 0 && w.dst != nil {
		w.dst.Write(out)
	}
	return len(p), nil
}

// flush forwards an unterminated last line.
func (w *prefixWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.partial) > 0 && w.dst != nil {
		w.dst.Write(append(append(w.prefix(), w.partial...), '\n'))
	}
	w.partial = nil
}

// crash returns the first line of a runtime crash report and whether
// the runtime ran out of memory.
func (w *prefixWriter) crash() (string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fatal, w.oom
}

// tailString returns the last tailSize bytes written.
func (w *prefixWriter) tailString() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	t := w.tail
	if len(t) > tailSize {
		t = t[len(t)-tailSize:]
	}
	return string(t)
}
