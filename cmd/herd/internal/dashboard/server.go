package dashboard

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/herdrun/herd/cmd/herd/internal/daemon"
	"github.com/herdrun/herd/cmd/herd/internal/jobsclient"
	"github.com/herdrun/herd/jobs"
)

//go:embed assets
var assets embed.FS

// Defaults of Config.
const (
	// DefaultInterval is the time between two samples of the apps.
	DefaultInterval = 2 * time.Second
	// DefaultHistory is the number of samples kept per instance: at the
	// DefaultInterval, the last five minutes.
	DefaultHistory = 150
)

// cookieName is the cookie that holds the token in a browser.
const cookieName = "herd_token"

// Config configures a Server. Client and Token are required.
type Config struct {
	// Client is the daemon's client.
	Client *daemon.Client
	// Token is the secret every request must show (LoadToken).
	Token string
	// Interval is the time between two samples; 0 means DefaultInterval.
	Interval time.Duration
	// History is the number of samples kept per instance; 0 means
	// DefaultHistory.
	History int
	// Metrics, if set, is served at GET /metrics (behind the token, as
	// Authorization: Bearer TOKEN).
	Metrics http.Handler
	// Jobs, if set, is the jobs API whose queues and jobs the jobs page
	// shows (the API that `herd jobs` talks to); nil leaves the page off.
	Jobs *jobsclient.Client
	// JobsInterval is the time between two reads of the jobs API by an
	// open jobs page; 0 means DefaultJobsInterval.
	JobsInterval time.Duration
	// Log receives the server's own warnings; nil discards them.
	Log *slog.Logger
}

// Sample is one point of an instance's charts.
type Sample struct {
	T   int64   `json:"t"`   // Unix milliseconds
	CPU float64 `json:"cpu"` // percent of one core
	Mem int64   `json:"mem"` // resident bytes
}

// Server serves the dashboard. Create it with New; Serve runs it.
type Server struct {
	cfg Config

	mu    sync.Mutex
	last  []byte              // the last "apps" event's data
	list  *daemon.List        // the last list (nil before the first)
	rings map[string][]Sample // "app/slot" -> samples, oldest first
	subs  map[chan []byte]struct{}
	kick  chan struct{}
	// jobsKick is closed (and replaced) after a job's action: every
	// open jobs stream reads the jobs API at once.
	jobsKick chan struct{}
	// recent is the last "jobs" event read for each filter, for the
	// first paint of a jobs page.
	recent map[jobs.Filter]recentEvent
}

// New returns a Server for cfg.
func New(cfg Config) *Server {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.History <= 0 {
		cfg.History = DefaultHistory
	}
	if cfg.JobsInterval <= 0 {
		cfg.JobsInterval = DefaultJobsInterval
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, rings: map[string][]Sample{}, subs: map[chan []byte]struct{}{}, kick: make(chan struct{}, 1),
		jobsKick: make(chan struct{}), recent: map[jobs.Filter]recentEvent{}}
}

// Serve samples the apps and serves the dashboard on ln until ctx ends;
// then it closes ln and every open stream and returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { s.sample(ctx) })
	wg.Go(func() { s.watchEvents(ctx) })
	srv := &http.Server{Handler: s.Handler(ln.Addr().String()), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-done:
		cancel()
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	_ = srv.Shutdown(sctx)
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// sample lists the apps every Interval, and early after a daemon event,
// keeps each instance's samples and sends the list to every stream.
func (s *Server) sample(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		l, err := s.cfg.Client.List(lctx)
		cancel()
		if err == nil {
			s.publish(l)
		} else if ctx.Err() == nil {
			s.cfg.Log.Warn("dashboard: list: " + err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
			// Events come in bursts (launching, online): let them settle.
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}

// watchEvents asks the sampler for an early list at each event of the
// daemon, reconnecting each second, until ctx ends.
func (s *Server) watchEvents(ctx context.Context) {
	for ctx.Err() == nil {
		_ = s.cfg.Client.Events(ctx, func(daemon.Event) error {
			select {
			case s.kick <- struct{}{}:
			default:
			}
			return nil
		})
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// appsEvent is the data of an "apps" event.
type appsEvent struct {
	T    int64            `json:"t"`
	Apps []daemon.AppInfo `json:"apps"`
}

func (s *Server) publish(l daemon.List) {
	now := time.Now().UnixMilli()
	b, _ := json.Marshal(appsEvent{T: now, Apps: l.Apps})
	s.mu.Lock()
	defer s.mu.Unlock()
	live := map[string]bool{}
	for _, a := range l.Apps {
		for _, in := range a.Live {
			k := a.Name + "/" + strconv.Itoa(in.Slot)
			live[k] = true
			r := append(s.rings[k], Sample{T: now, CPU: in.CPU, Mem: in.Memory})
			if len(r) > s.cfg.History {
				r = append(r[:0:0], r[len(r)-s.cfg.History:]...)
			}
			s.rings[k] = r
		}
	}
	for k := range s.rings {
		if !live[k] {
			delete(s.rings, k)
		}
	}
	s.last, s.list = b, &l
	for ch := range s.subs {
		select {
		case <-ch: // a slow page skips a list, never blocks the others
		default:
		}
		ch <- b
	}
}

// History returns a copy of every instance's samples, by "app/slot".
func (s *Server) History() map[string][]Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]Sample, len(s.rings))
	for k, r := range s.rings {
		out[k] = append([]Sample(nil), r...)
	}
	return out
}

// Handler returns the dashboard's routes, for a listener on addr (the
// Host a request must name).
func (s *Server) Handler(addr string) http.Handler {
	m := http.NewServeMux()
	static, _ := fs.Sub(assets, "assets")
	m.HandleFunc("GET /{$}", s.index)
	m.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(static)))
	m.HandleFunc("GET /api/stream", s.stream)
	m.HandleFunc("GET /api/history", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.History()) })
	m.HandleFunc("GET /api/logs", s.logs)
	m.HandleFunc("POST /api/apps/{app}/{action}", s.action)
	if s.cfg.Jobs != nil {
		m.HandleFunc("GET /jobs", s.jobsPage)
		m.HandleFunc("GET /api/jobs/stream", s.jobsStream)
		m.HandleFunc("GET /api/jobs/{id}/events", s.jobEvents)
		m.HandleFunc("POST /api/jobs/{id}/{action}", s.jobAction)
	} else {
		m.HandleFunc("/jobs", jobsOff)
		m.HandleFunc("/api/jobs/", jobsOff)
	}
	if s.cfg.Metrics != nil {
		m.Handle("GET /metrics", s.cfg.Metrics)
	}
	return s.guard(addr, m)
}

// guard checks the Host, the token and, on a POST, the CSRF header and
// the Origin; GET /?token=T sets the cookie and redirects to /.
func (s *Server) guard(addr string, next http.Handler) http.Handler {
	_, port, _ := net.SplitHostPort(addr)
	hosts := map[string]bool{addr: true, "localhost:" + port: true, "127.0.0.1:" + port: true, "[::1]:" + port: true}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("Referrer-Policy", "no-referrer")
		if !hosts[r.Host] {
			http.Error(w, fmt.Sprintf("Host %q is not this dashboard's address %s", r.Host, addr), http.StatusMisdirectedRequest)
			return
		}
		if t := r.URL.Query().Get("token"); t != "" && r.Method == http.MethodGet && r.URL.Path == "/" {
			if !equal(t, s.cfg.Token) {
				s.denied(w, r)
				return
			}
			http.SetCookie(w, &http.Cookie{Name: cookieName, Value: t, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
		tok := ""
		if c, err := r.Cookie(cookieName); err == nil {
			tok = c.Value
		}
		if a, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			tok = a
		}
		if !equal(tok, s.cfg.Token) {
			s.denied(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host {
				writeJSON(w, http.StatusForbidden, daemon.ErrorBody{Error: "cross-origin request refused"})
				return
			}
			if !equal(r.Header.Get("X-Herd-CSRF"), csrfFor(s.cfg.Token)) {
				writeJSON(w, http.StatusForbidden, daemon.ErrorBody{Error: "missing or wrong X-Herd-CSRF header: reload the page"})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) denied(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path == "/metrics" {
		writeJSON(w, http.StatusUnauthorized, daemon.ErrorBody{Error: "no or wrong token: open the URL that herd dashboard prints, or send Authorization: Bearer TOKEN"})
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusUnauthorized)
	fmt.Fprint(w, `<!doctype html><meta charset="utf-8"><title>herd</title><p>This dashboard needs its token: run <code>herd dashboard</code> and open the URL it prints.</p>`)
}

func (s *Server) index(w http.ResponseWriter, _ *http.Request) {
	// The first paint shows the apps: the last list comes inline, its
	// rows drawn in the table. The charts' history (up to 150 samples per
	// instance, most of what the page would weigh) comes first on the
	// stream, which the page opens once its first paint is out.
	s.mu.Lock()
	last, list := s.last, s.list
	s.mu.Unlock()
	fill := map[string]string{"ROWS": "", "EMPTY": hidden(true)}
	if last == nil {
		last = []byte("null")
	} else {
		fill["ROWS"], fill["EMPTY"] = appRows(list.Apps), hidden(len(list.Apps) > 0)
	}
	s.servePage(w, "index.html", []byte(`{"apps":`+string(last)+`}`), fill)
}

// sse prepares an event stream.
func sse(w http.ResponseWriter) (http.Flusher, bool) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return nil, false
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fl.Flush()
	return fl, true
}

// stream sends "history" once, then "apps" at each list, until the page
// goes.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	fl, ok := sse(w)
	if !ok {
		return
	}
	ch := make(chan []byte, 1)
	s.mu.Lock()
	s.subs[ch] = struct{}{}
	last := s.last
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.subs, ch)
		s.mu.Unlock()
	}()
	h, _ := json.Marshal(s.History())
	fmt.Fprintf(w, "event: history\ndata: %s\n\n", h)
	if last != nil {
		fmt.Fprintf(w, "event: apps\ndata: %s\n\n", last)
	}
	fl.Flush()
	keep := time.NewTicker(30 * time.Second)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case b := <-ch:
			if _, err := fmt.Fprintf(w, "event: apps\ndata: %s\n\n", b); err != nil {
				return
			}
		case <-keep.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
		}
		fl.Flush()
	}
}

// logs streams ?app=NAME's last lines and then each new one as "line"
// events, until the page goes.
func (s *Server) logs(w http.ResponseWriter, r *http.Request) {
	app := r.URL.Query().Get("app")
	if app == "" {
		writeJSON(w, http.StatusBadRequest, daemon.ErrorBody{Error: "give ?app=NAME"})
		return
	}
	fl, ok := sse(w)
	if !ok {
		return
	}
	err := s.cfg.Client.Logs(r.Context(), app, 100, "", true, func(l daemon.LogLine) error {
		b, _ := json.Marshal(l)
		if _, err := fmt.Fprintf(w, "event: line\ndata: %s\n\n", b); err != nil {
			return err
		}
		fl.Flush()
		return nil
	})
	if err != nil && r.Context().Err() == nil {
		b, _ := json.Marshal(daemon.ErrorBody{Error: err.Error()})
		fmt.Fprintf(w, "event: failure\ndata: %s\n\n", b)
		fl.Flush()
	}
}

// action runs restart, reload, stop, start or scale (?n=+1, -1 or N) on
// an app.
func (s *Server) action(w http.ResponseWriter, r *http.Request) {
	app, act := r.PathValue("app"), r.PathValue("action")
	req := daemon.ActionRequest{}
	switch act {
	case "restart", "reload", "stop":
	case "start":
		act = "restart" // a stopped app starts again with its spec
	case "scale":
		req.Instances = r.URL.Query().Get("n")
		if req.Instances == "" {
			writeJSON(w, http.StatusBadRequest, daemon.ErrorBody{Error: "scale needs ?n=N, +N or -N"})
			return
		}
	default:
		writeJSON(w, http.StatusNotFound, daemon.ErrorBody{Error: fmt.Sprintf("unknown action %q: restart, reload, stop, start or scale", act)})
		return
	}
	rs, err := s.cfg.Client.Action(r.Context(), app, act, req)
	if err != nil {
		code := http.StatusInternalServerError
		var ce *daemon.CallError
		if errors.As(err, &ce) {
			code = ce.Status
		}
		writeJSON(w, code, daemon.ErrorBody{Error: err.Error()})
		return
	}
	code := http.StatusOK
	for _, res := range rs.Results {
		if !res.OK {
			code = http.StatusInternalServerError
		}
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
	writeJSON(w, code, rs)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
