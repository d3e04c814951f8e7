// Command cluster-pool is the Node tutorial's "combine them" server: a
// cluster of worker processes sharing port PORT (default 3000), each of which
// keeps a small pool of its own worker processes for the heavy calculation.
//
//	go run ./examples/cluster-pool
//	curl localhost:3000          # Handled by worker 12345
//	curl localhost:3000/heavy    # Result is 209999997829288740
//	kill <primary pid>           # graceful stop: requests finish, pools close
//
//	primary ─┬─ cluster worker (serves :3000) ─┬─ pool worker (heavyCalculation)
//	         │                                 └─ pool worker
//	         └─ cluster worker (serves :3000) ─┬─ pool worker
//	                                           └─ pool worker
//
// WORKERS sets the number of cluster workers (default one per CPU),
// POOL_SIZE the pool workers of each (default 2), HOST the address to bind
// (default all interfaces), and HERD_DEMO_LIMIT shrinks the tutorial's 1e8
// loop (for tests).
//
// # Why the pool uses processes
//
// One binary plays three roles, told apart in this order: child.Dispatch at
// the top of main turns a pool worker (started by child.ForkSelf, with the
// role in its environment) into the pool's task runner and never returns;
// otherwise cluster.Run makes this the primary or, when started by one, a
// cluster worker. A cluster worker clears the cluster's variables from its
// environment and marks its inherited listeners close-on-exec before it
// builds its pool, so a pool worker neither sees itself as a cluster worker
// nor holds the shared socket open.
//
// The cluster already spreads requests over the cores, so a goroutine pool
// would add no parallelism, and it would compute on the cluster worker's own
// threads, competing with the requests it serves and its heartbeats. A small process
// pool runs the loop at a lower CPU priority (Nice) where the kernel, not the
// worker's scheduler, lets light requests win; a task that crashes or runs
// past its timeout is killed without taking down the cluster worker and its
// requests in flight. The price is a process or two per cluster worker, hence
// the small default size: together the pools have about two per core, a
// little slack for requests landing unevenly on the shared socket.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/cluster"
	"github.com/herdrun/herd/workers"
)

// heavy is the tutorial's heavyCalculation(42) with a loop bound of limit,
// run on a cluster worker's pool. It sums in float64 as JavaScript numbers
// do, so the result prints as Node prints it, and gives up when its task is
// cancelled.
var heavy = workers.Register("cluster-pool.heavy", func(ctx context.Context, limit int64) (float64, error) {
	result := 0.0
	for i := range limit {
		if i%(1<<22) == 0 && ctx.Err() != nil {
			return 0, ctx.Err()
		}
		result += float64(float64(i) * 42)
	}
	return result, nil
})

func main() {
	child.Dispatch() // a pool worker runs its tasks here and exits
	if err := run(context.Background(), os.Getenv, log.New(os.Stderr, "", log.LstdFlags)); err != nil {
		log.Fatal(err)
	}
}

// settings is what run reads from the environment.
type settings struct {
	addr     string // host:port to share
	clusterN int    // cluster workers; 0 means one per CPU
	poolN    int    // pool workers per cluster worker
	limit    int64  // heavyCalculation's loop bound
}

// parseSettings reads PORT, HOST, WORKERS, POOL_SIZE and HERD_DEMO_LIMIT.
func parseSettings(getenv func(string) string) (settings, error) {
	s := settings{poolN: 2, limit: 1e8}
	port := getenv("PORT")
	if port == "" {
		port = "3000"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return s, fmt.Errorf("PORT=%q: want a number from 0 to 65535", port)
	}
	s.addr = net.JoinHostPort(getenv("HOST"), port)
	var err error
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
	if v := getenv("HERD_DEMO_LIMIT"); v != "" {
		limit, err := strconv.ParseFloat(v, 64)
		if err != nil || limit < 1 || limit > 1<<62 || limit != math.Trunc(limit) {
			return s, fmt.Errorf("HERD_DEMO_LIMIT=%q: want a positive whole number such as 1000 or 1e8", v)
		}
		s.limit = int64(limit)
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
		fmt.Fprintf(rw, "Result is %s\n", strconv.FormatFloat(sum, 'f', -1, 64))
	})
	return mux
}
