package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/herdrun/herd/cluster"
	"github.com/herdrun/herd/workers"
)

// heavyTask is the tutorial's heavy calculation as a workers task, so that
// every copy of the program (cluster workers, pool workers) registers it.
var heavyTask = workers.Register("demo.heavy.pool", func(ctx context.Context, t Task) (float64, error) {
	return HeavyCalculation(ctx, t.N, t.Limit)
})

// ClusterOptions configures RunCluster. The same values must reach the
// primary and its workers (they are the same command line).
type ClusterOptions struct {
	Host    string
	Port    int
	Workers int           // cluster workers; 0 means 2
	Limit   int64         // loop bound; 0 means DefaultLimit
	Grace   time.Duration // shutdown timeout of a worker; 0 means DefaultGrace
	// Out receives the banner and what happens to the workers; Log the
	// primary's log lines.
	Out io.Writer
	Log *slog.Logger
	// NoJobs leaves the jobs API out.
	NoJobs bool
	// JobsDir is JobsOptions.Dir of the primary's jobs.
	JobsDir string
	// JobsNATS, JobsReplicas and JobsPrefix are JobsOptions.NATS, Replicas
	// and Prefix: a jobs store on a NATS cluster.
	JobsNATS     []string
	JobsReplicas int
	JobsPrefix   string
}

// envJobsSocket names the variable that tells a cluster worker the Unix
// socket on which the primary serves the jobs API.
const envJobsSocket = "HERD_DEMO_JOBS_SOCKET"

// RunCluster runs the tutorial's whole system: a cluster of Workers
// processes of this program sharing one port; each serves GET / at once and
// sends GET /heavy to its own pool of worker processes (package workers), so
// a heavy request blocks neither its server nor the others. Crashed workers
// respawn; SIGHUP reloads them one by one, SIGTERM or Ctrl-C stops all. In a
// cluster worker it serves and exits the process; in the primary it returns
// when the cluster has stopped.
func RunCluster(ctx context.Context, o ClusterOptions) error {
	if o.Workers <= 0 {
		o.Workers = 2
	}
	if o.Limit == 0 {
		o.Limit = DefaultLimit
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	addr := net.JoinHostPort(o.Host, strconv.Itoa(o.Port))
	var (
		c    *cluster.Cluster
		env  []string
		jobs *Jobs
	)
	if !cluster.IsWorker() && !o.NoJobs {
		// The primary owns the jobs: their store, the workers that run
		// them, and the API, served on a Unix socket to which every
		// cluster worker forwards /jobs, /queues and /resized/.
		var (
			sock string
			stop func()
			err  error
		)
		jobs, sock, stop, err = startPrimaryJobs(ctx, o)
		if err != nil {
			return err
		}
		defer stop()
		env = []string{envJobsSocket + "=" + sock}
	}
	cfg := cluster.Config{
		Env:             env,
		Workers:         o.Workers,
		Listen:          []cluster.Addr{{Address: addr}},
		ShutdownTimeout: o.Grace,
		Logger:          o.Log,
		OnEvent: func(e cluster.Event) {
			switch e.Kind {
			case cluster.EventReady:
				fmt.Fprintf(o.Out, "worker %d ready (pid %d)\n", e.Worker, e.PID)
			case cluster.EventExit:
				if !e.Expected {
					fmt.Fprintf(o.Out, "worker %d (pid %d) %s: respawning\n", e.Worker, e.PID, e.Status)
				}
			}
		},
	}
	c = cluster.New(cfg, func(ctx context.Context, w *cluster.Worker) error {
		return serveWorker(ctx, w, addr, o.Limit)
	})
	go func() {
		select {
		case <-c.Ready():
			printClusterIntro(o.Out, c, o, jobs)
		case <-c.Done():
		}
	}()
	err := c.Run(ctx)
	var le *cluster.ListenError
	if errors.As(err, &le) && errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("listen on %s: %w", addr, ErrPortInUse)
	}
	return err
}

// serveWorker is the body of one cluster worker.
func serveWorker(ctx context.Context, w *cluster.Worker, addr string, limit int64) error {
	pool, err := workers.New(heavyTask, &workers.Options{Backend: workers.Processes, Size: 1})
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		pool.Close(cctx)
	}()
	ln, err := w.Listen("tcp", addr)
	if err != nil {
		return err
	}
	pid := strconv.Itoa(os.Getpid())
	mux := http.NewServeMux()
	if sock := os.Getenv(envJobsSocket); sock != "" {
		proxy := jobsProxy(sock)
		for _, p := range JobsRoutes {
			mux.Handle(p, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
				rw.Header().Set("X-Herd-Worker", pid)
				proxy.ServeHTTP(rw, r)
			}))
		}
	}
	mux.HandleFunc("GET /{$}", func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("X-Herd-Worker", pid)
		io.WriteString(rw, "OK")
	})
	mux.HandleFunc("GET /heavy", func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("X-Herd-Worker", pid)
		res, err := pool.Run(r.Context(), Task{N: DefaultN, Limit: limit})
		if err != nil {
			http.Error(rw, "heavy calculation failed: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		io.WriteString(rw, "Result is "+FormatNumber(res))
	})
	return w.Serve(ctx, ln, mux)
}

// startPrimaryJobs opens the jobs, runs their workers and serves their API
// on a Unix socket in a new private directory. stop undoes it all.
func startPrimaryJobs(ctx context.Context, o ClusterOptions) (j *Jobs, sock string, stop func(), err error) {
	j, err = OpenJobs(ctx, JobsOptions{Dir: o.JobsDir, Logger: o.Log, NATS: o.JobsNATS, Replicas: o.JobsReplicas, Prefix: o.JobsPrefix})
	if err != nil {
		return nil, "", nil, err
	}
	sockDir, err := os.MkdirTemp("", "herd-demo-api-")
	if err != nil {
		j.Close()
		return nil, "", nil, err
	}
	sock = filepath.Join(sockDir, "jobs.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		os.RemoveAll(sockDir)
		j.Close()
		return nil, "", nil, err
	}
	hs := &http.Server{Handler: j.Handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() { hs.Serve(ln); close(served) }()
	wctx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	worked := make(chan struct{})
	go func() {
		if err := j.Work(wctx, o.Grace); err != nil && o.Log != nil {
			o.Log.Error("jobs workers stopped", "err", err)
		}
		close(worked)
	}()
	stop = func() {
		sctx, cancel := context.WithTimeout(context.Background(), o.Grace)
		if hs.Shutdown(sctx) != nil {
			hs.Close()
		}
		cancel()
		<-served
		cancelWork()
		<-worked
		j.Close()
		os.RemoveAll(sockDir)
	}
	return j, sock, stop, nil
}

// jobsProxy forwards requests to the jobs API on the Unix socket sock.
func jobsProxy(sock string) http.Handler {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
		MaxIdleConnsPerHost: 16,
	}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = "herd-demo-jobs"
			pr.Out.Host = pr.In.Host
		},
		Transport:     tr,
		FlushInterval: -1, // the event stream: every write at once
	}
}

// printClusterIntro says where the cluster listens and what to try.
func printClusterIntro(out io.Writer, c *cluster.Cluster, o ClusterOptions, j *Jobs) {
	host, port := "127.0.0.1", ""
	if addrs := c.Addrs(); len(addrs) > 0 {
		if ta, ok := addrs[0].(*net.TCPAddr); ok {
			port = strconv.Itoa(ta.Port)
			if !ta.IP.IsUnspecified() {
				host = ta.IP.String()
			}
		}
	}
	url := "http://" + net.JoinHostPort(host, port)
	var pids string
	for _, w := range c.Workers() {
		pids += " " + strconv.Itoa(w.PID)
	}
	me := os.Getpid()
	fmt.Fprintf(out, `herd demo: the Node tutorial's whole system, in one binary (primary pid %d)
%d workers share %s (worker pids:%s); each sends /heavy to its own worker pool.
Listening on %s

Try it:
  curl -i %s/        # OK, at once, from one worker (header X-Herd-Worker: its pid)
  curl %s/heavy      # sums i*42 for i < %d in a pool process: "Result is ..."
  kill <worker pid>   # the primary respawns it; / keeps answering
  kill -HUP %d        # rolling reload: new workers first, then the old ones drain
  kill -TTIN %d       # one worker more (kill -TTOU: one less)
%s
Stop with Ctrl-C (or kill -TERM %d); requests in flight get %v to finish.
`, me, o.Workers, url, pids, url, url, url, o.Limit, me, me, JobsIntro(url, j), me, o.Grace)
}
