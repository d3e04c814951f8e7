package jobshttp

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/herdrun/herd/jobs"
)

// Defaults for the zero fields of Options.
const (
	// DefaultMaxBodyBytes bounds a submit body: 1 MiB.
	DefaultMaxBodyBytes = 1 << 20
	// DefaultWaitTimeout is how long GET /jobs/{id}/wait waits without a
	// timeout parameter.
	DefaultWaitTimeout = 30 * time.Second
	// DefaultMaxWait is the longest timeout a wait may ask for.
	DefaultMaxWait = 10 * time.Minute
	// DefaultMaxListLimit is the largest limit a list may ask for.
	DefaultMaxListLimit = 1000
	// DefaultKeepAlive is how often an event stream with nothing to say
	// sends a comment line, so that proxies keep it open.
	DefaultKeepAlive = 15 * time.Second
)

// writeTimeout bounds each write of a wait's answer or of an event: a
// client that stops reading cannot hold a handler longer.
const writeTimeout = 30 * time.Second

// Options configures the handler New returns. The zero value is ready to
// use.
type Options struct {
	// MaxBodyBytes bounds a submit body; a longer one gets 413. 0 means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// WaitTimeout is the wait's timeout when the request gives none. 0
	// means DefaultWaitTimeout.
	WaitTimeout time.Duration
	// MaxWait is the longest timeout a wait may ask for; a longer one gets
	// 400. 0 means DefaultMaxWait.
	MaxWait time.Duration
	// MaxListLimit is the largest limit a list may ask for. 0 means
	// DefaultMaxListLimit.
	MaxListLimit int
	// KeepAlive is the interval of the comment lines an idle event stream
	// sends. 0 means DefaultKeepAlive.
	KeepAlive time.Duration
	// Logger receives one record per request that failed on the server's
	// side (500). nil means no logs.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.WaitTimeout <= 0 {
		o.WaitTimeout = DefaultWaitTimeout
	}
	if o.MaxWait <= 0 {
		o.MaxWait = DefaultMaxWait
	}
	if o.WaitTimeout > o.MaxWait {
		o.WaitTimeout = o.MaxWait
	}
	if o.MaxListLimit <= 0 {
		o.MaxListLimit = DefaultMaxListLimit
	}
	if o.KeepAlive <= 0 {
		o.KeepAlive = DefaultKeepAlive
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// server holds what the routes share.
type server struct {
	c    *jobs.Client
	opts Options
	now  func() time.Time
}

// New returns a handler that serves c's jobs over HTTP, the routes listed
// in the package doc. The handler never closes c. Waits and event streams
// set their own write deadlines, so they outlast an http.Server's
// WriteTimeout; a client that stops reading for 30s loses its stream.
func New(c *jobs.Client, opts Options) http.Handler {
	s := &server{c: c, opts: opts.withDefaults(), now: time.Now}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /jobs", s.submit)
	mux.HandleFunc("GET /jobs", s.list)
	mux.HandleFunc("GET /jobs/{id}", s.get)
	mux.HandleFunc("GET /jobs/{id}/wait", s.wait)
	mux.HandleFunc("GET /jobs/{id}/events", s.events)
	mux.HandleFunc("POST /jobs/{id}/cancel", s.cancel)
	mux.HandleFunc("POST /jobs/{id}/retry", s.retry)
	mux.HandleFunc("GET /queues", s.queues)
	return mux
}

// SubmitResponse is the body of a 202 answer to POST /jobs.
type SubmitResponse struct {
	ID string `json:"id"`
}

// The values of GET /jobs?order=.
const (
	// OrderOldest lists the oldest jobs first (by ID, in submission
	// order): the default.
	OrderOldest = "oldest"
	// OrderNewest lists the newest jobs first; the cursor of a page then
	// starts the next page before it.
	OrderNewest = "newest"
)

// ListResponse is the body of GET /jobs. Next is the cursor of the next
// page, "" after the last one.
type ListResponse struct {
	Jobs []jobs.Info `json:"jobs"`
	Next string      `json:"next"`
}

// QueuesResponse is the body of GET /queues.
type QueuesResponse struct {
	Queues []jobs.QueueStats `json:"queues"`
}

// ErrorResponse is the body of every error answer.
type ErrorResponse struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

func (s *server) submit(w http.ResponseWriter, r *http.Request) {
	if e := checkParams(r.URL.Query(), nil); e != nil {
		s.fail(w, r, e)
		return
	}
	body := http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
	req, e := decodeSubmit(body, s.now())
	if e != nil {
		s.fail(w, r, e)
		return
	}
	id, err := s.c.Submit(r.Context(), req.Kind, req.Args, req.Options)
	if err != nil {
		s.fail(w, r, s.jobsError(err, req.Kind))
		return
	}
	w.Header().Set("Location", prefix(r)+"/jobs/"+url.PathEscape(id))
	writeJSON(w, http.StatusAccepted, SubmitResponse{ID: id})
}

func (s *server) get(w http.ResponseWriter, r *http.Request) {
	if e := checkParams(r.URL.Query(), nil); e != nil {
		s.fail(w, r, e)
		return
	}
	info, err := s.c.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, s.jobsError(err, ""))
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func (s *server) wait(w http.ResponseWriter, r *http.Request) {
	d, e := parseWait(r.URL.Query(), s.opts.WaitTimeout, s.opts.MaxWait)
	if e != nil {
		s.fail(w, r, e)
		return
	}
	id := r.PathValue("id")
	// A server's WriteTimeout shorter than the wait would cut the answer.
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d + writeTimeout))
	ctx, cancel := context.WithTimeout(r.Context(), d)
	defer cancel()
	info, err := s.c.Wait(ctx, id)
	if err == nil {
		writeJSON(w, http.StatusOK, info)
		return
	}
	if ctx.Err() == nil || r.Context().Err() != nil {
		s.fail(w, r, s.jobsError(err, ""))
		return
	}
	// The timeout: 202 with the job as it is now.
	info, err = s.c.Get(r.Context(), id)
	if err != nil {
		s.fail(w, r, s.jobsError(err, ""))
		return
	}
	code := http.StatusAccepted
	if info.State.Final() {
		code = http.StatusOK
	}
	writeJSON(w, code, info)
}

func (s *server) cancel(w http.ResponseWriter, r *http.Request) {
	s.act(w, r, s.c.Cancel, http.StatusOK)
}

func (s *server) retry(w http.ResponseWriter, r *http.Request) {
	s.act(w, r, s.c.Retry, http.StatusAccepted)
}

// act runs op on the job and answers with its Info after.
func (s *server) act(w http.ResponseWriter, r *http.Request, op func(context.Context, string) error, code int) {
	if e := checkParams(r.URL.Query(), nil); e != nil {
		s.fail(w, r, e)
		return
	}
	id := r.PathValue("id")
	if err := op(r.Context(), id); err != nil {
		s.fail(w, r, s.jobsError(err, ""))
		return
	}
	info, err := s.c.Get(r.Context(), id)
	if err != nil {
		s.fail(w, r, s.jobsError(err, ""))
		return
	}
	writeJSON(w, code, info)
}

func (s *server) list(w http.ResponseWriter, r *http.Request) {
	f, e := parseFilter(r.URL.Query(), s.opts.MaxListLimit)
	if e != nil {
		s.fail(w, r, e)
		return
	}
	page, err := s.c.List(r.Context(), f)
	if err != nil {
		s.fail(w, r, s.jobsError(err, ""))
		return
	}
	if page.Jobs == nil {
		page.Jobs = []jobs.Info{}
	}
	writeJSON(w, http.StatusOK, ListResponse{Jobs: page.Jobs, Next: page.Next})
}

func (s *server) queues(w http.ResponseWriter, r *http.Request) {
	if e := checkParams(r.URL.Query(), nil); e != nil {
		s.fail(w, r, e)
		return
	}
	qs, err := s.c.Stats(r.Context())
	if err != nil {
		s.fail(w, r, s.jobsError(err, ""))
		return
	}
	if qs == nil {
		qs = []jobs.QueueStats{}
	}
	writeJSON(w, http.StatusOK, QueuesResponse{Queues: qs})
}

// jobsError maps an error of the jobs.Client to an answer.
func (s *server) jobsError(err error, kind string) *reqError {
	var (
		qf *jobs.QueueFullError
		se *jobs.StateError
		ve *jobs.ValidationError
	)
	switch {
	case errors.As(err, &qf):
		return &reqError{Status: http.StatusTooManyRequests, Field: "queue",
			Message:    "queue " + strconv.Quote(qf.Queue) + " is full (" + strconv.Itoa(qf.Depth) + " of " + strconv.Itoa(qf.Max) + " jobs waiting); retry after the Retry-After seconds",
			RetryAfter: qf.RetryAfter}
	case errors.Is(err, jobs.ErrUnknownKind):
		return &reqError{Status: http.StatusBadRequest, Field: "kind",
			Message: "kind: " + strconv.Quote(kind) + " is not a kind any worker handles; register a handler for it, or use a known kind"}
	case errors.As(err, &ve):
		field := snake(ve.Field)
		return &reqError{Status: http.StatusBadRequest, Field: field, Message: field + ": " + ve.Problem}
	case errors.Is(err, jobs.ErrNotFound):
		return &reqError{Status: http.StatusNotFound, Field: "id", Message: "no such job; check the id (GET /jobs lists them)"}
	case errors.As(err, &se):
		return &reqError{Status: http.StatusConflict, Message: "job " + se.ID + " is " + string(se.State) + ": cannot " + se.Op + " it" + stateHint(se)}
	case errors.Is(err, jobs.ErrClosed):
		return &reqError{Status: http.StatusServiceUnavailable, Message: "the jobs service is shutting down; try again later"}
	}
	return &reqError{Status: http.StatusInternalServerError, Message: "internal error: " + err.Error()}
}

// stateHint says what a refused operation would need.
func stateHint(se *jobs.StateError) string {
	switch se.Op {
	case "retry":
		return "; only a failed or cancelled job can be retried"
	case "cancel":
		return "; it has already ended"
	}
	return ""
}

// snake turns a Go field name (MaxAttempts) into the HTTP one
// (max_attempts); a name already in snake case is kept.
func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// fail writes e as JSON. An error after the client went away is not
// written: nobody reads it.
func (s *server) fail(w http.ResponseWriter, r *http.Request, e *reqError) {
	if r.Context().Err() != nil && e.Status >= 500 {
		return
	}
	if e.Status >= 500 {
		s.opts.Logger.Error("jobs request failed", "method", r.Method, "path", r.URL.Path, "status", e.Status, "err", e.Message)
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(e.RetryAfter.Seconds())), 10))
	} else if e.Status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, e.Status, ErrorResponse{Error: e.Message, Field: e.Field})
}

// writeJSON writes v with status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b, _ = json.Marshal(ErrorResponse{Error: "encode answer: " + err.Error()})
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

// prefix returns the part of the request's path that a StripPrefix in
// front of this handler removed ("" when none did).
func prefix(r *http.Request) string {
	u, err := url.ParseRequestURI(r.RequestURI)
	if err != nil {
		return ""
	}
	full := u.EscapedPath()
	rest := r.URL.EscapedPath()
	if p, ok := strings.CutSuffix(full, rest); ok {
		return p
	}
	return ""
}
