// Command jobs is the Node tutorial's answer to its question 7, "how do I
// keep heavy work from blocking the server?", taken to the end: "push the
// job to a worker and immediately respond with a job ID, or wait for the
// worker's response". The jobs are durable (package jobs, on an embedded
// NATS JetStream in JOBS_DIR), so they outlive the request, and the process.
// HERD_JOBS_NATS (a cluster's URLs, such as herd.yaml's jobs: block sets
// for the apps herd runs) or HERD_JOBS_DIR put them elsewhere
// (jobs.Config.WithEnv).
//
//	go run ./examples/jobs                          # PORT=8080, JOBS_DIR=/var/lib/x
//	curl -s -XPOST localhost:3000/heavy             # {"id":"01J..."} at once (202)
//	curl -s localhost:3000/jobs/01J...              # its state; then its result
//	curl -s -XPOST 'localhost:3000/heavy?wait=1'    # Result is 209999997829288740
//
// /jobs/ and /queues are the whole jobs HTTP API (package jobshttp): wait,
// events, cancel, retry, list. HERD_DEMO_LIMIT replaces the 1e8 loop bound.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/herdrun/herd/jobs"
	"github.com/herdrun/herd/jobs/jobshttp"
)

// task is the heavy job's arguments.
type task struct {
	N     float64 `json:"n"`
	Limit int64   `json:"limit"`
}

// heavy is the tutorial's heavyCalculation, as a job handler.
func heavy(ctx context.Context, j *jobs.Job[task]) (float64, error) {
	result := 0.0
	for i := range j.Args.Limit {
		if i%(1<<22) == 0 && ctx.Err() != nil {
			return 0, ctx.Err() // cancelled, or its timeout
		}
		result += float64(i) * j.Args.N
	}
	return result, nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "jobs:", err)
		os.Exit(1)
	}
}

// run serves on 127.0.0.1:$PORT (default 3000) until ctx is done.
func run(ctx context.Context, stdout io.Writer, getenv func(string) string) error {
	limit, err := strconv.ParseFloat(or(getenv("HERD_DEMO_LIMIT"), "1e8"), 64)
	if err != nil || limit < 1 {
		return fmt.Errorf("HERD_DEMO_LIMIT=%q: want a positive number such as 1e8", getenv("HERD_DEMO_LIMIT"))
	}
	cfg, err := jobs.Config{Dir: getenv("JOBS_DIR")}.WithEnv(getenv)
	if err != nil {
		return err
	}
	if cfg.Dir == "" && len(cfg.URLs) == 0 {
		if cfg.Dir, err = os.MkdirTemp("", "jobs-example-"); err != nil {
			return err
		}
		defer os.RemoveAll(cfg.Dir)
	}
	client, err := jobs.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer client.Close()
	jobs.Register(client, "heavy", heavy)
	working, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	worked := make(chan error, 1)
	go func() { worked <- client.Work(working, jobs.WorkOptions{ShutdownTimeout: 5 * time.Second}) }()
	defer func() { stopWork(); <-worked }()

	mux := http.NewServeMux()
	api := jobshttp.New(client, jobshttp.Options{})
	mux.Handle("/jobs/", api)
	mux.Handle("/queues", api)
	mux.HandleFunc("POST /heavy", func(w http.ResponseWriter, r *http.Request) {
		id, err := client.Submit(r.Context(), "heavy", task{N: 42, Limit: int64(limit)}, jobs.SubmitOptions{})
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		if r.URL.Query().Get("wait") == "" { // respond with the ID at once
			w.Header().Set("Location", "/jobs/"+id)
			w.WriteHeader(http.StatusAccepted)
			fmt.Fprintf(w, "{\"id\":%q}\n", id)
			return
		}
		info, err := client.Wait(r.Context(), id) // or wait for the worker
		if err != nil || info.State != jobs.StateSucceeded {
			http.Error(w, fmt.Sprintf("job %s: %s %v", id, info.State, err), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "Result is %s", info.Result)
	})

	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", or(getenv("PORT"), "3000")))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Server listening on http://%s\n", ln.Addr())
	srv := &http.Server{Handler: mux, ErrorLog: slog.NewLogLogger(slog.NewTextHandler(stdout, nil), slog.LevelError)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done(): // requests in flight get 5s; the jobs stay queued
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
