package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/herdrun/herd/cluster"
	"github.com/herdrun/herd/internal/demo"
	"github.com/herdrun/herd/workers"
)

// heavy is the tutorial's heavyCalculation(42) with a loop bound of limit,
// run on a cluster worker's pool.
var heavy = workers.Register("cluster-pool.heavy", func(ctx context.Context, limit int64) (float64, error) {
	return demo.HeavyCalculation(ctx, demo.DefaultN, limit)
})

// settings is what run reads from the environment.
type settings struct {
	addr     string // host:port to share
	clusterN int    // cluster workers; 0 means one per CPU
	poolN    int    // pool workers per cluster worker
	limit    int64  // heavyCalculation's loop bound
}

// parseSettings reads PORT, HOST, WORKERS, POOL_SIZE and demo.EnvLimit.
func parseSettings(getenv func(string) string) (settings, error) {
	s := settings{poolN: 2, limit: demo.DefaultLimit}
	port, err := demo.ParsePort(getenv("PORT"))
	if err != nil {
		return s, err
	}
	s.addr = net.JoinHostPort(getenv("HOST"), strconv.Itoa(port))
	if v := getenv("WORKERS"); v != "" {
		if s.clusterN, err = strconv.Atoi(v); err != nil || s.clusterN < 1 {
			return s, fmt.Errorf("WORKERS=%q: want a positive number", v)
		}
	}
	if v := getenv("POOL_SIZE"); v != "" {
		if s.poolN, err = strconv.Atoi(v); err != nil || s.poolN < 1 {
			return s, fmt.Errorf("POOL_SIZE=%q: want a positive number", v)
		}
	}
	limit, err := demo.ParseLimit(getenv(demo.EnvLimit))
	if err != nil {
		return s, err
	}
	if limit > 0 {
		s.limit = limit
	}
	return s, nil
}

// run is the whole program after child.Dispatch. In the primary it opens
// the shared address and supervises the cluster workers until SIGTERM or
// SIGINT (handled by cluster.Run); in a cluster worker it serves and
// returns when the worker has drained and its pool has closed.
func run(ctx context.Context, getenv func(string) string, logger *log.Logger) error {
	s, err := parseSettings(getenv)
	if err != nil {
		return err
	}
	cfg := cluster.Config{
		Workers: s.clusterN,
		Listen:  []cluster.Addr{{Address: s.addr, Name: "http"}},
		OnEvent: func(e cluster.Event) {
			switch e.Kind {
			case cluster.EventReady:
				logger.Printf("worker %d (pid %d) is serving on %s", e.Worker, e.PID, s.addr)
			case cluster.EventExit:
				switch {
				case !e.Expected:
					logger.Printf("worker %d (pid %d) died (%s); starting a new one", e.Worker, e.PID, e.Status)
				case e.Status.Code != 0:
					logger.Printf("worker %d (pid %d) did not stop cleanly (%s)", e.Worker, e.PID, e.Status)
				}
			}
		},
	}
	if cluster.IsPrimary() {
		logger.Printf("primary %d starting; stop with kill %d", os.Getpid(), os.Getpid())
	}
	return cluster.Run(ctx, cfg, func(ctx context.Context, w *cluster.Worker) error {
		return serveWorker(ctx, w, s)
	})
}

// serveWorker is the body of a cluster worker: it starts its pool, serves
// until ctx ends, then closes the pool once the requests in flight are done.
func serveWorker(ctx context.Context, w *cluster.Worker, s settings) error {
	pool, err := workers.New(heavy, &workers.Options{
		Backend: workers.Processes,
		Size:    s.poolN,
		Timeout: 30 * time.Second,
		Nice:    5,
		Name:    "pool-" + strconv.Itoa(w.ID()),
	})
	if err != nil {
		return err
	}
	ln, err := w.Listen("tcp", s.addr)
	if err != nil {
		pool.Kill()
		return err
	}
	err = w.Serve(ctx, ln, handler(pool, s.limit))
	// Serve has let every request finish: no task is left to wait for. The
	// bound stays under the primary's ShutdownTimeout (30s) before SIGKILL.
	cctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return errors.Join(err, pool.Close(cctx))
}

// handler serves the tutorial's two routes.
func handler(pool *workers.Pool[int64, float64], limit int64) http.Handler {
	pid := os.Getpid()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(rw http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(rw, "Handled by worker %d\n", pid)
	})
	mux.HandleFunc("GET /heavy", func(rw http.ResponseWriter, r *http.Request) {
		sum, err := pool.Run(r.Context(), limit)
		if err != nil {
			log.Printf("worker %d: heavy: %v", pid, err)
			http.Error(rw, "heavy calculation failed", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(rw, "Result is %s\n", demo.FormatNumber(sum))
	})
	return mux
}
