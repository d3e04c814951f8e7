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
// Go cannot fork a module file, so the worker is a function of this same
// binary, registered by demo.Register and started by child.ForkSelf; the
// child.Dispatch call at the top of main is what turns a forked copy of the
// program into that worker. The server itself lives in internal/demo, shared
// with `herd demo`.
//
//	go run ./examples/fork                 # PORT=8080 to change the port
//	curl http://127.0.0.1:3000/            # OK, at once
//	curl http://127.0.0.1:3000/heavy       # Result is 209999997829288740
//
// Ctrl-C stops it: requests in flight get up to 5s to finish, then their
// workers are killed.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/internal/demo"
)

func main() {
	demo.Register()  // the worker that GET /heavy forks
	child.Dispatch() // in a forked worker: run it and exit; here: return at once

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "fork:", err)
		os.Exit(1)
	}
}

// run serves on 127.0.0.1:$PORT (default 3000; 0 picks a free port) until
// ctx is done, then shuts down gracefully. getenv supplies PORT and, for
// tests, demo.EnvLimit.
func run(ctx context.Context, stdout io.Writer, getenv func(string) string) error {
	port, err := demo.ParsePort(getenv("PORT"))
	if err != nil {
		return err
	}
	limit, err := demo.ParseLimit(getenv(demo.EnvLimit))
	if err != nil {
		return err
	}
	ln, err := demo.Listen(ctx, "127.0.0.1", port)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Server listening on http://%s\n", ln.Addr())
	s := &demo.Server{
		Limit:  limit,
		Logger: slog.New(slog.NewTextHandler(stdout, nil)),
	}
	return s.Serve(ctx, ln)
}
