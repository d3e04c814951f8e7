package daemon

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// A follower of GET /v1/logs?follow=1 owns its connection: the handler
// hijacks it and writes the answer itself, its body the JSON lines until
// the connection closes (Connection: close, no chunks). So herd update in
// place can hand the connection to the daemon's next image, which goes on
// writing lines to it: `herd logs` keeps following across an update.

// stream is one follower's connection and what it follows.
type stream struct {
	conn   *net.UnixConn
	app    string // "" for all
	stream string // "" for both
	last   time.Time
	stop   chan chan struct{} // handover: stop writing, answer when stopped
}

// followers are the daemon's streams of logs.
type followers struct {
	mu sync.Mutex
	m  map[*stream]struct{}
}

func (fs *followers) add(s *stream) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.m == nil {
		fs.m = map[*stream]struct{}{}
	}
	fs.m[s] = struct{}{}
}

func (fs *followers) remove(s *stream) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	delete(fs.m, s)
}

// followLogs answers a follow request: the history, then each new line.
func (d *Daemon) followLogs(w http.ResponseWriter, names []string, app string, n int, st string) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		writeErr(w, http.StatusInternalServerError, fmt.Errorf("cannot follow on this connection"))
		return
	}
	c, brw, err := hj.Hijack()
	if err != nil {
		return
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return
	}
	f := d.hub.follow(app) // before the history: no line falls between
	s := &stream{conn: uc, app: app, stream: st, stop: make(chan chan struct{})}
	fmt.Fprintf(brw, "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n%s: %s\r\nConnection: close\r\n\r\n", VersionHeader, d.cfg.Version)
	enc := json.NewEncoder(brw)
	for _, l := range d.hub.history(names, n, st) {
		_ = enc.Encode(l)
		s.last = l.Time
	}
	if err := brw.Flush(); err != nil {
		d.hub.unfollow(f)
		uc.Close()
		return
	}
	d.streamWG.Add(1)
	defer d.streamWG.Done()
	d.serveStream(s, f)
}

// serveStream writes the lines of f to s until the client goes, the
// daemon stops, or a handover stops it (then the connection is left open).
func (d *Daemon) serveStream(s *stream, f *follower) {
	d.streams.add(s)
	gone := make(chan struct{})
	go func() { // the client sends nothing more: a read ends when it goes
		_, _ = io.Copy(io.Discard, s.conn)
		close(gone)
	}()
	w := bufio.NewWriter(s.conn)
	enc := json.NewEncoder(w)
	end := func() {
		d.hub.unfollow(f)
		d.streams.remove(s)
	}
	for {
		select {
		case <-gone:
			end()
			s.conn.Close()
			return
		case <-d.killed:
			end()
			s.conn.Close()
			<-gone
			return
		case <-d.closing:
			end()
			s.conn.Close()
			<-gone
			return
		case done := <-s.stop:
			end()
			for len(f.ch) > 0 { // what was published before the freeze
				d.writeLine(s, enc, <-f.ch)
			}
			_ = w.Flush()
			// Wake the reader, without closing: the connection goes on
			// in the next image.
			_ = s.conn.SetReadDeadline(time.Unix(1, 0))
			<-gone
			close(done)
			return
		case l := <-f.ch:
			if err := d.writeLine(s, enc, l); err != nil {
				end()
				s.conn.Close()
				return
			}
			if len(f.ch) == 0 {
				if err := w.Flush(); err != nil {
					end()
					s.conn.Close()
					return
				}
			}
		}
	}
}

// writeLine writes l if s wants it. A line both in the files and in the
// channel (written between follow and history) is sent once; the files
// keep milliseconds.
func (d *Daemon) writeLine(s *stream, enc *json.Encoder, l LogLine) error {
	if s.stream != "" && l.Stream != s.stream || !s.last.IsZero() && !l.Time.Truncate(time.Millisecond).After(s.last) {
		return nil
	}
	s.last = time.Time{}
	return enc.Encode(l)
}

// execStream is a follower handed to the next image.
type execStream struct {
	FD     int    `json:"fd"`
	App    string `json:"app,omitempty"`
	Stream string `json:"stream,omitempty"`
}

// handStreams stops every follower and returns close-on-exec duplicates
// of their connections with what they follow.
func (d *Daemon) handStreams() ([]execStream, []*os.File) {
	d.streams.mu.Lock()
	ss := make([]*stream, 0, len(d.streams.m))
	for s := range d.streams.m {
		ss = append(ss, s)
	}
	d.streams.mu.Unlock()
	var out []execStream
	var files []*os.File
	for _, s := range ss {
		done := make(chan struct{})
		select {
		case s.stop <- done:
			<-done
		case <-time.After(5 * time.Second):
			continue
		}
		f, err := s.conn.File()
		s.conn.Close()
		if err != nil {
			continue
		}
		out = append(out, execStream{FD: int(f.Fd()), App: s.app, Stream: s.stream})
		files = append(files, f)
	}
	return out, files
}

// adoptStreams serves the followers handed over.
func (d *Daemon) adoptStreams(es []execStream) {
	for _, e := range es {
		f := fdFile(e.FD, "logs follower")
		if f == nil {
			continue
		}
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			continue
		}
		uc, ok := c.(*net.UnixConn)
		if !ok {
			c.Close()
			continue
		}
		s := &stream{conn: uc, app: e.App, stream: e.Stream, stop: make(chan chan struct{})}
		fl := d.hub.follow(e.App)
		d.streamWG.Add(1)
		go func() {
			defer d.streamWG.Done()
			d.serveStream(s, fl)
		}()
	}
}
