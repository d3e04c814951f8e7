package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/herdrun/herd/child"
)

// DefaultGrace is how long Serve lets in-flight requests finish at shutdown
// when Server.Grace is zero.
const DefaultGrace = 5 * time.Second

// workerKillGrace is how long a worker has between SIGTERM and SIGKILL. The
// worker notices SIGTERM within milliseconds, so this is a backstop.
const workerKillGrace = 2 * time.Second

// errShuttingDown is the cause Serve gives the request contexts it cancels
// when the grace period runs out, so a handler can tell that from a client
// that went away.
var errShuttingDown = errors.New("demo: server is shutting down")

// Server is the tutorial's fork server. GET / answers "OK" at once; GET
// /heavy forks a worker process that computes
// HeavyCalculation(DefaultN, Limit) and answers "Result is <number>", the
// number as JavaScript prints it. Any other path is 404; other methods than
// GET and HEAD are 405.
//
// The zero value is ready to use. A Server must not be copied after first
// use. Its handler forks with child.ForkSelf, so the program must call
// Register and child.Dispatch first thing in main.
type Server struct {
	// Limit is the loop bound of the heavy calculation. 0 means
	// DefaultLimit (1e8), the tutorial's; tests set it lower (or, to keep
	// a request in flight, much higher).
	Limit int64

	// Grace is how long Serve, once its context is done, waits for
	// in-flight requests to finish before cancelling them, which kills
	// their workers. 0 means DefaultGrace; a negative value cancels them at
	// once.
	Grace time.Duration

	// Logger receives one record per /heavy request and the shutdown steps.
	// nil means no logs.
	Logger *slog.Logger

	// OnFork, if not nil, is called with the process id of every worker
	// just after it starts, before it is sent its task.
	OnFork func(pid int)

	// Jobs, if not nil, serves the paths in JobsRoutes: the jobs HTTP API
	// under /jobs and /queues, and /resized/ (see Jobs.Handler).
	Jobs http.Handler

	inflight atomic.Int64
}

// InFlight returns the number of worker processes running now.
func (s *Server) InFlight() int { return int(s.inflight.Load()) }

func (s *Server) limit() int64 {
	if s.Limit == 0 {
		return DefaultLimit
	}
	return s.Limit
}

func (s *Server) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// Handler returns the server's routes: GET / and GET /heavy, and the
// jobs routes when Jobs is set. A /heavy worker is killed when the
// request's context is done: the client went away, or Serve ran out of
// grace at shutdown.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "OK")
	})
	mux.HandleFunc("GET /heavy", s.serveHeavy)
	if s.Jobs != nil {
		for _, p := range JobsRoutes {
			mux.Handle(p, s.Jobs)
		}
	}
	return mux
}

func (s *Server) serveHeavy(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	start := time.Now()
	res, pid, err := s.Compute(ctx)
	log := s.log().With("path", r.URL.Path, "worker", pid, "took", time.Since(start).Round(time.Millisecond))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	switch {
	case err == nil:
		text := "Result is " + FormatNumber(res)
		log.Info("heavy done", "answer", text)
		io.WriteString(w, text)
	case errors.Is(context.Cause(ctx), errShuttingDown):
		log.Warn("heavy cancelled: server shutting down; worker killed")
		http.Error(w, "server is shutting down", http.StatusServiceUnavailable)
	case ctx.Err() != nil:
		log.Info("heavy cancelled: client went away; worker killed")
	default:
		log.Error("heavy failed", "err", err)
		http.Error(w, "heavy calculation failed: "+err.Error(), http.StatusInternalServerError)
	}
}

// Compute forks a worker, sends it Task{DefaultN, Limit} and returns its
// result and process id. It returns only once the worker has exited and been
// reaped. When ctx is done first, the worker's process group gets SIGTERM,
// then SIGKILL after a short grace, and Compute returns an error wrapping
// ctx's.
func (s *Server) Compute(ctx context.Context) (result float64, pid int, err error) {
	p, err := child.ForkSelf(ctx, HeavyRole, nil, &child.Options{KillGrace: workerKillGrace})
	if err != nil {
		return 0, 0, fmt.Errorf("fork worker: %w", err)
	}
	defer p.Channel.Close()
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	if s.OnFork != nil {
		s.OnFork(p.Pid)
	}
	result, err = exchange(ctx, p, Task{N: DefaultN, Limit: s.limit()})
	werr := p.Wait() // reaps the worker; after a cancel, once it is dead
	switch {
	case err != nil && ctx.Err() != nil:
		return 0, p.Pid, fmt.Errorf("worker %d: %w", p.Pid, context.Cause(ctx))
	case werr != nil:
		return 0, p.Pid, fmt.Errorf("worker %d: %w", p.Pid, werr)
	case err != nil:
		return 0, p.Pid, fmt.Errorf("worker %d: %w", p.Pid, err)
	}
	return result, p.Pid, nil
}

// exchange sends t to the worker and waits for its Reply.
func exchange(ctx context.Context, p *child.Process, t Task) (float64, error) {
	if err := p.Channel.Send(ctx, t); err != nil {
		return 0, fmt.Errorf("send task: %w", err)
	}
	m, err := p.Channel.Recv(ctx)
	if err != nil {
		return 0, fmt.Errorf("receive result: %w", err)
	}
	var rep Reply
	if err := m.Decode(&rep); err != nil {
		return 0, fmt.Errorf("decode result %q: %w", m.Data, err)
	}
	return rep.Result, nil
}
