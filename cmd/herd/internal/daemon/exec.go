package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/cluster"
	"github.com/herdrun/herd/cmd/herd/internal/runner"
)

// herd update in place: the daemon replaces its own image with the binary
// on disk (execve), keeping its pid and its children, the apps' instances.
//
//	old image                                   new image (same pid)
//	hold every app's command lock
//	hijack the update request's connection
//	per running app: Runner.Handover            herd daemon ... (HERD_EXEC_STATE=path)
//	  (instances frozen, output pipes,            read the state, remove it
//	   channels, notify sockets, listening        socket and pid file (its lock) from fds
//	   sockets, the Node shim's broker path)      per app: runner.WithAdopted: the same
//	write exec-state.json (0600): list + fds        instances, same sockets, same pipes
//	clear close-on-exec on those fds            answer the update on the hijacked conn
//	child.Reexec(exe, args, env) ------------>  READY=1 (systemd: same MAINPID)
//
// The instances never notice: their parent stays the daemon's pid (and the
// thread that started them, so no parent-death signal fires), their
// listening sockets are the same, what they write meanwhile waits in their
// pipes. If the exec of the new binary fails, the daemon execs its own
// binary (/proc/self/exe) with the same state and answers with the error.

// ExecStateEnv names the variable that gives a daemon started by herd
// update's exec the path of the state its earlier image wrote.
const ExecStateEnv = "HERD_EXEC_STATE"

// ExecStateVersion is the format of the exec state this binary reads.
const ExecStateVersion = 1

// CanAdoptArg is the flag of herd daemon that prints CanAdoptLine and
// exits: how the running daemon learns that the binary on disk can take
// its state over by exec.
const CanAdoptArg = "--can-adopt"

// CanAdoptLine is what herd daemon --can-adopt prints.
var CanAdoptLine = "herd-exec-state " + strconv.Itoa(ExecStateVersion)

// execState is what one image of the daemon hands to the next.
type execState struct {
	Version int    `json:"version"`
	Herd    string `json:"herd"` // the version that wrote it
	// Sock, Pid and Reply are descriptors: the control socket, the
	// locked pid file, the update request's connection (-1 for none).
	Sock    int       `json:"sock"`
	Pid     int       `json:"pid"`
	Reply   int       `json:"reply"`
	NextID  int       `json:"next_id"`
	Apps    []execApp `json:"apps"`
	Failed  string    `json:"failed,omitempty"` // the exec of the new binary failed: why
	Sockets int       `json:"sockets"`
	Started time.Time `json:"started"`
	// Streams are the followers of GET /v1/logs, their connections.
	Streams []execStream `json:"streams,omitempty"`
}

type execApp struct {
	ID            int          `json:"id"`
	Spec          Spec         `json:"spec"`
	Status        string       `json:"status"`
	Err           string       `json:"err,omitempty"`
	StartedAt     time.Time    `json:"started_at"`
	Restarts      int          `json:"restarts"`
	ReloadsOK     int          `json:"reloads_ok"`
	ReloadsFailed int          `json:"reloads_failed"`
	Running       bool         `json:"running"`
	Listeners     []int        `json:"listeners,omitempty"`
	Broker        string       `json:"broker,omitempty"`
	Workers       []execWorker `json:"workers,omitempty"`
}

type execWorker struct {
	ID        int       `json:"id"`
	Slot      int       `json:"slot"`
	PID       int       `json:"pid"`
	Restarts  int       `json:"restarts"`
	Started   time.Time `json:"started"`
	Ready     bool      `json:"ready"`
	Draining  bool      `json:"draining"`
	Stdout    int       `json:"stdout"`
	Stderr    int       `json:"stderr"`
	Channel   int       `json:"channel"`
	Notify    int       `json:"notify"`
	NotifyDir string    `json:"notify_dir,omitempty"`
	// Pending is the start of the line it was writing on stdout and
	// stderr.
	Pending [2][]byte `json:"pending"`
}

// canAdopt reports whether the binary exe can take this daemon's state by
// exec: it runs exe daemon --can-adopt.
func canAdopt(exe string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "daemon", CanAdoptArg)
	cmd.Env = []string{}
	out, err := cmd.Output()
	return err == nil && string(bytes.TrimSpace(out)) == CanAdoptLine
}

// quietLimit bounds how long an update in place waits for the commands
// under way on the control socket.
const quietLimit = 10 * time.Second

// errNoExec says that the update must be a takeover instead.
var errNoExec = errors.New("no exec")

// execUpdate replaces this daemon's image with exe, keeping its pid and
// its apps' processes. It returns only if nothing was frozen yet (the
// caller answers), with errNoExec when exe cannot adopt the state.
func (d *Daemon) execUpdate(w http.ResponseWriter, exe string) error {
	if !canAdopt(exe) {
		return errNoExec
	}
	// The commands under way finish first; new ones wait for the new image.
	if !d.conns.quiet(quietLimit) {
		d.log.Warn("update: commands still under way after " + quietLimit.String() + "; their connections end with the exec")
	}
	h := d.cfg.Home
	d.mu.Lock()
	ps := append([]*proc(nil), d.apps...)
	nextID := d.nextID
	d.execing = true // no app is added from now on
	d.mu.Unlock()
	for _, p := range ps {
		p.op.Lock() // held until the exec: no command on any app
	}
	unlock := func() {
		for _, p := range ps {
			p.op.Unlock()
		}
		d.mu.Lock()
		d.execing = false
		d.mu.Unlock()
		d.conns.resume()
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		unlock()
		return errors.New("update: cannot keep the request's connection across the exec")
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		unlock()
		return fmt.Errorf("update: %w", err)
	}
	var keep []*os.File // every descriptor the new image gets; kept alive until the exec
	pass := func(f *os.File) int {
		if f == nil {
			return -1
		}
		keep = append(keep, f)
		return int(f.Fd())
	}
	st := execState{Version: ExecStateVersion, Herd: d.cfg.Version, NextID: nextID, Reply: -1, Started: d.started}
	if uc, ok := conn.(*net.UnixConn); ok {
		if f, err := uc.File(); err == nil {
			st.Reply = pass(f)
		}
	}
	conn.Close() // the duplicate (or nothing) answers
	lf, err := d.ln.File()
	if err != nil {
		unlock()
		return fmt.Errorf("update: the control socket: %w", err)
	}
	st.Sock = pass(lf)
	pfd, err := unix.Dup(int(d.pf.Fd()))
	if err != nil {
		unlock()
		return fmt.Errorf("update: the pid file: %w", err)
	}
	st.Pid = pass(os.NewFile(uintptr(pfd), "herd.pid"))

	// From here on the apps are frozen: every path ends in an exec.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, p := range ps {
		p.mu.Lock()
		a := execApp{ID: p.id, Spec: p.spec, Status: p.status, Err: p.err, StartedAt: p.startedAt, Restarts: p.restarts,
			ReloadsOK: p.reloadsOK, ReloadsFailed: p.reloadsFailed}
		r := p.r
		p.mu.Unlock()
		if r == nil || !p.running() {
			if a.Status != StatusErrored {
				a.Status = StatusStopped
			}
			st.Apps = append(st.Apps, a)
			continue
		}
		a.Running = true
		hd, err := r.Handover(ctx)
		if err != nil {
			// Not frozen: stop it here, and the next image starts it.
			d.log.Warn("update: app "+a.Spec.App.Name+" cannot be handed over; it restarts", "err", err)
			_ = d.stop(context.Background(), p)
			st.Apps = append(st.Apps, a)
			continue
		}
		for _, f := range hd.Listeners {
			a.Listeners = append(a.Listeners, pass(f))
			st.Sockets++
		}
		a.Broker = hd.Broker
		for _, hw := range hd.Workers {
			a.Workers = append(a.Workers, execWorker{ID: hw.ID, Slot: hw.Slot, PID: hw.PID, Restarts: hw.Restarts,
				Started: hw.Started, Ready: hw.Ready, Draining: hw.Draining, Stdout: pass(hw.Stdout), Stderr: pass(hw.Stderr),
				Channel: pass(hw.Channel), Notify: pass(hw.Notify), NotifyDir: hw.NotifyDir, Pending: hd.Pending[hw.ID]})
		}
		st.Apps = append(st.Apps, a)
	}
	// The followers, once no instance writes any more.
	es, sfs := d.handStreams()
	for i, f := range sfs {
		es[i].FD = pass(f)
	}
	st.Streams = es
	for _, f := range keep {
		_, _ = unix.FcntlInt(f.Fd(), unix.F_SETFD, 0) // through the exec
	}
	path := filepath.Join(h.Dir, "exec-state.json")
	env := []string{HomeEnv + "=" + h.Dir, ExecStateEnv + "=" + path}
	if home := os.Getenv("HOME"); home != "" {
		env = append(env, "HOME="+home)
	}
	if d.cfg.NotifySocket != "" {
		env = append(env, "NOTIFY_SOCKET="+d.cfg.NotifySocket)
	}
	env = append(env, d.cfg.PassEnv...)
	args := append([]string{exe}, os.Args[1:]...)
	write := func() error {
		b, err := json.Marshal(st)
		if err != nil {
			return err
		}
		return os.WriteFile(path, b, 0o600)
	}
	if err := write(); err != nil {
		st.Failed = "writing " + path + ": " + err.Error()
		d.log.Error("update: " + st.Failed)
	} else {
		d.log.Info("update: replacing the daemon's image, keeping its pid and its apps' processes", "exe", exe, "pid", os.Getpid())
		err = child.Reexec(exe, args, env)
		st.Failed = fmt.Sprintf("exec %s: %v", exe, err)
		d.log.Error("update: " + st.Failed + "; running this binary again")
	}
	// The new binary did not start: this one takes the state back.
	if err := write(); err == nil {
		self, _ := os.Readlink("/proc/self/exe")
		err = child.Reexec("/proc/self/exe", append([]string{self}, os.Args[1:]...), env)
		d.log.Error("update: exec of this binary failed too: " + err.Error())
	}
	runtime.KeepAlive(keep)
	d.log.Error("update: the daemon cannot go on; its apps stop with it")
	os.Exit(1)
	return nil
}

// readExecState reads and removes the state at path.
func readExecState(path string) (execState, error) {
	var st execState
	b, err := os.ReadFile(path)
	os.Remove(path)
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%s: %w", path, err)
	}
	if st.Version != ExecStateVersion {
		return st, fmt.Errorf("%s: format %d, this binary reads %d", path, st.Version, ExecStateVersion)
	}
	return st, nil
}

// fdFile returns the inherited descriptor fd as a file (close-on-exec
// again), or nil for -1 or a descriptor that is not open.
func fdFile(fd int, name string) *os.File {
	if fd < 0 {
		return nil
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
		return nil
	}
	unix.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), name)
}

// restoreExec takes the control socket and the pid file of the state.
func (d *Daemon) restoreExec(st execState) error {
	pf := fdFile(st.Pid, "herd.pid")
	sf := fdFile(st.Sock, "herd.sock")
	if pf == nil || sf == nil {
		return errors.New("the control socket or the pid file was not handed over")
	}
	ln, err := net.FileListener(sf)
	sf.Close()
	if err != nil {
		return err
	}
	ul, ok := ln.(*net.UnixListener)
	if !ok {
		ln.Close()
		return fmt.Errorf("the control socket is a %T", ln)
	}
	ul.SetUnlinkOnClose(true)
	d.ln, d.pf = ul, pf
	if !st.Started.IsZero() {
		d.started = st.Started
	}
	return nil
}

// adoptApps puts the state's apps in the list and takes back the running
// ones' instances (or starts them, when they could not be handed over);
// it returns the number of instances taken back.
func (d *Daemon) adoptApps(ctx context.Context, st execState) (int, error) {
	type job struct {
		p *proc
		a execApp
	}
	var jobs []job
	adopted := 0
	for _, a := range st.Apps {
		if err := d.hub.open(a.Spec.App); err != nil {
			return 0, fmt.Errorf("app %s: %w", a.Spec.App.Name, err)
		}
		p := &proc{id: a.ID, spec: a.Spec, status: StatusStopped, restarts: a.Restarts,
			reloadsOK: a.ReloadsOK, reloadsFailed: a.ReloadsFailed}
		if a.Status == StatusErrored {
			p.status, p.err = StatusErrored, a.Err
		}
		for _, fd := range a.Listeners {
			if f := fdFile(fd, "socket "+strconv.Itoa(fd)); f != nil {
				p.inherit = append(p.inherit, f)
			}
		}
		if len(p.inherit) != len(a.Spec.App.Ports) {
			for _, f := range p.inherit {
				f.Close()
			}
			p.inherit = nil
		}
		if len(a.Workers) > 0 {
			hd := &runner.Handed{Broker: a.Broker}
			for _, w := range a.Workers {
				hd.Workers = append(hd.Workers, cluster.HandedWorker{ID: w.ID, Slot: w.Slot, PID: w.PID, Restarts: w.Restarts,
					Started: w.Started, Ready: w.Ready, Draining: w.Draining,
					Stdout: fdFile(w.Stdout, "stdout"), Stderr: fdFile(w.Stderr, "stderr"),
					Channel: fdFile(w.Channel, "channel"), Notify: fdFile(w.Notify, "notify"), NotifyDir: w.NotifyDir})
				if len(w.Pending[0]) > 0 || len(w.Pending[1]) > 0 {
					if hd.Pending == nil {
						hd.Pending = map[int][2][]byte{}
					}
					hd.Pending[w.ID] = w.Pending
				}
				adopted++
			}
			p.adopt = hd
		}
		d.mu.Lock()
		d.apps = append(d.apps, p)
		d.mu.Unlock()
		if a.Running {
			jobs = append(jobs, job{p, a})
		}
	}
	d.mu.Lock()
	d.nextID = max(d.nextID, st.NextID)
	d.mu.Unlock()
	errs := make([]error, len(jobs))
	done := make(chan struct{}, len(jobs))
	for i, j := range jobs {
		go func() {
			defer func() { done <- struct{}{} }()
			j.p.op.Lock()
			defer j.p.op.Unlock()
			errs[i] = d.run(ctx, j.p)
			if errs[i] == nil && !j.a.StartedAt.IsZero() && len(j.a.Workers) > 0 {
				j.p.mu.Lock()
				j.p.startedAt = j.a.StartedAt
				j.p.mu.Unlock()
			}
		}()
	}
	for range jobs {
		<-done
	}
	return adopted, errors.Join(errs...)
}

// answerUpdate writes the answer of the update request that began the
// exec, on its connection (the state's Reply), and closes it.
func answerUpdate(st execState, code int, v any) {
	f := fdFile(st.Reply, "update request")
	if f == nil {
		return
	}
	defer f.Close()
	body, _ := json.Marshal(v)
	body = append(body, '\n')
	_ = f.SetWriteDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(f, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		code, http.StatusText(code), len(body), body)
}

// execTakeover adopts the apps of st and answers the update that made
// this image.
func (d *Daemon) execTakeover(ctx context.Context, st execState) {
	d.adoptStreams(st.Streams) // first: they see every line of the adopted instances
	n, err := d.adoptApps(ctx, st)
	res := UpdateResult{OldPID: os.Getpid(), NewPID: os.Getpid(), Apps: len(st.Apps), Sockets: st.Sockets, Instances: n, InPlace: true}
	switch {
	case st.Failed != "":
		d.log.Warn("update failed; this daemon runs on, its apps' processes kept", "err", st.Failed)
		answerUpdate(st, http.StatusInternalServerError, ErrorBody{Error: "the new binary did not start (" + st.Failed + "); the daemon runs on with its old binary, its apps' processes kept"})
	case err != nil:
		d.log.Warn("update: " + err.Error())
		answerUpdate(st, http.StatusInternalServerError, ErrorBody{Error: "the daemon was replaced (pid " + strconv.Itoa(os.Getpid()) + " kept), but: " + err.Error()})
	default:
		d.log.Info("updated in place", "from", st.Herd, "to", d.cfg.Version, "apps", len(st.Apps), "instances", n, "sockets", st.Sockets)
		answerUpdate(st, http.StatusOK, res)
	}
}
