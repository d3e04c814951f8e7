package daemon

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// Before herd update execs, the daemon lets the commands in progress on
// its socket finish, so that none of them loses its connection: it stops
// accepting (new connections wait in the socket's backlog, which the new
// image inherits) and waits until no connection but the streams (log
// followers, events, the update itself) is in the middle of a request.

// conns tracks the control socket's connections for quiet.
type conns struct {
	pmu    sync.Mutex
	paused chan struct{} // closed by resume; nil while accepting
	parked chan struct{} // closed when the accept loop waits at the gate
	// ln is the socket whose Accept quiet wakes (a deadline in the past),
	// so that the loop comes to the gate: a connection it accepted just
	// before is then registered (StateNew), and quiet waits for it.
	ln interface{ SetDeadline(time.Time) error }

	mu sync.Mutex
	m  map[net.Conn]*connInfo
}

type connInfo struct {
	state  http.ConnState
	stream bool // a stream or the update: not waited for
}

type connKey struct{}

// connContext puts the connection in its requests' context.
func (cs *conns) connContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// connState is the server's ConnState hook.
func (cs *conns) connState(c net.Conn, st http.ConnState) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.m == nil {
		cs.m = map[net.Conn]*connInfo{}
	}
	switch st {
	case http.StateClosed, http.StateHijacked:
		delete(cs.m, c)
	default:
		ci := cs.m[c]
		if ci == nil {
			ci = &connInfo{}
			cs.m[c] = ci
		}
		ci.state = st
	}
}

// markStream excludes the connection of r from what quiet waits for.
func (cs *conns) markStream(r *http.Request) {
	c, _ := r.Context().Value(connKey{}).(net.Conn)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if ci := cs.m[c]; ci != nil {
		ci.stream = true
	}
}

// busy returns the number of connections with a request under way (or
// about to be read), streams left out.
func (cs *conns) busy() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	n := 0
	for _, ci := range cs.m {
		if !ci.stream && (ci.state == http.StateNew || ci.state == http.StateActive) {
			n++
		}
	}
	return n
}

// quiet pauses accepting and waits, at most limit, until no request is
// under way twice in a row 10 ms apart; it reports whether it got there.
// resume undoes the pause.
func (cs *conns) quiet(limit time.Duration) bool {
	cs.pmu.Lock()
	if cs.paused == nil {
		cs.paused, cs.parked = make(chan struct{}), make(chan struct{})
	}
	parked, ln := cs.parked, cs.ln
	cs.pmu.Unlock()
	end := time.Now().Add(limit)
	if ln != nil && parked != nil {
		_ = ln.SetDeadline(time.Now()) // an Accept that waits returns at once
		select {
		case <-parked:
		case <-time.After(limit):
			return false
		}
	}
	for calm := 0; time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cs.busy() > 0 {
			calm = 0
			continue
		}
		if calm++; calm == 2 {
			return true
		}
	}
	return false
}

func (cs *conns) resume() {
	cs.pmu.Lock()
	defer cs.pmu.Unlock()
	if cs.paused != nil {
		if cs.ln != nil {
			_ = cs.ln.SetDeadline(time.Time{})
		}
		close(cs.paused)
		cs.paused, cs.parked = nil, nil
	}
}

// gate blocks while accepting is paused, and tells quiet that it does.
func (cs *conns) gate() {
	cs.pmu.Lock()
	ch := cs.paused
	if cs.parked != nil {
		close(cs.parked)
		cs.parked = nil
	}
	cs.pmu.Unlock()
	if ch != nil {
		<-ch
	}
}
