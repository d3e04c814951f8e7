package monit

import (
	"context"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/herdrun/herd/cmd/herd/internal/daemon"
)

// logBatch is how often the log stream hands its new lines to the view:
// a chatty app costs one update per logBatch, not one per line.
const logBatch = 200 * time.Millisecond

// streams runs the view's two long calls to the daemon: the events (each
// asks for an early list) and the selected app's logs. Their goroutines
// talk to the view only through send.
type streams struct {
	ctx  context.Context
	c    *daemon.Client
	send func(tea.Msg)
	wg   sync.WaitGroup

	mu         sync.Mutex
	gen        int
	stopFollow context.CancelFunc
}

// events sends a refreshMsg on every event of the daemon, reconnecting
// after a second when the stream ends, until ctx ends.
func (s *streams) events() {
	s.wg.Go(func() {
		for s.ctx.Err() == nil {
			_ = s.c.Events(s.ctx, func(daemon.Event) error {
				s.send(refreshMsg{})
				return nil
			})
			select {
			case <-s.ctx.Done():
			case <-time.After(time.Second):
			}
		}
	})
}

// followLogs stops the log stream under way and follows app's logs from
// its last lines of history; it returns the stream's generation, which
// its logMsgs carry.
func (s *streams) followLogs(app string, lines int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopFollow != nil {
		s.stopFollow()
	}
	s.gen++
	gen := s.gen
	ctx, cancel := context.WithCancel(s.ctx)
	s.stopFollow = cancel
	s.wg.Go(func() { s.follow(ctx, gen, app, lines) })
	return gen
}

// stopLogs stops the log stream under way.
func (s *streams) stopLogs() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopFollow != nil {
		s.stopFollow()
		s.stopFollow = nil
	}
	s.gen++
}

// follow streams app's logs in batches until ctx ends; a stream that
// breaks (the daemon went) is reported and tried again each second, with
// no history the second time.
func (s *streams) follow(ctx context.Context, gen int, app string, lines int) {
	var mu sync.Mutex
	var buf []daemon.LogLine
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		t := time.NewTicker(logBatch)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			mu.Lock()
			b := buf
			buf = nil
			mu.Unlock()
			if len(b) > 0 {
				s.send(logMsg{gen: gen, lines: b})
			}
		}
	}()
	for ctx.Err() == nil {
		err := s.c.Logs(ctx, app, lines, "", true, func(l daemon.LogLine) error {
			mu.Lock()
			buf = append(buf, l)
			if len(buf) > maxLogLines {
				buf = buf[len(buf)-maxLogLines:]
			}
			mu.Unlock()
			return nil
		})
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			s.send(logMsg{gen: gen, err: err})
		}
		lines = 0
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	<-flushed
}

// close stops every stream and waits for their goroutines.
func (s *streams) close() {
	s.stopLogs()
	s.wg.Wait()
}
