// Command fork is the Node tutorial's fork example in Go: an HTTP server
// that stays responsive while it computes something CPU-heavy, because the
// heavy part runs in a forked worker process.
//
//	// server.js                              // worker.js
//	const worker = fork('./worker.js');       process.on('message', (n) => {
//	worker.send(42);                            process.send(heavyCalculation(n));
//	worker.on('message', (result) =>          });
//	  res.end(`Result is ${result}`));
//
// Go cannot fork a module file, so worker.js is the function worker below,
// registered with child.Register and started by child.ForkSelf in a new
// process of this same binary; the child.Dispatch call at the top of main is
// what turns such a copy of the program into that worker.
//
//	go run ./examples/fork                 # PORT=8080 to change the port
//	curl http://127.0.0.1:3000/            # OK, at once
//	curl http://127.0.0.1:3000/heavy       # Result is 209999997829288740
//
// Each /heavy forks a worker with the request's context: when the client
// goes away the worker is killed and reaped before the handler returns.
// Ctrl-C stops the server: requests in flight get up to 5s to finish, then
// their workers are killed. HERD_DEMO_LIMIT replaces the tutorial's 1e8
// loop bound (tests shrink it, or grow it to keep a worker busy).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/ipc"
)

// heavyRole is the name worker is registered under: ForkSelf's "./worker.js".
const heavyRole = "fork.heavy"

// grace is how long requests in flight may finish at shutdown.
const grace = 5 * time.Second

// task is what the server sends a worker: worker.send(42), plus the loop
// bound.
type task struct {
	N     float64 `json:"n"`
	Limit int64   `json:"limit"`
}

// heavyCalculation is the tutorial's loop, summed in float64 as JavaScript
// numbers are, so that the result prints as Node prints it. It gives up
// when ctx is done.
func heavyCalculation(ctx context.Context, n float64, limit int64) (float64, error) {
	result := 0.0
	for i := range limit {
		if i%(1<<22) == 0 && ctx.Err() != nil {
			return 0, ctx.Err()
		}
		result += float64(float64(i) * n) // rounded on its own, as in JavaScript
	}
	return result, nil
}

// worker is worker.js: it receives one task from its parent, computes it
// and sends the result back. Asked to stop (SIGTERM cancels ctx), it exits
// quietly.
func worker(ctx context.Context, parent *ipc.Conn) error {
	m, err := parent.Recv(ctx)
	if err != nil {
		return nil // the parent gave up before sending the task
	}
	var t task
	if err := m.Decode(&t); err != nil {
		return err
	}
	result, err := heavyCalculation(ctx, t.N, t.Limit)
	if err != nil {
		return nil
	}
	return parent.Send(ctx, result)
}

// init registers worker under heavyRole in every copy of the program: the
// server that forks it and the forked process that runs it.
func init() { child.Register(heavyRole, worker) }

func main() {
	child.Dispatch() // in a forked worker: run it and exit; here: return at once

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "fork:", err)
		os.Exit(1)
	}
}

// heavy is server.js's handler: fork a worker, send it 42, answer with what
// it sends back. The worker lives only as long as the request: ForkSelf
// kills it when r.Context() ends, and Wait reaps it.
func heavy(limit int64, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		p, err := child.ForkSelf(ctx, heavyRole, nil, &child.Options{KillGrace: 2 * time.Second})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer p.Channel.Close()
		var result float64
		err = p.Channel.Send(ctx, task{N: 42, Limit: limit})
		if err == nil {
			var m ipc.Message
			if m, err = p.Channel.Recv(ctx); err == nil {
				err = m.Decode(&result)
			}
		}
		err = errors.Join(err, p.Wait())
		switch {
		case ctx.Err() != nil:
			log.Info("heavy cancelled; worker killed", "worker", p.Pid)
		case err != nil:
			log.Error("heavy failed", "worker", p.Pid, "err", err)
			http.Error(w, "heavy calculation failed", http.StatusInternalServerError)
		default:
			answer := "Result is " + strconv.FormatFloat(result, 'f', -1, 64)
			log.Info("heavy done", "worker", p.Pid, "answer", answer)
			io.WriteString(w, answer)
		}
	}
}

// run serves on 127.0.0.1:$PORT (default 3000; 0 picks a free port) until
// ctx is done, then shuts down gracefully. getenv supplies PORT and
// HERD_DEMO_LIMIT; the log goes to stdout.
func run(ctx context.Context, stdout io.Writer, getenv func(string) string) error {
	port := orDefault(getenv("PORT"), "3000")
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("PORT=%q: want a number from 0 to 65535", port)
	}
	limit, err := strconv.ParseFloat(orDefault(getenv("HERD_DEMO_LIMIT"), "1e8"), 64)
	if err != nil || limit < 1 || limit > 1<<62 || limit != math.Trunc(limit) {
		return fmt.Errorf("HERD_DEMO_LIMIT=%q: want a positive whole number such as 1000 or 1e8", getenv("HERD_DEMO_LIMIT"))
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stdout, nil))
	fmt.Fprintf(stdout, "Server listening on http://%s\n", ln.Addr())

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "OK")
	})
	mux.Handle("GET /heavy", heavy(int64(limit), log))

	// Requests get a context of their own, cancelled only when the grace
	// period is over: ctx ending means "stop accepting", not "abandon
	// everyone".
	requests, cancelRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRequests()
	srv := &http.Server{
		Handler:     mux,
		BaseContext: func(net.Listener) context.Context { return requests },
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "grace", grace)
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if srv.Shutdown(sctx) != nil {
		cancelRequests() // kills the workers still computing
		kctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(kctx)
	}
	log.Info("stopped")
	return nil
}

// orDefault returns s, or def when s is empty.
func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
