package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/herdrun/herd/jobs"
	"github.com/herdrun/herd/jobs/jobsexec"
	"github.com/herdrun/herd/jobs/jobshttp"
	"github.com/spf13/cobra"
)

const jobsWorkerLong = `Run the jobs of one kind with a program in any language, until SIGINT or
SIGTERM (running jobs then get --shutdown-timeout to finish).

One-shot (the default): a process per attempt. The job's args arrive as
JSON on stdin; the result is the JSON the program prints on stdout; exit 0
succeeds, any other exit fails the attempt with the tail of stderr in the
job's error. HERD_JOB_ID, HERD_JOB_KIND, HERD_JOB_QUEUE, HERD_JOB_ATTEMPT
and HERD_JOB_MAX_ATTEMPTS name the job.

  herd jobs worker --kind resize --nats nats://127.0.0.1:4222 -- python3 resize.py

--keep: one long-lived process per running job, given job after job. Each
job is a JSON line on stdin,
  {"id":"01J...","kind":"resize","queue":"default","attempt":1,"max_attempts":3,"args":{...}}
and the program answers with one JSON line on stdout:
  {"result":{...}}   or   {"error":"why","permanent":false}
A Node program (node, or a .js/.mjs/.cjs file) gets the same job as a
message on Node's IPC channel instead (process.on('message')) and answers
with process.send({result}); --transport stdio|ipc overrides the choice.

Progress, in every mode: a line on stderr (or, kept, a message) such as
  {"progress":0.5,"note":"resized 3 of 6"}
Other stderr lines are the program's log, printed here as "job ID: line".

A timeout (the job's, or --timeout), a cancel or a shutdown sends SIGTERM
to the program's whole process group, then SIGKILL after --kill-grace.

The store: --nats URLS (or $HERD_JOBS_NATS) for a NATS server or cluster
(herd jobs dev-cluster, herd jobs node), or --dir DIR (or $HERD_JOBS_DIR)
for an embedded store that this worker runs; --listen serves it to other
processes over NATS and --http serves the jobs HTTP API, so that
"herd jobs submit" reaches it. When it is ready the worker prints one line:

  ready kind resize queue default concurrency 4 store nats://127.0.0.1:4222 http http://127.0.0.1:3000`

// workerOptions are the flags of herd jobs worker.
type workerOptions struct {
	kind, queue     string
	concurrency     int
	run             jobsexec.Config
	transport       string
	shutdownTimeout time.Duration
	nats, dir       string
	listen, http    string
	prefix          string
	replicas        int
}

func newJobsWorkerCmd(getenv env) *cobra.Command {
	var o workerOptions
	cmd := &cobra.Command{
		Use:   "worker --kind KIND [flags] -- CMD [ARGS...]",
		Short: "Run the jobs of a kind with a program in any language (one-shot or kept; stdin/stdout or Node IPC)",
		Long:  jobsWorkerLong,
		Example: `  herd jobs worker --kind resize --dir /tmp/jobs --http 127.0.0.1:3000 -- python3 resize.py
  herd jobs worker --kind resize --keep --concurrency 4 -- node resize.js
  herd jobs worker --kind report --timeout 5m --nats nats://10.0.0.1:4222,nats://10.0.0.2:4222 -- ./report.sh`,
		Args: cobra.ArbitraryArgs,
	}
	cmd.RunE = runE(func(cmd *cobra.Command, args []string) error {
		return runJobsWorker(cmd, o, args, getenv)
	})
	f := cmd.Flags()
	f.SetInterspersed(false) // everything from CMD on is CMD's
	f.StringVar(&o.kind, "kind", "", "the kind of job to run (required)")
	f.StringVar(&o.queue, "queue", jobs.DefaultQueue, "the queue to take jobs from")
	f.IntVar(&o.concurrency, "concurrency", jobs.DefaultConcurrency, "jobs run at once (processes at once)")
	f.DurationVar(&o.run.Timeout, "timeout", 0, "bound each attempt, on top of the job's own timeout (0: the job's only)")
	f.BoolVar(&o.run.Keep, "keep", false, "keep one process per running job alive from job to job; jobs and replies are messages")
	f.StringVar(&o.transport, "transport", "auto", "auto, stdio or ipc: how jobs reach CMD (auto: ipc for Node, else stdio)")
	f.DurationVar(&o.run.KillGrace, "kill-grace", jobsexec.DefaultKillGrace, "time between SIGTERM and SIGKILL to CMD's process group")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", jobs.DefaultShutdownTimeout, "on SIGINT/SIGTERM, how long running jobs may finish before they are killed and put back")
	f.StringVar(&o.nats, "nats", "", "NATS URLs of the store, comma-separated (default $"+envJobsNATS+")")
	f.StringVar(&o.dir, "dir", "", "run an embedded store in this directory (default $"+envJobsDir+")")
	f.StringVar(&o.listen, "listen", "", "with --dir: serve the store over NATS on HOST:PORT")
	f.StringVar(&o.http, "http", "", "serve the jobs HTTP API (herd jobs submit ...) on HOST:PORT")
	f.StringVar(&o.prefix, "prefix", "", "the store's prefix (default $"+envJobsPrefix+", else "+jobs.DefaultPrefix+")")
	f.IntVar(&o.replicas, "replicas", 0, "copies of each stream on a cluster (default $"+envJobsReplicas+", else 1)")
	return cmd
}

// The environment variables that name the store, as for the apps herd
// runs (jobs.Config's).
const (
	envJobsNATS     = "HERD_JOBS_NATS"
	envJobsDir      = "HERD_JOBS_DIR"
	envJobsPrefix   = "HERD_JOBS_PREFIX"
	envJobsReplicas = "HERD_JOBS_REPLICAS"
)

// storeConfig is the store the flags, else the environment, name.
func (o workerOptions) storeConfig(getenv env) (jobs.Config, error) {
	pick := func(flag, name string) string {
		if flag != "" {
			return flag
		}
		return strings.TrimSpace(getenv(name))
	}
	var cfg jobs.Config
	nats, dir := o.nats, o.dir
	if nats == "" && dir == "" {
		nats, dir = getenv(envJobsNATS), getenv(envJobsDir)
	}
	switch {
	case nats != "" && dir != "":
		return cfg, fmt.Errorf("--nats and --dir are both given (or $%s and $%s): give --nats for a NATS server or cluster, or --dir for an embedded store", envJobsNATS, envJobsDir)
	case nats != "":
		for u := range strings.SplitSeq(nats, ",") {
			if u = strings.TrimSpace(u); u != "" {
				cfg.URLs = append(cfg.URLs, u)
			}
		}
		if len(cfg.URLs) == 0 {
			return cfg, fmt.Errorf("--nats %q has no URL: write nats://HOST:PORT, comma-separated for several", nats)
		}
		if o.listen != "" {
			return cfg, errors.New("--listen serves an embedded store: use it with --dir, not --nats")
		}
	case dir != "":
		cfg.Dir, cfg.Listen = dir, o.listen
	default:
		return cfg, fmt.Errorf("no store: give --nats URLS (or $%s) for a NATS server or cluster, or --dir DIR (or $%s) for an embedded store", envJobsNATS, envJobsDir)
	}
	cfg.Prefix = pick(o.prefix, envJobsPrefix)
	cfg.Replicas = o.replicas
	if v := strings.TrimSpace(getenv(envJobsReplicas)); cfg.Replicas == 0 && v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > jobs.MaxReplicas {
			return cfg, fmt.Errorf("$%s %q: write a number from 1 to %d", envJobsReplicas, v, jobs.MaxReplicas)
		}
		cfg.Replicas = n
	}
	return cfg, nil
}

func runJobsWorker(cmd *cobra.Command, o workerOptions, args []string, getenv env) error {
	usage := func(format string, a ...any) error { return &usageError{fmt.Errorf(format, a...)} }
	if o.kind == "" {
		return usage("--kind is required: the kind of job CMD runs, such as --kind resize")
	}
	if len(args) == 0 {
		return usage("no CMD: write the program after --, such as herd jobs worker --kind %s -- python3 handler.py", o.kind)
	}
	if o.concurrency < 1 {
		return usage("--concurrency %d: write 1 or more", o.concurrency)
	}
	t, err := jobsexec.ParseTransport(o.transport)
	if err != nil {
		return usage("--transport: %v", err)
	}
	prog := args[0]
	switch filepath.Ext(prog) {
	case ".js", ".mjs", ".cjs":
		if _, err := os.Stat(prog); err != nil {
			return usage("CMD %q: %v", prog, err)
		}
		prog = "node" // a script is run by node
	}
	if _, err := exec.LookPath(prog); err != nil {
		return usage("CMD %q: %v", prog, err)
	}
	cfg, err := o.storeConfig(getenv)
	if err != nil {
		return usage("%v", err)
	}
	stderr := cmd.ErrOrStderr()
	o.run.Command, o.run.Transport, o.run.Output = args, t, stderr
	o.run.Warn = func(msg string) { fmt.Fprintf(stderr, "herd jobs worker: warning: %s\n", msg) }
	r, err := jobsexec.New(o.run)
	if err != nil {
		return usage("%v", err)
	}
	defer r.Close()

	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	c, err := jobs.Open(ctx, cfg)
	if err != nil {
		var ve *jobs.ValidationError
		if errors.As(err, &ve) {
			return usage("%v", err)
		}
		return err
	}
	defer c.Close()
	jobsexec.Register(c, o.kind, r)
	// Work records the kind for every client of the store as it starts;
	// the HTTP API served here knows it at once.
	if err := c.Declare(ctx, o.kind); err != nil {
		return err
	}

	httpURL := ""
	var srv *http.Server
	served := make(chan error, 1)
	if o.http != "" {
		ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", o.http)
		if err != nil {
			return fmt.Errorf("--http %s: %w", o.http, err)
		}
		httpURL = "http://" + ln.Addr().String()
		srv = &http.Server{Handler: jobshttp.New(c, jobshttp.Options{}), ReadHeaderTimeout: 10 * time.Second}
		go func() { served <- srv.Serve(ln) }()
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if srv.Shutdown(sctx) != nil {
				srv.Close()
			}
			<-served
		}()
	}

	store := c.URL()
	if store == "" {
		store = "embedded:" + cfg.Dir
	}
	line := fmt.Sprintf("ready kind %s queue %s concurrency %d transport %s keep %v store %s", o.kind, o.queue, o.concurrency, r.Transport(), o.run.Keep, store)
	if httpURL != "" {
		line += " http " + httpURL
	}
	worked := make(chan error, 1)
	go func() {
		worked <- c.Work(ctx, jobs.WorkOptions{
			Queues:          map[string]jobs.QueueConfig{o.queue: {Concurrency: o.concurrency}},
			ShutdownTimeout: o.shutdownTimeout,
		})
	}()
	fmt.Fprintln(cmd.OutOrStdout(), line)
	if f, ok := cmd.OutOrStdout().(*os.File); ok {
		_ = f.Sync()
	}
	select {
	case err = <-worked:
	case err = <-served:
		stop()
		<-worked
		return fmt.Errorf("--http: %w", err)
	}
	return err
}
