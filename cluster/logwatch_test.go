package cluster

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// logWatch is a Logger's output that a test can wait on: every line is also
// passed to the test log.
type logWatch struct {
	t    *testing.T
	mu   sync.Mutex
	b    strings.Builder
	wake chan struct{}
}

func newLogWatch(t *testing.T) *logWatch { return &logWatch{t: t, wake: make(chan struct{})} }

func (l *logWatch) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

func (l *logWatch) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	l.mu.Lock()
	l.b.Write(p)
	close(l.wake)
	l.wake = make(chan struct{})
	l.mu.Unlock()
	return len(p), nil
}

func (l *logWatch) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// count returns how many lines contain s.
func (l *logWatch) count(s string) int {
	n := 0
	for _, line := range strings.Split(l.String(), "\n") {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// waitFor waits until n lines contain s.
func (l *logWatch) waitFor(s string, n int, d time.Duration) {
	l.t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		wake := l.wake
		l.mu.Unlock()
		if l.count(s) >= n {
			return
		}
		select {
		case <-wake:
		case <-deadline.C:
			l.t.Fatalf("timed out after %v waiting for %d log lines with %q", d, n, s)
		}
	}
}
