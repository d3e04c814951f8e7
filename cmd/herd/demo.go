package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/herdrun/herd/cmd/herd/internal/demo"
	"github.com/herdrun/herd/cmd/herd/internal/logsink"
	"github.com/herdrun/herd/jobs"
	"github.com/spf13/cobra"
)

const demoLong = `Run the Node tutorial's whole system, in one binary, with nothing to install.

By default (--workers 2) herd is a cluster: a primary that opens the port once
and supervises N worker processes (this same binary) sharing it.

  GET /        answers "OK" at once, from whichever worker accepted it
               (header X-Herd-Worker: its pid).
  GET /heavy   is sent to the worker's own pool of worker processes, which
               computes the tutorial's heavyCalculation(42), the sum of i*42
               for i < 1e8 in float64 as JavaScript does it, and answers
               "Result is 209999997829288740", the text Node prints.

Its port also serves durable jobs (package jobs, on an embedded NATS
JetStream) over the jobs HTTP API: POST /jobs {"kind":"resize"} answers a
job ID at once; a worker resizes and blurs an image (a generated one) with
the standard library; GET /jobs/{id}, /jobs/{id}/wait and /jobs/{id}/events
follow it, GET /resized/{id} serves the image, and "herd jobs" is the
command-line client. The jobs live in a temporary directory removed at exit,
or in --jobs-dir, kept across runs and locked so that two demos never share
it; --jobs-nats keeps them on a NATS cluster (herd jobs dev-cluster starts
one). In a cluster the primary runs the jobs and the workers forward to it.

A worker that crashes (kill <its pid>) is respawned; SIGHUP replaces the
workers one by one, each new one ready before the old one drains; SIGTTIN and
SIGTTOU add and remove a worker; SIGTERM or Ctrl-C stops everything, letting
requests in flight finish for up to --grace.

--workers 0 runs the tutorial's first part instead: a single-process fork
server whose /heavy forks a fresh worker (child.ForkSelf) per request; a
client that gives up kills its worker. No worker outlives herd, even when herd
itself is killed.

Environment:
  PORT             the port when --port is not given (default 3000)
  HERD_JOBS_NATS, HERD_JOBS_REPLICAS, HERD_JOBS_PREFIX
                   the jobs' cluster when --jobs-nats is not given
  HERD_DEMO_LIMIT  the loop bound instead of 1e8, for tests (e.g. 1000)`

type demoOptions struct {
	workers      int
	host         string
	port         int
	grace        time.Duration
	jobsDir      string
	jobsNATS     string
	jobsReplicas int
}

func newDemoCmd(getenv env) *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the Node tutorial's system: a cluster on :3000, / at once, /heavy in a worker pool",
		Long:  demoLong,
		Example: `  herd demo
  herd demo --port 8080
  curl http://127.0.0.1:3000/heavy`,
		Args: cobra.NoArgs,
	}
	cmd.RunE = runE(func(cmd *cobra.Command, _ []string) error {
		return runDemo(cmd, o, getenv)
	})
	f := cmd.Flags()
	f.IntVarP(&o.port, "port", "p", demo.DefaultPort, "port to listen on, 0 for any free port")
	f.Lookup("port").DefValue = "$PORT, else 3000" // what --help shows as the default
	f.StringVar(&o.host, "host", "127.0.0.1", "address to listen on; 0.0.0.0 for every interface")
	f.IntVarP(&o.workers, "workers", "w", 2, "cluster workers sharing the port; 0 runs the single-process fork server of the tutorial's first part")
	f.DurationVar(&o.grace, "grace", demo.DefaultGrace, "at shutdown, how long requests in flight may finish before their workers are killed")
	f.StringVar(&o.jobsDir, "jobs-dir", "", "keep the jobs in this directory, across runs (default: a temporary one, removed at exit)")
	f.StringVar(&o.jobsNATS, "jobs-nats", "", "keep the jobs on this NATS cluster instead, its URLs comma-separated (default $"+jobs.EnvNATS+"; herd jobs dev-cluster prints them)")
	f.IntVar(&o.jobsReplicas, "jobs-replicas", 0, "copies of the jobs' streams on the cluster, 1 to 5 (default $"+jobs.EnvReplicas+", else 1)")
	return cmd
}

func runDemo(cmd *cobra.Command, o demoOptions, getenv env) error {
	port := o.port
	if cmd.Flags().Changed("port") {
		if port < 0 || port > 65535 {
			return &usageError{fmt.Errorf("--port %d: want a number from 0 to 65535", port)}
		}
	} else {
		p, err := demo.ParsePort(getenv("PORT"))
		if err != nil {
			return &usageError{fmt.Errorf("PORT: %w", err)}
		}
		port = p
	}
	limit, err := demo.ParseLimit(getenv(demo.EnvLimit))
	if err != nil {
		return &usageError{err}
	}
	grace := o.grace
	if grace <= 0 {
		grace = -1 // demo.Server: cancel at once
	}
	store, err := demoStore(cmd, o, getenv)
	if err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	if o.workers < 0 {
		return &usageError{fmt.Errorf("--workers %d: want 0 or more", o.workers)}
	}
	// herd's own log style: "herd demo | msg k=v", colored on a terminal.
	demoLog := (&logsink.Logs{Out: stderr, Color: isTerminal(stderr) && getenv("NO_COLOR") == ""}).Logger("demo")
	if o.workers > 0 {
		err := demo.RunCluster(cmd.Context(), demo.ClusterOptions{
			Host: o.host, Port: port, Workers: o.workers, Limit: limit, Grace: o.grace,
			Out: cmd.OutOrStdout(), Log: demoLog, JobsDir: o.jobsDir,
			JobsNATS: store.URLs, JobsReplicas: store.Replicas, JobsPrefix: store.Prefix,
		})
		if errors.Is(err, demo.ErrPortInUse) {
			return fmt.Errorf("%w; stop the program using it, or pick another port with --port", err)
		}
		return err
	}

	ctx, stop := withSignals(cmd.Context(), stderr, o.grace)
	defer stop()
	ln, err := demo.Listen(ctx, o.host, port)
	if errors.Is(err, demo.ErrPortInUse) {
		return fmt.Errorf("%w; stop the program using it, or pick another port with --port", err)
	}
	if err != nil {
		return err
	}
	defer ln.Close()
	j, err := demo.OpenJobs(ctx, demo.JobsOptions{Dir: o.jobsDir, Logger: demoLog,
		NATS: store.URLs, Replicas: store.Replicas, Prefix: store.Prefix})
	if err != nil {
		return err
	}
	defer j.Close()
	// The jobs' workers stop after the server: requests in flight may still
	// wait for jobs during the grace period.
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	worked := make(chan error, 1)
	go func() { worked <- j.Work(workCtx, o.grace) }()
	defer func() {
		stopWork()
		if err := <-worked; err != nil {
			demoLog.Error("jobs workers stopped", "err", err)
		}
	}()
	printIntro(cmd.OutOrStdout(), ln.Addr(), limit, o.grace, j)
	s := &demo.Server{
		Limit:  limit,
		Grace:  grace,
		Logger: demoLog,
		Jobs:   j.Handler(),
	}
	return s.Serve(ctx, ln)
}

// demoStore reads where the demo keeps its jobs other than in --jobs-dir:
// a cluster by --jobs-nats and --jobs-replicas, else $HERD_JOBS_NATS,
// $HERD_JOBS_REPLICAS and $HERD_JOBS_PREFIX. $HERD_JOBS_DIR is not read:
// --jobs-dir keeps the demo's own layout (the store in DIR/store).
func demoStore(cmd *cobra.Command, o demoOptions, getenv env) (jobs.Config, error) {
	cfg, err := jobs.Config{}.WithEnv(func(k string) string {
		if k == jobs.EnvDir {
			return ""
		}
		return getenv(k)
	})
	if err != nil {
		return cfg, &usageError{err}
	}
	if o.jobsNATS != "" {
		urls, err := jobs.ParseURLs(o.jobsNATS)
		if err != nil {
			return cfg, &usageError{fmt.Errorf("--jobs-nats: %w", err)}
		}
		cfg.URLs = urls
	}
	if cmd.Flags().Changed("jobs-replicas") {
		if o.jobsReplicas < 1 || o.jobsReplicas > jobs.MaxReplicas {
			return cfg, &usageError{fmt.Errorf("--jobs-replicas %d: want 1 to %d (3 survives the loss of one node)", o.jobsReplicas, jobs.MaxReplicas)}
		}
		cfg.Replicas = o.jobsReplicas
	}
	if cfg.Replicas > 1 && len(cfg.URLs) == 0 {
		return cfg, &usageError{fmt.Errorf("--jobs-replicas %d needs a cluster: give --jobs-nats URLS (herd jobs dev-cluster prints them)", cfg.Replicas)}
	}
	return cfg, nil
}

// printIntro says where the server listens and what to try.
func printIntro(w io.Writer, addr net.Addr, limit int64, grace time.Duration, j *demo.Jobs) {
	host, port := "127.0.0.1", ""
	if ta, ok := addr.(*net.TCPAddr); ok {
		port = strconv.Itoa(ta.Port)
		if !ta.IP.IsUnspecified() {
			host = ta.IP.String()
		}
	}
	url := "http://" + net.JoinHostPort(host, port)
	bound := "1e8"
	if limit != 0 {
		bound = strconv.FormatInt(limit, 10)
	}
	pid := os.Getpid()
	fmt.Fprintf(w, `herd demo: the Node tutorial's fork server, in Go (pid %d)
Listening on %s

Try it:
  curl %s/         # OK, at once
  curl %s/heavy    # forks a worker that sums i*42 for i < %s, answers "Result is ..."

While /heavy computes, / keeps answering: the work runs in another process.
%s
Stop with Ctrl-C (or kill -TERM %d); requests in flight get %v to finish.
`, pid, url, url, url, bound, demo.JobsIntro(url, j), pid, grace)
}
