package jobsexec

import (
	"bytes"
	"strings"
	"sync"
)

// lineWriter is the io.Writer a child's stdout or stderr is copied into:
// it splits the bytes into lines and hands each to line, without its
// "\n" (or "\r\n"). A line longer than max is handed over cut at max bytes
// with truncated set, and the rest of it, up to the next "\n", is dropped.
// Close hands over a last line that has no "\n".
type lineWriter struct {
	mu   sync.Mutex
	max  int
	line func(b []byte, truncated bool)
	buf  []byte
	skip bool // dropping the rest of an overlong line
}

func newLineWriter(max int, line func(b []byte, truncated bool)) *lineWriter {
	return &lineWriter{max: max, line: line}
}

// Write never fails, so the child never sees a broken pipe.
func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if w.skip {
			if i < 0 {
				return n, nil
			}
			w.skip = false
			p = p[i+1:]
			continue
		}
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if len(w.buf)+len(chunk) > w.max {
			w.buf = append(w.buf, chunk[:w.max-len(w.buf)]...)
			w.emit(true)
			w.skip = i < 0
			if i < 0 {
				return n, nil
			}
			p = p[i+1:]
			continue
		}
		w.buf = append(w.buf, chunk...)
		if i < 0 {
			return n, nil
		}
		w.emit(false)
		p = p[i+1:]
	}
	return n, nil
}

func (w *lineWriter) emit(truncated bool) {
	b := w.buf
	if !truncated {
		b = bytes.TrimSuffix(b, []byte("\r"))
	}
	w.line(b, truncated)
	w.buf = w.buf[:0]
	if cap(w.buf) > 64<<10 {
		w.buf = nil // do not keep a large buffer for short lines
	}
}

// Close hands over the last line if it has no "\n".
func (w *lineWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 && !w.skip {
		w.emit(false)
	}
	w.buf, w.skip = nil, false
	return nil
}

// tail keeps the last lines written to it, at most max bytes of them.
type tail struct {
	max int
	buf []byte
}

func (t *tail) add(line []byte) {
	t.buf = append(t.buf, line...)
	t.buf = append(t.buf, '\n')
	if len(t.buf) > 2*t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
}

// String returns the last whole lines within max bytes (or the end of
// one longer line).
func (t *tail) String() string {
	b := t.buf
	if len(b) > t.max {
		b = b[len(b)-t.max:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 && i < len(b)-1 {
			b = b[i+1:]
		}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func (t *tail) reset() { t.buf = t.buf[:0] }
