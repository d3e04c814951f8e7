// Package loadgen is a small HTTP/1.1 load generator for herd's tests and
// benchmarks: a fixed number of client goroutines send GET requests to one
// loopback address, over keep-alive connections or one new connection per
// request, and count successes, failures and response bodies. It writes
// requests and parses responses by hand so that, on a small machine, the
// client costs far less CPU than the servers it measures.
package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// A request on a new connection ends with a reset once its response is
// read (SO_LINGER 0), so a long run leaves no TIME_WAIT behind.

// Options configures a run. Addr is required; the other zero values are
// usable defaults.
type Options struct {
	// Addr is the server's host:port.
	Addr string
	// Path is the request path; "" means "/".
	Path string
	// Conns is the number of concurrent clients; 0 means 16.
	Conns int
	// KeepAlive reuses each client's connection; otherwise every request
	// opens a new connection and sends Connection: close.
	KeepAlive bool
	// Duration bounds the run; 0 means until ctx ends.
	Duration time.Duration
	// Requests, if positive, is how many requests each client sends
	// before stopping.
	Requests int
	// Timeout bounds one request, dial included; 0 means 10s.
	Timeout time.Duration
	// CountBodies counts responses by body in Result.Bodies.
	CountBodies bool
	// Observe, if set, is called after every request (from the client's
	// goroutine, so it must be safe for concurrent use).
	Observe func(Sample)
}

// Sample is one request.
type Sample struct {
	Start     time.Time // the request began (dial or reuse)
	Connected time.Time // the connection was established (or reused)
	End       time.Time
	Status    int
	Body      string
	Err       error // nil for a 200 response
}

// Result sums a run.
type Result struct {
	OK, Failed int64
	Elapsed    time.Duration
	// Bodies counts responses by body (Options.CountBodies).
	Bodies map[string]int64
	// Errors counts failures by message.
	Errors map[string]int64
}

// RPS returns successful requests per second.
func (r Result) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK) / r.Elapsed.Seconds()
}

// Run sends load until ctx ends, Duration elapses or every client has sent
// Requests requests.
func Run(ctx context.Context, o Options) Result {
	if o.Conns <= 0 {
		o.Conns = 16
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Path == "" {
		o.Path = "/"
	}
	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	req := "GET " + o.Path + " HTTP/1.1\r\nHost: " + o.Addr + "\r\n"
	if !o.KeepAlive {
		req += "Connection: close\r\n"
	}
	reqb := []byte(req + "\r\n")

	var mu sync.Mutex
	total := Result{Bodies: map[string]int64{}, Errors: map[string]int64{}}
	var wg sync.WaitGroup
	start := time.Now()
	for range o.Conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := client(ctx, o, reqb)
			mu.Lock()
			total.OK += r.OK
			total.Failed += r.Failed
			for k, v := range r.Bodies {
				total.Bodies[k] += v
			}
			for k, v := range r.Errors {
				total.Errors[k] += v
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	total.Elapsed = time.Since(start)
	return total
}

func client(ctx context.Context, o Options, req []byte) Result {
	r := Result{Bodies: map[string]int64{}, Errors: map[string]int64{}}
	var (
		conn net.Conn
		br   *bufio.Reader
	)
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	d := net.Dialer{Timeout: o.Timeout}
	// over reports the end of the run. The deadline is checked as well as
	// ctx.Err(): past it, a dial fails at once with "i/o timeout" while the
	// context's timer may not have fired yet on a busy machine.
	deadline, hasDeadline := ctx.Deadline()
	over := func() bool { return ctx.Err() != nil || (hasDeadline && !time.Now().Before(deadline)) }
	for n := 0; o.Requests <= 0 || n < o.Requests; n++ {
		if over() {
			break
		}
		s := Sample{Start: time.Now()}
		if conn == nil {
			c, err := d.DialContext(ctx, "tcp", o.Addr)
			if err != nil {
				if over() {
					break // the run ended mid-dial: not a failure
				}
				s.Err = err
				s.End = time.Now()
				r.fail(s, o)
				continue
			}
			conn, br = c, bufio.NewReaderSize(c, 4096)
		}
		s.Connected = time.Now()
		conn.SetDeadline(s.Connected.Add(o.Timeout))
		status, body, closeConn, err := roundTrip(conn, br, req, o.CountBodies || o.Observe != nil)
		s.End, s.Status, s.Body, s.Err = time.Now(), status, body, err
		if err == nil && status != 200 {
			s.Err = fmt.Errorf("status %d", status)
		}
		if s.Err != nil || closeConn || !o.KeepAlive {
			if s.Err == nil {
				// The response is complete: reset rather than close, so
				// that no TIME_WAIT is left behind. Thousands of new
				// connections per second would otherwise exhaust the
				// loopback's ephemeral ports within a minute.
				if tc, ok := conn.(*net.TCPConn); ok {
					tc.SetLinger(0)
				}
			}
			conn.Close()
			conn = nil
		}
		if s.Err != nil {
			r.fail(s, o)
			continue
		}
		r.OK++
		if o.CountBodies {
			r.Bodies[body]++
		}
		if o.Observe != nil {
			o.Observe(s)
		}
	}
	return r
}

func (r *Result) fail(s Sample, o Options) {
	r.Failed++
	msg := s.Err.Error()
	if len(msg) > 120 {
		msg = msg[:120]
	}
	r.Errors[msg]++
	if o.Observe != nil {
		o.Observe(s)
	}
}

var errMalformed = errors.New("loadgen: malformed response")

// roundTrip writes req and reads one response. It returns the status, the
// body (if wanted), and whether the server asked to close the connection.
func roundTrip(conn net.Conn, br *bufio.Reader, req []byte, wantBody bool) (int, string, bool, error) {
	if _, err := conn.Write(req); err != nil {
		return 0, "", true, err
	}
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, "", true, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, "", true, errMalformed
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, "", true, errMalformed
	}
	clen, closeConn := -1, false
	for {
		h, err := br.ReadSlice('\n')
		if err != nil {
			return status, "", true, err
		}
		if len(h) <= 2 {
			break
		}
		k, v, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			continue
		}
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			clen, _ = strconv.Atoi(string(v))
		case bytes.EqualFold(k, []byte("Connection")) && bytes.EqualFold(v, []byte("close")):
			closeConn = true
		}
	}
	var body []byte
	if clen >= 0 {
		if wantBody {
			body = make([]byte, clen)
			if _, err := io.ReadFull(br, body); err != nil {
				return status, "", true, err
			}
		} else if _, err := br.Discard(clen); err != nil {
			return status, "", true, err
		}
	} else {
		b, err := io.ReadAll(br)
		if err != nil {
			return status, "", true, err
		}
		body, closeConn = b, true
	}
	return status, string(body), closeConn, nil
}
