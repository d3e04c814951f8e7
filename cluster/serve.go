package cluster

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// newConnGrace bounds how long a draining worker waits for connections it
// accepted to send their first request (the same 5s net/http allows before it
// treats a silent new connection as idle).
const newConnGrace = 5 * time.Second

// Serve serves HTTP with h on ln until ctx ends, then drains without
// dropping a request: it stops accepting, waits until every connection it
// accepted has sent its request (at most 5s), then calls
// http.Server.Shutdown, which lets requests in flight finish and closes idle
// keep-alive connections. The primary's Config.ShutdownTimeout bounds the
// drain. Requests are counted for Config.MaxRequests.
//
// Calling http.Server.Shutdown directly is not enough in a cluster: net/http
// drops, without a response, a request it reads after Shutdown began, even
// on a connection accepted before, and under load a worker always has a few.
func (w *Worker) Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	return w.ServeServer(ctx, &http.Server{Handler: h}, ln)
}

// ServeServer is Serve with a server of your own. Its Handler is wrapped to
// count requests and its ConnState hook to track new connections; a hook
// already set is still called.
func (w *Worker) ServeServer(ctx context.Context, srv *http.Server, ln net.Listener) error {
	h := srv.Handler
	if h == nil {
		h = http.DefaultServeMux
	}
	var fresh newConns
	fresh.m = map[net.Conn]struct{}{}
	srv.Handler = w.counting(fresh.served(h))
	userCtx := srv.ConnContext
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if userCtx != nil {
			ctx = userCtx(ctx, c)
		}
		return context.WithValue(ctx, connKey{}, c)
	}
	userHook := srv.ConnState
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		fresh.track(c, st)
		if userHook != nil {
			userHook(c, st)
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
	}
	// Stop accepting; Serve returns once its accept loop has seen the close,
	// and every connection it accepted is tracked by then.
	ln.Close()
	<-errc
	fresh.wait(newConnGrace)
	return srv.Shutdown(context.Background())
}

// newConns tracks accepted connections whose first request has not reached
// the handler yet. (http.StateActive is not enough: net/http sets it before
// it checks for shutdown and drops the request.)
type newConns struct {
	mu sync.Mutex
	m  map[net.Conn]struct{}
}

type connKey struct{}

func (n *newConns) track(c net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		n.mu.Lock()
		n.m[c] = struct{}{}
		n.mu.Unlock()
	case http.StateClosed, http.StateHijacked:
		n.forget(c)
	}
}

func (n *newConns) forget(c net.Conn) {
	n.mu.Lock()
	delete(n.m, c)
	n.mu.Unlock()
}

// served wraps h to mark a connection's request as having reached it.
func (n *newConns) served(h http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if c, ok := r.Context().Value(connKey{}).(net.Conn); ok {
			n.forget(c)
		}
		h.ServeHTTP(rw, r)
	})
}

// wait returns when no tracked connection is new, or after d.
func (n *newConns) wait(d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		n.mu.Lock()
		left := len(n.m)
		n.mu.Unlock()
		if left == 0 {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// counting wraps h to count requests and ask for recycling at MaxRequests.
func (w *Worker) counting(h http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		n := w.requests.Add(1)
		if w.maxReqs > 0 && n == w.maxReqs {
			go func() { _ = w.Recycle("served " + itoa(int(n)) + " requests (max requests)") }()
		}
		h.ServeHTTP(rw, r)
	})
}
