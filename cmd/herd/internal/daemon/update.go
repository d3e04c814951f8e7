package daemon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// TakeoverEnv names the variable that tells a daemon started by herd
// update the descriptor on which it reports whether it took over.
const TakeoverEnv = "HERD_TAKEOVER_FD"

// takeoverTimeout bounds how long the old daemon waits for the new one.
const takeoverTimeout = 3 * time.Minute

// postUpdate replaces this daemon by one of the binary req.Exe, without a
// refused connection: this daemon writes its list to Home.Handover with its
// apps' listening sockets, gives up its socket and pid file, and starts the
// new daemon with those sockets; the new daemon starts every app that ran,
// its instances accepting on the same sockets, and reports; then this
// daemon stops its own instances (they drain) and exits. If the new daemon
// fails, this one takes its socket back and keeps running. It works across
// versions.
func (d *Daemon) postUpdate(w http.ResponseWriter, r *http.Request) {
	d.conns.markStream(r) // not waited for by the update itself
	var req UpdateRequest
	if err := decode(r, &req); err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	if req.Exe == "" || !strings.HasPrefix(req.Exe, "/") {
		writeErr(w, http.StatusBadRequest, errors.New("update: give the absolute path of the herd binary in exe"))
		return
	}
	if !d.updateMu.TryLock() {
		writeErr(w, http.StatusConflict, errors.New("update: another update is under way"))
		return
	}
	defer d.updateMu.Unlock()
	if !req.Takeover {
		// In place (exec): returns only if it could not begin.
		err := d.execUpdate(w, req.Exe)
		if !errors.Is(err, errNoExec) {
			d.log.Warn("update: " + err.Error())
			writeErr(w, http.StatusInternalServerError, err)
			return
		}
		d.log.Info("update: " + req.Exe + " cannot take this daemon's state in place; handing over to a new daemon")
	}
	res, err := d.update(req.Exe)
	if err != nil {
		d.log.Warn("update: " + err.Error())
		writeErr(w, http.StatusInternalServerError, err)
		return
	}
	d.log.Info("handed over to the new daemon", "pid", res.NewPID)
	writeJSON(w, http.StatusOK, res)
	d.kill.Do(func() { close(d.killed) })
}

func (d *Daemon) update(exe string) (res UpdateResult, err error) {
	h := d.cfg.Home
	d.mu.Lock()
	ps := append([]*proc(nil), d.apps...)
	d.mu.Unlock()
	for _, p := range ps {
		p.op.Lock() // no command on an app while it is handed over
		defer p.op.Unlock()
	}
	dump := d.snapshot()
	pr, pw, err := os.Pipe()
	if err != nil {
		return res, err
	}
	defer pr.Close()
	files := []*os.File{pw} // descriptor 3 in the new daemon
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for i, p := range ps {
		p.mu.Lock()
		rn := p.r
		p.mu.Unlock()
		if i >= len(dump.Apps) || dump.Apps[i].Stopped || rn == nil || !p.running() || len(dump.Apps[i].App.Ports) == 0 {
			continue
		}
		fs, err := rn.ListenerFiles()
		if err != nil || len(fs) != len(dump.Apps[i].App.Ports) {
			for _, f := range fs {
				f.Close()
			}
			continue // the new daemon opens the ports itself
		}
		for _, f := range fs {
			dump.Apps[i].ListenFDs = append(dump.Apps[i].ListenFDs, 3+len(files))
			files = append(files, f)
			res.Sockets++
		}
	}
	res.Apps = len(dump.Apps)
	_ = os.Remove(h.Handover)
	if _, err := WriteDump(h.Handover, dump); err != nil {
		return res, fmt.Errorf("writing the handover: %w; this daemon keeps running", err)
	}
	logf, err := os.OpenFile(h.Log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return res, err
	}
	defer logf.Close()

	// Give up the socket and the lock.
	d.updating.Store(true)
	defer d.updating.Store(false)
	d.ln.SetUnlinkOnClose(false)
	d.ln.Close()
	os.Remove(h.Sock)
	_ = unix.Flock(int(d.pf.Fd()), unix.LOCK_UN)

	cmd := exec.Command(exe, "daemon", "--background")
	cmd.Env = []string{HomeEnv + "=" + h.Dir, TakeoverEnv + "=3"}
	if home := os.Getenv("HOME"); home != "" {
		cmd.Env = append(cmd.Env, "HOME="+home)
	}
	if d.cfg.NotifySocket != "" {
		cmd.Env = append(cmd.Env, "NOTIFY_SOCKET="+d.cfg.NotifySocket)
	}
	cmd.Env = append(cmd.Env, d.cfg.PassEnv...)
	cmd.ExtraFiles = files
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Dir = "/"
	if err := cmd.Start(); err != nil {
		return res, d.takeBack(fmt.Errorf("starting %s: %w", exe, err))
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	pw.Close()
	files[0] = nil
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(pr).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	var got string
	select {
	case got = <-line:
	case <-time.After(takeoverTimeout):
		got = "error: no answer within " + takeoverTimeout.String()
	}
	if got != "ok" {
		if got == "" {
			got = "error: it exited; " + h.Log + " says why"
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(2 * time.Minute):
			cmd.Process.Kill()
			<-exited
		}
		return res, d.takeBack(fmt.Errorf("the new daemon (%s) failed to take over: %s", exe, strings.TrimPrefix(got, "error: ")))
	}
	res.OldPID, res.NewPID = os.Getpid(), cmd.Process.Pid
	d.gone.Store(true)
	_ = sdNotify(d.cfg.NotifySocket, "MAINPID="+strconv.Itoa(res.NewPID))
	// The new instances serve: this daemon's drain (the apps' commands
	// are held here, so stop them directly).
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Go(func() { _ = d.stop(context.Background(), p) })
	}
	wg.Wait()
	return res, nil
}

// takeBack takes the socket and the lock again after a failed update, and
// returns err with what happened.
func (d *Daemon) takeBack(err error) error {
	d.pf.Close()
	if terr := d.take(); terr != nil {
		d.log.Error("update: cannot take the socket back: " + terr.Error())
		return fmt.Errorf("%v; and this daemon could not take its socket back (%v): its apps run without a control socket until it is stopped", err, terr)
	}
	d.serve()
	os.Remove(d.cfg.Home.Handover)
	return fmt.Errorf("%w; this daemon keeps running", err)
}

// takeover starts the apps of the handover that the replaced daemon wrote,
// those in cluster mode on its sockets (the descriptors of ListenFDs).
func (d *Daemon) takeover(ctx context.Context) error {
	h := d.cfg.Home
	dump, err := readDump(h.Handover)
	if err != nil {
		return fmt.Errorf("reading the handover: %w", err)
	}
	defer os.Remove(h.Handover)
	for i := range dump.Apps {
		a := &dump.Apps[i]
		p, err := d.add(a.Spec)
		if err != nil {
			return err
		}
		for _, fd := range a.ListenFDs {
			if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
				return fmt.Errorf("app %s: descriptor %d of its socket was not handed over", a.App.Name, fd)
			}
			unix.CloseOnExec(fd)
			p.inherit = append(p.inherit, os.NewFile(uintptr(fd), "inherited socket "+strconv.Itoa(fd)))
		}
	}
	d.mu.Lock()
	ps := append([]*proc(nil), d.apps...)
	d.mu.Unlock()
	errs := make([]error, len(ps))
	done := make(chan int, len(ps))
	for i, p := range ps {
		go func() {
			defer func() { done <- i }()
			if i < len(dump.Apps) && dump.Apps[i].Stopped {
				return
			}
			p.op.Lock()
			defer p.op.Unlock()
			errs[i] = d.run(ctx, p)
		}()
	}
	for range ps {
		<-done
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	d.log.Info("took over from the replaced daemon", "apps", len(dump.Apps), "from", dump.Herd)
	return nil
}
