package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/herdrun/herd/cmd/herd/internal/daemon"
	"github.com/herdrun/herd/cmd/herd/internal/jobsclient"
	"github.com/herdrun/herd/jobs"
	"github.com/herdrun/herd/jobs/jobshttp"
)

// Defaults of the jobs page.
const (
	// DefaultJobsInterval is the time between two reads of the jobs
	// API by an open jobs page (its queues and its page of jobs).
	DefaultJobsInterval = time.Second
	// JobsPageSize is the number of jobs a page of the list shows.
	JobsPageSize = 50
	// maxShownJSON bounds the args or result text the detail shows.
	maxShownJSON = 16 << 10
	// maxListError bounds the error text of a job in the list.
	maxListError = 200
	// jobsCallTimeout bounds one call to the jobs API.
	jobsCallTimeout = 10 * time.Second
	// firstPaintWait bounds the read of the jobs API that the jobs page
	// makes before its first byte, so that its first paint has the jobs;
	// a slower API leaves them to the stream.
	firstPaintWait = 300 * time.Millisecond
)

// listJob is a job as the list shows it: no args, no result, a short
// error.
type listJob struct {
	ID          string     `json:"id"`
	Kind        string     `json:"kind"`
	Queue       string     `json:"queue"`
	Priority    string     `json:"priority"`
	State       jobs.State `json:"state"`
	Attempt     int        `json:"attempt"`
	MaxAttempts int        `json:"max_attempts"`
	Progress    float64    `json:"progress"`
	Note        string     `json:"note,omitempty"`
	Error       string     `json:"error,omitempty"`
	Created     int64      `json:"created,omitempty"` // Unix milliseconds
	Started     int64      `json:"started,omitempty"`
	Finished    int64      `json:"finished,omitempty"`
	RunAt       int64      `json:"run_at,omitempty"`
}

// jobsEvent is the data of a "jobs" event: the queues and one page of
// jobs as a filter selects them.
type jobsEvent struct {
	T      int64             `json:"t"`
	Queues []jobs.QueueStats `json:"queues"`
	Jobs   []listJob         `json:"jobs"`
	Next   string            `json:"next,omitempty"` // the cursor of the next page
	Error  string            `json:"error,omitempty"`
}

// jobDetail is the data of a "job" event: the job without its args and
// result, which come as text cut at maxShownJSON bytes.
type jobDetail struct {
	jobs.Info
	Priority    string `json:"priority"`
	ArgsText    string `json:"args_text,omitempty"`
	ResultText  string `json:"result_text,omitempty"`
	ResultBytes int    `json:"result_bytes,omitempty"`
	Final       bool   `json:"final"`
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && s[i]&0xC0 == 0x80 { // not inside a UTF-8 sequence
		i--
	}
	return s[:i] + "…"
}

func slim(in jobs.Info) listJob {
	return listJob{
		ID: in.ID, Kind: in.Kind, Queue: in.Queue, Priority: in.Priority.String(), State: in.State,
		Attempt: in.Attempt, MaxAttempts: in.MaxAttempts, Progress: in.Progress, Note: in.Note,
		Error: cut(in.Error, maxListError), Created: millis(in.Created), Started: millis(in.Started),
		Finished: millis(in.Finished), RunAt: millis(in.RunAt),
	}
}

func detail(in jobs.Info) jobDetail {
	d := jobDetail{Info: in, Priority: in.Priority.String(), Final: in.State.Final(), ResultBytes: len(in.Result)}
	if len(in.Args) > 0 {
		d.ArgsText = cut(string(in.Args), maxShownJSON)
	}
	if len(in.Result) > 0 {
		d.ResultText = cut(string(in.Result), maxShownJSON)
	}
	d.Info.Args, d.Info.Result = nil, nil
	return d
}

// jobsFilter reads the list's filter from a query: state, queue, kind,
// cursor and order, each optional. The list is newest first unless
// order=oldest. The jobs API checks the other values; here only the names
// are.
func jobsFilter(q url.Values) (jobs.Filter, error) {
	for k := range q {
		switch k {
		case "state", "queue", "kind", "cursor", "order":
		default:
			return jobs.Filter{}, fmt.Errorf("unknown parameter %q: the jobs list takes state, queue, kind, cursor and order", k)
		}
	}
	f := jobs.Filter{State: jobs.State(q.Get("state")), Queue: q.Get("queue"), Kind: q.Get("kind"),
		Cursor: q.Get("cursor"), Limit: JobsPageSize, Newest: true}
	switch o := q.Get("order"); o {
	case "", jobshttp.OrderNewest:
	case jobshttp.OrderOldest:
		f.Newest = false
	default:
		return jobs.Filter{}, fmt.Errorf("order %q: write %s (the default) or %s", o, jobshttp.OrderNewest, jobshttp.OrderOldest)
	}
	return f, nil
}

// readJobs reads the queues and one page of jobs, both at once (a page
// waits for this read before its first byte).
func (s *Server) readJobs(ctx context.Context, f jobs.Filter) jobsEvent {
	ev := jobsEvent{T: time.Now().UnixMilli(), Queues: []jobs.QueueStats{}, Jobs: []listJob{}}
	ctx, cancel := context.WithTimeout(ctx, jobsCallTimeout)
	defer cancel()
	var (
		qs   []jobs.QueueStats
		qerr error
		wg   sync.WaitGroup
	)
	wg.Go(func() { qs, qerr = s.cfg.Jobs.Stats(ctx) })
	page, err := s.cfg.Jobs.List(ctx, f)
	wg.Wait()
	if qerr != nil {
		ev.Error = qerr.Error()
		return ev
	}
	if qs != nil {
		ev.Queues = qs
	}
	if err != nil {
		ev.Error = err.Error()
		return ev
	}
	for _, in := range page.Jobs {
		ev.Jobs = append(ev.Jobs, slim(in))
	}
	ev.Next = page.Next
	return ev
}

// kickJobs makes every open jobs stream read the jobs API now (after an
// action).
func (s *Server) kickJobs() {
	s.mu.Lock()
	close(s.jobsKick)
	s.jobsKick = make(chan struct{})
	s.mu.Unlock()
}

func (s *Server) jobsKicked() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jobsKick
}

// jobsPage serves the jobs page, with the queues and the first page of
// jobs inline when the jobs API answers in time.
func (s *Server) jobsPage(w http.ResponseWriter, r *http.Request) {
	initial := []byte("null")
	var ev *jobsEvent // what initial holds, for the first view
	f, err := jobsFilter(r.URL.Query())
	if err != nil { // the stream answers the same error
		f = jobs.Filter{Newest: true}
	} else if b, ok := s.recentJobs(f); ok {
		// Kept as JSON only: decode it for the first view.
		if ev = new(jobsEvent); json.Unmarshal(b, ev) != nil {
			ev = nil
		}
		initial = b
	} else {
		ctx, cancel := context.WithTimeout(r.Context(), firstPaintWait)
		read := s.readJobs(ctx, f)
		cancel()
		if read.Error == "" {
			ev = &read
			initial, _ = json.Marshal(ev)
			s.keepJobs(f, initial)
		}
	}
	s.servePage(w, "jobs.html", initial, jobsView(f, ev, time.Now()))
}

// maxRecent bounds the filters whose last read is kept.
const maxRecent = 64

// recentJobs returns the last "jobs" event of filter f if it was read
// within JobsInterval: a page reloaded, or opened beside another, paints
// at once; its stream reads again as it opens.
func (s *Server) recentJobs(f jobs.Filter) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recent[f]
	if !ok || time.Since(r.at) > s.cfg.JobsInterval {
		return nil, false
	}
	return r.event, true
}

// keepJobs keeps b as the last "jobs" event of filter f.
func (s *Server) keepJobs(f jobs.Filter, b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.recent) >= maxRecent {
		clear(s.recent)
	}
	s.recent[f] = recentEvent{event: b, at: time.Now()}
}

// recentEvent is the last "jobs" event of a filter and when it was read.
type recentEvent struct {
	event []byte
	at    time.Time
}

// jobsStream sends a "jobs" event with the queues and a page of jobs (the
// filter of its query) when they change, until the page goes. It reads
// the jobs API every JobsInterval, at once after an action, and never
// more than a tenth of the time: the API reads every stored job to answer,
// so a large store is read less often rather than kept busy.
func (s *Server) jobsStream(w http.ResponseWriter, r *http.Request) {
	f, err := jobsFilter(r.URL.Query())
	if err != nil {
		writeJSON(w, http.StatusBadRequest, daemon.ErrorBody{Error: err.Error()})
		return
	}
	fl, ok := sse(w)
	if !ok {
		return
	}
	t := time.NewTimer(0)
	defer t.Stop()
	var last []byte
	sent := time.Now()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		case <-s.jobsKicked():
		}
		kick := s.jobsKicked()
		began := time.Now()
		ev := s.readJobs(r.Context(), f)
		if r.Context().Err() != nil {
			return
		}
		took := time.Since(began)
		ev.T = 0 // compare without the time
		b, _ := json.Marshal(ev)
		var err error
		switch {
		case string(b) != string(last):
			ev.T = time.Now().UnixMilli()
			out, _ := json.Marshal(ev)
			if ev.Error == "" {
				s.keepJobs(f, out)
			}
			_, err = fmt.Fprintf(w, "event: jobs\ndata: %s\n\n", out)
			last, sent = b, time.Now()
		case time.Since(sent) >= 30*time.Second:
			_, err = fmt.Fprint(w, ": keep-alive\n\n")
			sent = time.Now()
		}
		if err != nil {
			return
		}
		fl.Flush()
		t.Reset(max(s.cfg.JobsInterval, 10*took))
		select {
		case <-kick: // an action while reading: read again
			t.Reset(0)
		default:
		}
	}
}

// jobEvents streams one job: a "job" event at once and at each change
// (the jobs API's event stream), then "end" after its final state, or
// "failure" if the job cannot be followed.
func (s *Server) jobEvents(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	fl, ok := sse(w)
	if !ok {
		return
	}
	send := func(name string, v any) error {
		b, _ := json.Marshal(v)
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, b); err != nil {
			return err
		}
		fl.Flush()
		return nil
	}
	_, err := s.cfg.Jobs.Events(r.Context(), id, func(ev jobsclient.Event) error {
		return send("job", detail(ev.Info))
	})
	if r.Context().Err() != nil {
		return
	}
	if err != nil {
		_ = send("failure", daemon.ErrorBody{Error: err.Error()})
		return
	}
	_ = send("end", struct{}{})
}

// jobAction runs cancel or retry on a job and answers the job as it is
// after, or the jobs API's error with its status.
func (s *Server) jobAction(w http.ResponseWriter, r *http.Request) {
	id, act := r.PathValue("id"), r.PathValue("action")
	var call func(context.Context, string) (jobs.Info, error)
	switch act {
	case "cancel":
		call = s.cfg.Jobs.Cancel
	case "retry":
		call = s.cfg.Jobs.Retry
	default:
		writeJSON(w, http.StatusNotFound, daemon.ErrorBody{Error: fmt.Sprintf("unknown action %q: cancel or retry", act)})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), jobsCallTimeout)
	defer cancel()
	info, err := call(ctx, id)
	if err != nil {
		code := http.StatusBadGateway
		var ae *jobsclient.APIError
		if errors.As(err, &ae) {
			code = ae.Status
		}
		writeJSON(w, code, daemon.ErrorBody{Error: err.Error()})
		return
	}
	s.mu.Lock()
	clear(s.recent) // no page may paint what was before the action
	s.mu.Unlock()
	s.kickJobs()
	writeJSON(w, http.StatusOK, detail(info))
}

// jobsOff answers the jobs routes of a dashboard without a jobs API.
func jobsOff(w http.ResponseWriter, r *http.Request) {
	msg := "jobs are not enabled in this dashboard: give the daemon the jobs API's URL with herd daemon --jobs-url URL, or HERD_JOBS_URL"
	if strings.HasPrefix(r.URL.Path, "/api/") {
		writeJSON(w, http.StatusNotFound, daemon.ErrorBody{Error: msg})
		return
	}
	http.Error(w, msg, http.StatusNotFound)
}

// CheckJobsURL checks that u is an http or https URL with a host: where
// the jobs HTTP API is mounted, such as http://127.0.0.1:3000 (herd
// demo's) or http://host/api.
func CheckJobsURL(u string) error {
	p, err := url.Parse(u)
	if err != nil {
		err = errors.New("not a URL")
	} else if p.Scheme != "http" && p.Scheme != "https" || p.Host == "" || p.RawQuery != "" || p.Fragment != "" {
		err = errors.New("want http or https, a host, and no query")
	}
	if err != nil {
		return fmt.Errorf("jobs API URL %q: %v; give where the jobs API is mounted, such as http://127.0.0.1:3000", u, err)
	}
	return nil
}
