package demo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"
)

// DefaultPort is the tutorial's port.
const DefaultPort = 3000

// stopWait bounds how long Serve waits, after cancelling the in-flight
// requests, for their handlers to kill and reap their workers.
const stopWait = workerKillGrace + 3*time.Second

// ErrPortInUse is wrapped by the error Listen returns when the address is
// already taken by another program.
var ErrPortInUse = errors.New("the port is already in use")

// Listen opens a TCP listener on host:port; port 0 picks a free port. When
// the port is taken it returns an error wrapping ErrPortInUse, whose text is
// one line naming the address.
func Listen(ctx context.Context, host string, port int) (net.Listener, error) {
	if port < 0 || port > 65535 {
		return nil, fmt.Errorf("port %d is out of range 0-65535", port)
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("listen on %s: %w", addr, ErrPortInUse)
	}
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return ln, nil
}

// Serve serves HTTP on ln until ctx is done, then shuts down gracefully: it
// stops accepting, lets in-flight requests finish for up to Grace, then
// cancels those still running, whose workers are killed and reaped, and
// answers them 503. It returns nil after such a shutdown, or an error if
// serving failed first. Serve closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	// Requests do not inherit ctx's cancellation: ctx ending means "start
	// shutting down", not "abandon every request".
	base, cancelBase := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancelBase(nil)
	hs := &http.Server{
		Handler:           s.Handler(),
		BaseContext:       func(net.Listener) context.Context { return base },
		ReadHeaderTimeout: 10 * time.Second,
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}

	grace := s.Grace
	if grace == 0 {
		grace = DefaultGrace
	}
	log := s.log()
	log.Info("shutting down", "in_flight", s.InFlight(), "grace", grace)
	if grace < 0 || shutdown(hs, grace) != nil {
		log.Warn("cancelling in-flight requests", "in_flight", s.InFlight())
		cancelBase(errShuttingDown)
		if shutdown(hs, stopWait) != nil {
			hs.Close()
		}
	}
	<-served
	log.Info("stopped")
	return nil
}

// shutdown runs hs.Shutdown with a timeout of d, or just stops accepting
// when d is negative.
func shutdown(hs *http.Server, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), max(d, 0))
	defer cancel()
	return hs.Shutdown(ctx)
}
