package cluster_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"os"
	"sync/atomic"

	"github.com/herdrun/herd/cluster"
)

// The tutorial's cluster server: one worker per CPU on :3000, each answering
// with its pid. This is the whole main of a program: the same code runs in
// the primary, which starts and supervises the workers, and in every
// worker, where Run calls the function and exits. Not run by go test: it
// serves :3000 until SIGTERM or Ctrl-C.
func Example() {
	cfg := cluster.Config{Listen: []cluster.Addr{{Address: ":3000"}}}
	err := cluster.Run(context.Background(), cfg, func(ctx context.Context, w *cluster.Worker) error {
		ln, err := w.Listen("tcp", ":3000")
		if err != nil {
			return err
		}
		return w.Serve(ctx, ln, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(rw, "Handled by worker %d\n", os.Getpid())
		}))
	})
	if err != nil {
		log.Fatal(err)
	}
}

// exampleEnv marks the worker processes of the runnable examples. A
// primary re-executes its own program for every worker, here the test
// binary, so this init is their main: a program's main calls cluster.Run
// first thing, and in a worker it never returns.
const exampleEnv = "HERD_CLUSTER_EXAMPLE"

func init() {
	if os.Getenv(exampleEnv) != "" {
		cluster.Run(context.Background(), exampleConfig(), hello)
	}
}

// exampleConfig is two workers sharing a free port on the loopback, and
// no log lines.
func exampleConfig() cluster.Config {
	return cluster.Config{
		Workers: 2,
		Listen:  []cluster.Addr{{Address: "127.0.0.1:0"}},
		Env:     []string{exampleEnv + "=1"},
		Logger:  slog.New(slog.DiscardHandler),
	}
}

// hello is the workers' function: "Handled by worker <pid>".
func hello(ctx context.Context, w *cluster.Worker) error {
	ln, err := w.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	return w.Serve(ctx, ln, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(rw, "Handled by worker %d\n", os.Getpid())
	}))
}

// Run starts the workers and supervises them until its context ends; then
// they drain and stop, and Run returns nil. Here the primary stops as soon
// as both workers are serving.
func ExampleRun() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var ready atomic.Int32
	cfg := exampleConfig()
	cfg.OnEvent = func(e cluster.Event) {
		if e.Kind == cluster.EventReady && ready.Add(1) == 2 {
			stop()
		}
	}
	err := cluster.Run(ctx, cfg, hello)
	fmt.Println(ready.Load(), "workers served; Run returned", err)
	// Output: 2 workers served; Run returned <nil>
}
