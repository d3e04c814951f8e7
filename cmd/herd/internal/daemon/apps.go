package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/herdrun/herd/cmd/herd/internal/app"
	"github.com/herdrun/herd/cmd/herd/internal/logsink"
	"github.com/herdrun/herd/cmd/herd/internal/runner"
	"golang.org/x/sys/unix"
)

// proc is one app in the daemon's list.
type proc struct {
	id int
	op sync.Mutex // serializes the commands on this app

	mu        sync.Mutex // guards the fields below
	spec      Spec
	status    string
	err       string
	r         *runner.Runner
	done      chan struct{} // closed when the current run has returned
	stopping  bool
	startedAt time.Time
	restarts  int // restarts and reloads by command

	reloadsOK, reloadsFailed int // rolling reloads by outcome (metrics)

	// progs remembers each guarded instance's program between reads of
	// its process tree (tree.go); it has its own lock.
	progs programs
	// inherit are listening sockets handed over by the daemon this one
	// replaces (herd update), for the next run only.
	inherit []*os.File
	// adopt are the instances an earlier image of this daemon handed
	// over (herd update by exec), for the next run only.
	adopt *runner.Handed
}

// ErrUnknownApp is wrapped by the error for a name or id that is not in the
// daemon's list.
var ErrUnknownApp = errors.New("no such app")

// UnknownAppError reports a target that names no app.
type UnknownAppError struct{ Target string }

// Error names the target and says what to do.
func (e *UnknownAppError) Error() string {
	return fmt.Sprintf("no app named %s: herd ls lists the apps (names and ids)", e.Target)
}

// Unwrap returns ErrUnknownApp.
func (e *UnknownAppError) Unwrap() error { return ErrUnknownApp }

// resolve returns the apps that target names: "all", an id or a name.
func (d *Daemon) resolve(target string) ([]*proc, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if target == "all" {
		return append([]*proc(nil), d.apps...), nil
	}
	for _, p := range d.apps {
		if p.name() == target || strconv.Itoa(p.id) == target {
			return []*proc{p}, nil
		}
	}
	return nil, &UnknownAppError{Target: target}
}

func (p *proc) name() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.spec.App.Name
}

// add puts a new app in the list, stopped; it fails if the name is taken.
func (d *Daemon) add(s Spec) (*proc, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.execing {
		return nil, fmt.Errorf("app %s: herd update is replacing the daemon: run the command again once it is done", s.App.Name)
	}
	for _, p := range d.apps {
		if p.name() == s.App.Name {
			return nil, fmt.Errorf("app %s is already in the list (id %d): herd restart %s restarts it, herd delete %s removes it, or give --name another name",
				s.App.Name, p.id, s.App.Name, s.App.Name)
		}
	}
	if err := d.hub.open(s.App); err != nil {
		return nil, fmt.Errorf("app %s: %w", s.App.Name, err)
	}
	d.nextID++
	p := &proc{id: d.nextID - 1, spec: s, status: StatusStopped}
	d.apps = append(d.apps, p)
	return p, nil
}

// remove takes p out of the list.
func (d *Daemon) remove(p *proc) {
	d.mu.Lock()
	for i, q := range d.apps {
		if q == p {
			d.apps = append(d.apps[:i], d.apps[i+1:]...)
			break
		}
	}
	d.mu.Unlock()
	d.hub.close(p.name())
}

// run starts p's app and waits until every instance is ready, the app
// fails, or ctx ends. Call it with p.op held and the app not running.
func (d *Daemon) run(ctx context.Context, p *proc) error {
	p.mu.Lock()
	s := p.spec
	p.mu.Unlock()
	a := s.App
	a.Env = append(append([]string(nil), s.Env...), s.App.Env...)
	logs := &logsink.Logs{JSON: true, Out: d.hub.writer(a.Name)}
	p.mu.Lock()
	inherit, adopt := p.inherit, p.adopt
	p.inherit, p.adopt = nil, nil
	p.mu.Unlock()
	// The cluster takes duplicates of inherited sockets once it runs.
	defer func() {
		for _, f := range inherit {
			f.Close()
		}
	}()
	opts := []runner.Option{runner.WithoutSignals(), runner.WithListeners(inherit)}
	if adopt != nil {
		opts = append(opts, runner.WithAdopted(*adopt))
	}
	r, err := runner.New(a, logs, opts...)
	if err != nil {
		p.setFailed(err)
		return fmt.Errorf("app %s: %w", a.Name, err)
	}
	done := make(chan struct{})
	p.mu.Lock()
	p.r, p.done, p.stopping, p.status, p.err, p.startedAt = r, done, false, StatusLaunching, "", time.Now()
	p.mu.Unlock()
	d.event(a.Name, "launching", "")
	d.bg.Go(func() {
		err := r.Run(context.Background())
		p.mu.Lock()
		switch {
		case p.stopping:
			p.status = StatusStopped
		case err != nil:
			p.status, p.err = StatusErrored, firstLine(err.Error())
		default: // every instance exited and none is restarted
			p.status = StatusStopped
		}
		st, msg := p.status, p.err
		p.mu.Unlock()
		if err != nil && !errors.Is(err, context.Canceled) {
			d.log.Warn("app ended", "app", a.Name, "err", err)
		}
		d.event(a.Name, st, msg)
		close(done)
	})
	// Online once every instance is ready, whether or not the caller
	// still waits.
	online := make(chan struct{})
	d.bg.Go(func() {
		select {
		case <-r.Ready():
			p.mu.Lock()
			if p.status == StatusLaunching && p.r == r {
				p.status = StatusOnline
			}
			p.mu.Unlock()
			d.event(a.Name, StatusOnline, "")
			close(online)
		case <-done:
		}
	})
	select {
	case <-online:
		return nil
	case <-done:
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.err != "" {
			return errors.New(p.err)
		}
		return fmt.Errorf("app %s: every instance exited at start; herd logs %s shows why", a.Name, a.Name)
	case <-ctx.Done():
		return fmt.Errorf("app %s: not ready yet (%w); herd ls shows its state", a.Name, ctx.Err())
	}
}

func (p *proc) setFailed(err error) {
	p.mu.Lock()
	p.status, p.err = StatusErrored, firstLine(err.Error())
	p.mu.Unlock()
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// stop stops p's app gracefully and waits for it. Call it with p.op held.
func (d *Daemon) stop(ctx context.Context, p *proc) error {
	p.mu.Lock()
	r, done := p.r, p.done
	if r == nil {
		p.mu.Unlock()
		return nil
	}
	p.stopping = true
	select {
	case <-done:
	default:
		p.status = StatusStopping
	}
	p.mu.Unlock()
	err := r.Shutdown(ctx)
	<-done
	p.mu.Lock()
	p.r, p.status = nil, StatusStopped
	p.mu.Unlock()
	return err
}

// running reports whether p's app runs (or launches).
func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.r == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// reload replaces p's instances one at a time; an app that does not run is
// started.
func (d *Daemon) reload(ctx context.Context, p *proc, req ActionRequest) error {
	if req.UpdateEnv {
		p.mu.Lock()
		p.spec.Env = req.Env
		p.mu.Unlock()
		// A new environment needs new processes with it: the cluster
		// keeps the environment it started with, so restart gracefully.
		return d.restart(ctx, p, ActionRequest{})
	}
	if !p.running() {
		return d.restartStopped(ctx, p)
	}
	p.mu.Lock()
	r := p.r
	p.mu.Unlock()
	err := r.Reload(ctx)
	p.countReload(err)
	if err != nil {
		return fmt.Errorf("reload of %s aborted: %v; the old instances keep serving; herd logs %s shows why the new one failed", p.name(), err, p.name())
	}
	p.mu.Lock()
	p.restarts++
	p.mu.Unlock()
	d.event(p.name(), "reloaded", "")
	return nil
}

// restart stops p's app and starts it again, with its start environment
// (or req.Env with UpdateEnv).
func (d *Daemon) restart(ctx context.Context, p *proc, req ActionRequest) error {
	if req.UpdateEnv {
		p.mu.Lock()
		p.spec.Env = req.Env
		p.mu.Unlock()
	}
	p.mu.Lock()
	wasRunning := p.r != nil
	p.mu.Unlock()
	if err := d.stop(ctx, p); err != nil {
		return fmt.Errorf("app %s: stop: %w", p.name(), err)
	}
	if wasRunning {
		p.mu.Lock()
		p.restarts++
		p.mu.Unlock()
	}
	return d.run(ctx, p)
}

func (d *Daemon) restartStopped(ctx context.Context, p *proc) error {
	_ = d.stop(ctx, p) // an errored run: release it
	return d.run(ctx, p)
}

// scale sets the number of instances: "N", "+N" or "-N".
func (d *Daemon) scale(p *proc, arg string) error {
	p.mu.Lock()
	cur := p.spec.App.Count()
	r := p.r
	name := p.spec.App.Name
	p.mu.Unlock()
	n, err := strconv.Atoi(strings.TrimPrefix(arg, "+"))
	if err != nil {
		return fmt.Errorf("app %s: scale: %q is not a number: give N, +N or -N", name, arg)
	}
	if strings.HasPrefix(arg, "+") || strings.HasPrefix(arg, "-") {
		n += cur
	}
	if n < 1 {
		return fmt.Errorf("app %s: scale to %d: an app needs at least 1 instance (herd stop %s stops it)", name, n, name)
	}
	probe := p.spec.App
	probe.Instances = n
	if err := probe.Check(); err != nil {
		return fmt.Errorf("app %s: scale: %w", name, err)
	}
	if r != nil && p.running() {
		if err := r.Scale(n); err != nil {
			return fmt.Errorf("app %s: scale: %w", name, err)
		}
	}
	p.mu.Lock()
	p.spec.App.Instances = n
	p.mu.Unlock()
	d.event(name, "scaled", strconv.Itoa(n))
	return nil
}

// ParseSignal returns the signal named s: "SIGUSR2", "USR2" or "12".
func ParseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q: give a name such as SIGUSR2 (or USR2) or a number", s)
}

// signal sends sig to every instance of p (to its guard, which passes it
// on to the program's process group).
func (d *Daemon) signal(p *proc, sig syscall.Signal) error {
	p.mu.Lock()
	r := p.r
	p.mu.Unlock()
	if r == nil || !p.running() {
		return fmt.Errorf("app %s is not running: herd start %s first", p.name(), p.name())
	}
	var errs []error
	for _, w := range r.Instances() {
		if err := syscall.Kill(w.PID, sig); err != nil {
			errs = append(errs, fmt.Errorf("instance %d (pid %d): %w", w.Slot, w.PID, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("app %s: signal %v: %w", p.name(), sig, errors.Join(errs...))
	}
	return nil
}

// cpuSample is an instance's CPU time when last listed.
type cpuSample struct {
	cpu time.Duration
	at  time.Time
}

// info describes p for ls (and describe, with the spec).
func (d *Daemon) info(p *proc, withSpec bool) AppInfo {
	p.mu.Lock()
	a := p.spec.App
	in := AppInfo{ID: p.id, Name: a.Name, Mode: "fork", Instances: a.Count(), Status: p.status, Restarts: p.restarts, Error: p.err, Pids: []int{}, Live: []Instance{}}
	if len(a.Ports) > 0 {
		in.Mode = "cluster"
	}
	if p.status == StatusOnline || p.status == StatusLaunching {
		in.UptimeMS = time.Since(p.startedAt).Milliseconds()
	}
	r := p.r
	if withSpec {
		s := p.spec
		in.Spec = &s
	}
	p.mu.Unlock()
	if r == nil || in.Status == StatusStopped {
		return in
	}
	now := time.Now()
	ws := r.Instances()
	for i, u := range p.progs.read(ws, false) {
		w := ws[i]
		inst := Instance{Slot: w.Slot, PID: u.prog, State: w.State, UptimeMS: w.Uptime.Milliseconds(), Restarts: w.Restarts, Memory: u.rss}
		cpu := u.cpu
		d.cpuMu.Lock()
		prev, ok := d.cpu[w.PID]
		d.cpu[w.PID] = cpuSample{cpu: cpu, at: now}
		d.cpuMu.Unlock()
		switch {
		case ok && now.Sub(prev.at) > 50*time.Millisecond:
			inst.CPU = 100 * float64(cpu-prev.cpu) / float64(now.Sub(prev.at))
		case w.Uptime > 0:
			inst.CPU = 100 * float64(cpu) / float64(w.Uptime)
		}
		inst.CPU = float64(int(inst.CPU*10+0.5)) / 10
		in.Live = append(in.Live, inst)
		in.Pids = append(in.Pids, inst.PID)
		in.Restarts += w.Restarts
		in.CPU += inst.CPU
		in.Memory += inst.Memory
	}
	return in
}

// ensureDefaults fills in what an App needs in the daemon: a name.
func checkSpec(s *Spec) error {
	if s.App.Name == "" {
		return errors.New("an app without a name: give --name")
	}
	if strings.ContainsAny(s.App.Name, "/\x00") || s.App.Name == "all" || s.App.Name == "." || s.App.Name == ".." {
		return fmt.Errorf("app name %q: a name may not be all, . or .. nor contain /: give --name another name", s.App.Name)
	}
	if _, err := strconv.Atoi(s.App.Name); err == nil {
		return fmt.Errorf("app name %q: a name may not be a number (numbers are ids): give --name another name", s.App.Name)
	}
	if len(s.App.Command) == 0 {
		return fmt.Errorf("app %s: %w", s.App.Name, app.ErrNoCommand)
	}
	if err := s.App.Check(); err != nil {
		return fmt.Errorf("app %s: %w", s.App.Name, err)
	}
	return nil
}
