// Command pool-server is the Node tutorial's fork server changed to use a
// pool: GET / answers at once, GET /heavy computes heavyCalculation on one
// of a fixed set of worker processes instead of forking per request, so
// the server stays responsive and the cost of starting a process is paid
// once.
//
//	go run ./examples/pool-server              # PORT=8080 to change the port
//	curl http://127.0.0.1:3000/                # OK
//	curl http://127.0.0.1:3000/heavy           # Result is 209999997829288740
//
// The pool has one worker per CPU (WORKERS to change it), lowered in CPU
// priority so that light requests win, and a 30s per-task timeout after
// which a stuck worker is killed and replaced. The child.Dispatch call at
// the top of main turns a worker copy of this program into a worker.
// Ctrl-C drains: requests in flight finish, then the workers exit.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/workers"
)

// heavyCalculation is the tutorial's loop, summed in float64 as JavaScript
// does, so that the result prints as Node prints it.
func heavyCalculation(n int) float64 {
	sum := 0.0
	for i := 0; i < n; i++ {
		sum += float64(i * 42)
	}
	return sum
}

// heavy is the task /heavy runs on the pool.
var heavy = workers.Register("pool-server.heavy", func(ctx context.Context, n int) (float64, error) {
	return heavyCalculation(n), nil
})

// iterations is the tutorial's loop count.
const iterations = 1e8

func main() {
	child.Dispatch() // in a worker process: serve the pool and exit

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "pool-server:", err)
		os.Exit(1)
	}
}

// run serves on 127.0.0.1:$PORT (default 3000; 0 picks a free port) until
// ctx is done. It prints the address it listens on to stdout.
func run(ctx context.Context, stdout io.Writer, getenv func(string) string) error {
	port := 3000
	if s := getenv("PORT"); s != "" {
		p, err := strconv.Atoi(s)
		if err != nil || p < 0 || p > 65535 {
			return fmt.Errorf("bad PORT %q", s)
		}
		port = p
	}
	size := runtime.NumCPU()
	if s := getenv("WORKERS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return fmt.Errorf("bad WORKERS %q", s)
		}
		size = n
	}
	pool, err := workers.New(heavy, &workers.Options{
		Backend: workers.Processes,
		Size:    size,
		Timeout: 30 * time.Second,
		Nice:    5,
		Name:    "pool-server",
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		pool.Kill()
		return err
	}
	fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr())
	srv := &http.Server{Handler: handler(pool), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err = <-errc:
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 35*time.Second)
		defer cancel()
		err = srv.Shutdown(sctx)
	}
	cctx, cancel := context.WithTimeout(context.Background(), 35*time.Second)
	defer cancel()
	if cerr := pool.Close(cctx); err == nil || errors.Is(err, http.ErrServerClosed) {
		err = cerr
	}
	return err
}

// handler serves the tutorial's two routes.
func handler(pool *workers.Pool[int, float64]) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "OK")
	})
	mux.HandleFunc("GET /heavy", func(w http.ResponseWriter, r *http.Request) {
		sum, err := pool.Run(r.Context(), iterations)
		if err != nil {
			slog.Error("heavy", "err", err)
			http.Error(w, "heavy calculation failed", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, "Result is "+strconv.FormatFloat(sum, 'f', -1, 64))
	})
	return mux
}
