package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/herdrun/herd/jobs"
	"github.com/herdrun/herd/jobs/jobshttp"
	"github.com/herdrun/herd/jobs/jobsmetrics"
)

// ErrJobsDirInUse is wrapped by the error OpenJobs returns when another
// process (another herd demo) holds the jobs directory's lock.
var ErrJobsDirInUse = errors.New("the jobs directory is in use by another herd demo")

// lockName is the lock file OpenJobs holds in the jobs directory.
const lockName = "herd-demo.lock"

// JobsOptions configures OpenJobs.
type JobsOptions struct {
	// Dir keeps the jobs (an embedded NATS JetStream store) and is kept at
	// Close, so a later demo with the same Dir finds them again. "" means
	// a new temporary directory, removed at Close.
	Dir string
	// Logger receives the engine's warnings; nil means none.
	Logger *slog.Logger
	// NATS, when set, keeps the jobs on that NATS cluster (its nodes'
	// URLs, jobs.Config.URLs) instead of an embedded store; Dir then holds
	// only the uploaded images. Replicas and Prefix are jobs.Config's.
	NATS     []string
	Replicas int
	Prefix   string
}

// Jobs is the demo's durable jobs: an embedded jobs.Client whose workers
// run the resize kind, and its HTTP API.
type Jobs struct {
	Client *jobs.Client
	nats   []string
	dir    string
	temp   bool
	lock   *os.File
}

// OpenJobs locks the directory (so that two demos never share one by
// accident: the second gets an error wrapping ErrJobsDirInUse), opens the
// jobs engine in it and registers the resize kind. Call Work to run jobs,
// and Close at the end.
func OpenJobs(ctx context.Context, o JobsOptions) (*Jobs, error) {
	j := &Jobs{dir: o.Dir}
	if j.dir == "" {
		d, err := os.MkdirTemp("", "herd-demo-jobs-")
		if err != nil {
			return nil, err
		}
		j.dir, j.temp = d, true
	} else if err := os.MkdirAll(j.dir, 0o700); err != nil {
		return nil, fmt.Errorf("jobs directory: %w", err)
	}
	lock, err := lockDir(j.dir)
	if err != nil {
		j.cleanup()
		return nil, err
	}
	j.lock = lock
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg := jobs.Config{Dir: StorePath(j.dir), Logger: logger, Replicas: o.Replicas, Prefix: o.Prefix}
	where := j.dir
	if len(o.NATS) > 0 {
		cfg.Dir, cfg.URLs, j.nats = "", o.NATS, o.NATS
		where = strings.Join(o.NATS, ",")
	}
	c, err := jobs.Open(ctx, cfg)
	if err != nil {
		j.cleanup()
		return nil, fmt.Errorf("open the jobs store at %s: %w", where, err)
	}
	j.Client = c
	RegisterResize(c, j.uploads())
	return j, nil
}

// StorePath is where OpenJobs keeps the jobs store (a jobs.Config.Dir) in
// a jobs directory (JobsOptions.Dir, herd demo --jobs-dir).
func StorePath(dir string) string { return filepath.Join(dir, "store") }

// IsJobsDir reports whether dir is a demo's jobs directory: it holds the
// lock file OpenJobs makes.
func IsJobsDir(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, lockName))
	return err == nil
}

// LockDir takes the lock that OpenJobs holds on a jobs directory, for a
// command that opens its store itself (herd jobs export and import): the
// error wraps ErrJobsDirInUse while a demo runs on it. Closing the file
// releases the lock.
func LockDir(dir string) (*os.File, error) { return lockDir(dir) }

// lockDir takes the directory's lock file, or says who holds it.
func lockDir(dir string) (*os.File, error) {
	p := filepath.Join(dir, lockName)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("jobs directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := ""
		if b, rerr := os.ReadFile(p); rerr == nil && len(strings.TrimSpace(string(b))) > 0 {
			holder = " (pid " + strings.TrimSpace(string(b)) + ")"
		}
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w%s; stop that demo, or give this one another --jobs-dir", dir, ErrJobsDirInUse, holder)
		}
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}

// uploads is the directory of the images POST /resize-upload takes.
func (j *Jobs) uploads() string { return filepath.Join(j.dir, "uploads") }

// Dir returns the directory that holds the jobs.
func (j *Jobs) Dir() string { return j.dir }

// Temporary reports whether the directory is removed at Close.
func (j *Jobs) Temporary() bool { return j.temp }

// Work runs the resize jobs, as many at a time as there are CPUs, until
// ctx is done; then it lets running jobs finish for up to grace.
func (j *Jobs) Work(ctx context.Context, grace time.Duration) error {
	err := j.Client.Work(ctx, jobs.WorkOptions{ShutdownTimeout: grace})
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// Close closes the engine, releases the lock and removes a temporary
// directory.
func (j *Jobs) Close() error {
	var err error
	if j.Client != nil {
		err = j.Client.Close()
	}
	j.cleanup()
	return err
}

func (j *Jobs) cleanup() {
	if j.lock != nil {
		j.lock.Close() // releases the flock
		j.lock = nil
	}
	if j.temp {
		os.RemoveAll(j.dir)
	}
}

// Handler serves the jobs HTTP API (package jobshttp) under /jobs and
// /queues; GET /resized/{id}, the image a succeeded resize job made; and
// POST /resize-upload?width=&height=, which takes an image (PNG, JPEG or
// GIF, at most MaxUploadBytes) as its body and submits a resize job for it;
// and GET /metrics, the queues in Prometheus text (package jobsmetrics).
func (j *Jobs) Handler() http.Handler {
	c, uploads := j.Client, j.uploads()
	api := jobshttp.New(c, jobshttp.Options{})
	mux := http.NewServeMux()
	mux.Handle("/jobs", api)
	mux.Handle("/jobs/", api)
	mux.Handle("/queues", api)
	mux.HandleFunc("GET /resized/{id}", func(w http.ResponseWriter, r *http.Request) {
		serveResized(w, r, c)
	})
	mux.HandleFunc("POST /resize-upload", func(w http.ResponseWriter, r *http.Request) {
		serveUpload(w, r, c, uploads)
	})
	mux.Handle("GET /metrics", jobsmetrics.Handler(c, jobsmetrics.Options{}))
	return mux
}

// JobsRoutes are the path patterns Handler serves, for a mux in front of
// it.
var JobsRoutes = []string{"/jobs", "/jobs/", "/queues", "/resized/", "/resize-upload", "/metrics"}

// serveResized answers the PNG of a succeeded resize job.
func serveResized(w http.ResponseWriter, r *http.Request, c *jobs.Client) {
	id := r.PathValue("id")
	fail := func(code int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(jobshttp.ErrorResponse{Error: msg})
	}
	info, err := c.Get(r.Context(), id)
	switch {
	case errors.Is(err, jobs.ErrNotFound):
		fail(http.StatusNotFound, "no such job; check the id (GET /jobs lists them)")
		return
	case err != nil:
		fail(http.StatusServiceUnavailable, err.Error())
		return
	case info.Kind != ResizeKind:
		fail(http.StatusNotFound, "job "+id+" is a "+strconv.Quote(info.Kind)+" job, not a resize job")
		return
	case info.State != jobs.StateSucceeded:
		fail(http.StatusConflict, "job "+id+" is "+string(info.State)+", so it has no image; wait for it: GET /jobs/"+id+"/wait")
		return
	}
	var res ResizeResult
	if err := json.Unmarshal(info.Result, &res); err != nil || len(res.PNG) == 0 {
		fail(http.StatusInternalServerError, "job "+id+": its result holds no image")
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(len(res.PNG)))
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Write(res.PNG)
}

// JobsIntro is the banner's part about jobs; "" without jobs.
func JobsIntro(url string, j *Jobs) string {
	if j == nil {
		return ""
	}
	where := j.Dir() + " (kept; --jobs-dir)"
	switch {
	case len(j.nats) > 0:
		where = "the NATS cluster at " + strings.Join(j.nats, ",") + " (--jobs-nats)"
	case j.Temporary():
		where = j.Dir() + " (removed at exit; --jobs-dir DIR keeps them)"
	}
	cli := "herd jobs submit resize --wait"
	if url != "http://127.0.0.1:3000" {
		cli += " --url " + url
	}
	return fmt.Sprintf(`
Durable jobs (the answer to heavy work: an ID at once, the result later),
stored in %s:
  curl -s -d '{"kind":"resize"}' %s/jobs        # {"id":"<id>"} at once
  curl -s %s/jobs/<id>                          # status and progress
  curl -s '%s/jobs/<id>/wait?timeout=30s'       # the job once it has ended
  curl -sN %s/jobs/<id>/events                  # every change, as Server-Sent Events
  curl -s -o resized.png %s/resized/<id>        # the resized, blurred image
  curl -s -d '{"kind":"resize","args":{"width":64,"pause":"2s"}}' %s/jobs   # a slow one to watch or cancel
  curl -s --data-binary @photo.png '%s/resize-upload?width=200'          # your own image (PNG, JPEG, GIF)
  %s   # the same from the command line
In the web dashboard's jobs page: herd daemon --dashboard 127.0.0.1:9596 --jobs-url %s
(or HERD_JOBS_URL=%s in the environment of the herd start that launches the daemon),
then open the URL that herd dashboard prints.
`, where, url, url, url, url, url, url, url, cli, url, url)
}
