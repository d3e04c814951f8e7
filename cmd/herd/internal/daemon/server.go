package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/herdrun/herd/cmd/herd/internal/logsink"
)

// handler returns the control protocol's routes.
func (d *Daemon) handler() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /v1/version", d.getVersion)
	m.HandleFunc("GET /v1/ping", d.getVersion)
	m.HandleFunc("POST /v1/kill", d.postKill)
	m.HandleFunc("GET /v1/apps", d.getApps)
	m.HandleFunc("POST /v1/apps", d.postApps)
	m.HandleFunc("GET /v1/apps/{target}", d.getApp)
	m.HandleFunc("POST /v1/apps/{target}/{action}", d.postAction)
	m.HandleFunc("GET /v1/logs", d.getLogs)
	m.HandleFunc("GET /v1/events", d.getEvents)
	m.HandleFunc("POST /v1/save", d.postSave)
	m.HandleFunc("POST /v1/resurrect", d.postResurrect)
	m.HandleFunc("POST /v1/update", d.postUpdate)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(VersionHeader, d.cfg.Version)
		switch r.URL.Path {
		case "/v1/version", "/v1/ping", "/v1/kill", "/v1/update":
		default:
			// A client that says its version must match; curl, which
			// does not, is served.
			if v := r.Header.Get(VersionHeader); v != "" && v != d.cfg.Version {
				writeErr(w, http.StatusConflict, &VersionError{Client: v, Daemon: d.cfg.Version})
				return
			}
		}
		m.ServeHTTP(w, r)
	})
}

// ErrVersionMismatch is wrapped by a VersionError.
var ErrVersionMismatch = errors.New("the daemon runs another version of herd")

// VersionError reports a client and a daemon of different versions.
type VersionError struct{ Client, Daemon string }

// Error names both versions and what to do.
func (e *VersionError) Error() string {
	return fmt.Sprintf("the daemon runs herd %s, this command is herd %s: run herd update to replace the daemon with this binary (its apps keep serving), or herd kill to stop it and its apps",
		e.Daemon, e.Client)
}

// Unwrap returns ErrVersionMismatch.
func (e *VersionError) Unwrap() error { return ErrVersionMismatch }

func (d *Daemon) getVersion(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, VersionInfo{Version: d.cfg.Version, PID: os.Getpid(), Home: d.cfg.Home.Dir, Started: d.started.Format(time.RFC3339)})
}

func (d *Daemon) postKill(w http.ResponseWriter, _ *http.Request) {
	d.mu.Lock()
	n := len(d.apps)
	d.mu.Unlock()
	d.stopAll()
	writeJSON(w, http.StatusOK, map[string]any{"stopped": n, "pid": os.Getpid()})
	d.kill.Do(func() { close(d.killed) })
}

func (d *Daemon) list() List {
	d.mu.Lock()
	ps := append([]*proc(nil), d.apps...)
	d.mu.Unlock()
	l := List{Apps: []AppInfo{}}
	for _, p := range ps {
		l.Apps = append(l.Apps, d.info(p, false))
	}
	return l
}

func (d *Daemon) getApps(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, d.list())
}

func (d *Daemon) getApp(w http.ResponseWriter, r *http.Request) {
	ps, err := d.resolve(r.PathValue("target"))
	if err != nil {
		writeErr(w, http.StatusNotFound, err)
		return
	}
	writeJSON(w, http.StatusOK, d.info(ps[0], true))
}

// decode reads a JSON body into v; an empty body leaves v as it is.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 16<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && err.Error() != "EOF" {
		return fmt.Errorf("bad request body: %w", err)
	}
	return nil
}

// postApps starts the apps of a StartRequest, each at once, and answers
// when all are ready or failed.
func (d *Daemon) postApps(w http.ResponseWriter, r *http.Request) {
	var req StartRequest
	if err := decode(r, &req); err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	if len(req.Apps) == 0 {
		writeErr(w, http.StatusBadRequest, errors.New("no app to start"))
		return
	}
	for i := range req.Apps {
		if err := checkSpec(&req.Apps[i]); err != nil {
			writeErr(w, http.StatusBadRequest, err)
			return
		}
	}
	// Added in order (ids follow the file), then started at once.
	res := make([]Result, len(req.Apps))
	ps := make([]*proc, len(req.Apps))
	for i, s := range req.Apps {
		p, err := d.add(s)
		if err != nil {
			// An app of that name that is stopped or errored is
			// started again with the new spec.
			q, rerr := d.resolve(s.App.Name)
			if rerr != nil || q[0].running() {
				res[i] = Result{Name: s.App.Name, ID: -1, Error: err.Error()}
				continue
			}
			p = q[0]
		}
		ps[i] = p
	}
	var wg sync.WaitGroup
	for i, p := range ps {
		if p == nil {
			continue
		}
		// A client that goes away does not change what happens to the app.
		wg.Go(func() { res[i] = d.startOne(context.WithoutCancel(r.Context()), p, req.Apps[i]) })
	}
	wg.Wait()
	writeResults(w, Results{Results: res})
}

// startOne starts p with spec s.
func (d *Daemon) startOne(ctx context.Context, p *proc, s Spec) Result {
	p.op.Lock()
	defer p.op.Unlock()
	if p.running() {
		return Result{Name: s.App.Name, ID: p.id, Error: fmt.Sprintf("app %s is already running (id %d): herd restart %s restarts it", s.App.Name, p.id, s.App.Name)}
	}
	_ = d.stop(ctx, p) // an errored run: release it
	p.mu.Lock()
	p.spec = s
	p.mu.Unlock()
	res := Result{Name: s.App.Name, ID: p.id, OK: true}
	if err := d.run(ctx, p); err != nil {
		res.OK, res.Error = false, err.Error()
	}
	return res
}

// writeResults answers with rs: 200 when every app succeeded, else 500
// (the body says which failed).
func writeResults(w http.ResponseWriter, rs Results) {
	code := http.StatusOK
	for _, r := range rs.Results {
		if !r.OK {
			code = http.StatusInternalServerError
		}
	}
	writeJSON(w, code, rs)
}

// postAction runs stop, restart, reload, delete, scale, signal or flush on
// the apps of target.
func (d *Daemon) postAction(w http.ResponseWriter, r *http.Request) {
	action := r.PathValue("action")
	var req ActionRequest
	if err := decode(r, &req); err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	ps, err := d.resolve(r.PathValue("target"))
	if err != nil {
		writeErr(w, http.StatusNotFound, err)
		return
	}
	var do func(ctx context.Context, p *proc) error
	switch action {
	case "stop":
		do = func(ctx context.Context, p *proc) error {
			err := d.stop(ctx, p)
			d.event(p.name(), StatusStopped, "")
			return err
		}
	case "restart":
		do = func(ctx context.Context, p *proc) error { return d.restart(ctx, p, req) }
	case "reload":
		do = func(ctx context.Context, p *proc) error { return d.reload(ctx, p, req) }
	case "delete":
		do = func(ctx context.Context, p *proc) error {
			if err := d.stop(ctx, p); err != nil {
				return err
			}
			d.remove(p)
			d.event(p.name(), "deleted", "")
			return nil
		}
	case "scale":
		do = func(_ context.Context, p *proc) error { return d.scale(p, req.Instances) }
	case "signal":
		sig, err := ParseSignal(req.Signal)
		if err != nil {
			writeErr(w, http.StatusBadRequest, err)
			return
		}
		do = func(_ context.Context, p *proc) error { return d.signal(p, sig) }
	case "flush":
		do = func(_ context.Context, p *proc) error { return d.hub.flush([]string{p.name()}) }
	default:
		writeErr(w, http.StatusNotFound, fmt.Errorf("unknown action %q: stop, restart, reload, delete, scale, signal or flush", action))
		return
	}
	res := make([]Result, len(ps))
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Go(func() {
			p.op.Lock()
			defer p.op.Unlock()
			res[i] = Result{Name: p.name(), ID: p.id, OK: true}
			// A client that goes away (Ctrl-C) does not turn a
			// graceful stop or a reload into something else.
			if err := do(context.WithoutCancel(r.Context()), p); err != nil {
				res[i].OK, res[i].Error = false, err.Error()
			}
		})
	}
	wg.Wait()
	writeResults(w, Results{Results: res})
}

// getLogs streams log lines as JSON lines: ?app=NAME (or all), ?lines=N of
// history (default 15), ?stream=stdout|stderr, ?follow=1 to follow.
func (d *Daemon) getLogs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var names []string
	app := q.Get("app")
	if app != "" && app != "all" {
		ps, err := d.resolve(app)
		if err != nil {
			writeErr(w, http.StatusNotFound, err)
			return
		}
		app = ps[0].name()
		names = []string{app}
	} else {
		app = ""
		for _, a := range d.list().Apps {
			names = append(names, a.Name)
		}
	}
	n := 15
	if s := q.Get("lines"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			writeErr(w, http.StatusBadRequest, fmt.Errorf("lines=%q: give a number of lines, 0 or more", s))
			return
		}
		n = v
	}
	stream := q.Get("stream")
	if stream != "" && stream != logsink.StreamStdout && stream != logsink.StreamStderr {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("stream=%q: give stdout or stderr", stream))
		return
	}
	if q.Get("follow") == "1" {
		d.followLogs(w, names, app, n, stream)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	for _, l := range d.hub.history(names, n, stream) {
		_ = enc.Encode(l)
	}
}

// getEvents streams Events as JSON lines until the client goes.
func (d *Daemon) getEvents(w http.ResponseWriter, r *http.Request) {
	d.conns.markStream(r)
	ch := make(chan Event, 256)
	d.evMu.Lock()
	d.evs[ch] = struct{}{}
	d.evMu.Unlock()
	defer func() {
		d.evMu.Lock()
		delete(d.evs, ch)
		d.evMu.Unlock()
	}()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	if fl != nil {
		fl.Flush()
	}
	enc := json.NewEncoder(w)
	for {
		select {
		case <-r.Context().Done():
			return
		case <-d.killed:
			return
		case e := <-ch:
			if enc.Encode(e) != nil {
				return
			}
			if fl != nil {
				fl.Flush()
			}
		}
	}
}

// postSave writes the process list to the dump.
func (d *Daemon) postSave(w http.ResponseWriter, r *http.Request) {
	var req SaveRequest
	if err := decode(r, &req); err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	d.saveMu.Lock()
	defer d.saveMu.Unlock()
	dump := d.snapshot()
	if len(dump.Apps) == 0 && !req.Force {
		writeErr(w, http.StatusConflict, ErrEmptySave)
		return
	}
	bak, err := WriteDump(d.cfg.Home.Dump, dump)
	if err != nil {
		d.log.Warn(err.Error())
		writeErr(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, SaveResult{Path: d.cfg.Home.Dump, Apps: len(dump.Apps), Bak: bak, Saved: dump.Saved.Format(time.RFC3339)})
}

func (d *Daemon) postResurrect(w http.ResponseWriter, r *http.Request) {
	res, err := d.resurrect(r.Context())
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err)
		return
	}
	writeResults(w, res)
}

// resurrect restores the saved list: each app with its saved spec and
// environment, stopped apps stopped; apps already in the list are left
// alone.
func (d *Daemon) resurrect(ctx context.Context) (Results, error) {
	dump, note, err := ReadDump(d.cfg.Home.Dump)
	if err != nil {
		return Results{}, err
	}
	return d.restore(ctx, dump, note), nil
}

// restore adds the apps of dump and starts those not stopped.
func (d *Daemon) restore(ctx context.Context, dump Dump, note string) Results {
	res := Results{Results: make([]Result, len(dump.Apps)), Note: note}
	var wg sync.WaitGroup
	for i, a := range dump.Apps {
		p, err := d.add(a.Spec)
		if err != nil {
			res.Results[i] = Result{Name: a.App.Name, OK: true, Note: "already in the list; left alone"}
			continue
		}
		res.Results[i] = Result{Name: a.App.Name, ID: p.id, OK: true}
		if a.Stopped {
			continue
		}
		wg.Go(func() {
			p.op.Lock()
			defer p.op.Unlock()
			if err := d.run(ctx, p); err != nil {
				res.Results[i].OK, res.Results[i].Error = false, err.Error()
			}
		})
	}
	wg.Wait()
	return res
}

// snapshot returns the list as a Dump.
func (d *Daemon) snapshot() Dump {
	d.mu.Lock()
	ps := append([]*proc(nil), d.apps...)
	d.mu.Unlock()
	dump := Dump{Format: DumpFormat, Herd: d.cfg.Version, Saved: time.Now().UTC(), Apps: []DumpedApp{}}
	for _, p := range ps {
		p.mu.Lock()
		dump.Apps = append(dump.Apps, DumpedApp{Spec: p.spec, Stopped: p.status == StatusStopped || p.status == StatusStopping})
		p.mu.Unlock()
	}
	return dump
}
