package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/herdrun/herd/cmd/herd/internal/daemon"
	"github.com/herdrun/herd/internal/loadgen"
	"github.com/herdrun/herd/internal/procfs"
	"github.com/herdrun/herd/internal/testutil"
)

// daemonEnv returns the environment of herd commands with their own Home,
// whose daemon is stopped by pid when the test ends.
func daemonEnv(t *testing.T, home string) []string {
	t.Helper()
	t.Cleanup(func() { stopDaemon(home) })
	return append(os.Environ(), "HERD_HOME="+home)
}

// herdCmd runs herd with env to completion and returns its exit status,
// stdout and stderr.
func herdCmd(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, herdBin, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("herd %q: %v", args, err)
	}
	return code, out.String(), errb.String()
}

// mustHerd runs herd and fails the test unless it exits 0.
func mustHerd(t *testing.T, env []string, args ...string) string {
	t.Helper()
	code, out, errOut := herdCmd(t, env, args...)
	if code != 0 {
		t.Fatalf("herd %q: exit %d\n%s%s", args, code, out, errOut)
	}
	return out
}

// mustHerdOther runs the herd binary of otherVersion (herdOtherBin) with
// env and fails the test unless it exits 0; it returns its stdout.
func mustHerdOther(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(herdOtherBin(t), args...)
	cmd.Env = env
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("herd-other %q: %v\n%s%s", args, err, out, errb.Bytes())
	}
	return string(out)
}

// httpLoad is HTTP load on an app: two keep-alive connections and two
// that dial for each request, from startLoad until stop.
type httpLoad struct {
	// ctx ends at stop; more load may run on it, in wg.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ka, nc loadgen.Result
}

// startLoad starts HTTP load on 127.0.0.1:port; the test's end stops it
// if stop has not.
func startLoad(t *testing.T, port int) *httpLoad {
	l := &httpLoad{}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	t.Cleanup(l.cancel)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	l.wg.Go(func() {
		l.ka = loadgen.Run(l.ctx, loadgen.Options{Addr: addr, Conns: 2, KeepAlive: true, Duration: 120 * time.Second, Timeout: 20 * time.Second})
	})
	l.wg.Go(func() {
		l.nc = loadgen.Run(l.ctx, loadgen.Options{Addr: addr, Conns: 2, Duration: 120 * time.Second, Timeout: 20 * time.Second})
	})
	return l
}

// stop ends the load and waits for it, logs its counts as those of what
// ran under it, and fails the test unless no request failed and both
// kinds of connection had some succeed.
func (l *httpLoad) stop(t *testing.T, what string) {
	t.Helper()
	l.cancel()
	l.wg.Wait()
	ka, nc := l.ka, l.nc
	t.Logf("%s under load: keep-alive %d ok %d failed, new connections %d ok %d failed", what, ka.OK, ka.Failed, nc.OK, nc.Failed)
	if ka.Failed != 0 || nc.Failed != 0 || ka.OK == 0 || nc.OK == 0 {
		t.Fatalf("keep-alive %d ok %d failed %v; new connections %d ok %d failed %v", ka.OK, ka.Failed, ka.Errors, nc.OK, nc.Failed, nc.Errors)
	}
}

// guardsOf returns the guard of each of the instances pids (its parent),
// and fails the test unless each guard is a child of the daemon.
func guardsOf(t *testing.T, pids []int, daemonPid int) []int {
	t.Helper()
	guards := make([]int, len(pids))
	for i, p := range pids {
		st, err := procfs.ReadStat(p)
		if err != nil {
			t.Fatal(err)
		}
		guards[i] = st.PPID
		if g, _ := procfs.ReadStat(st.PPID); g.PPID != daemonPid {
			t.Fatalf("instance %d: guard %d is the child of %d, not of the daemon %d", p, st.PPID, g.PPID, daemonPid)
		}
	}
	return guards
}

// 50 herd commands at once (20 ls, 10 scale +1, 10 scale -1, 10 restart)
// all succeed and leave the app as it was: 11 instances, each one program.
func TestDaemonConcurrentCommands(t *testing.T) {
	home := t.TempDir()
	env := daemonEnv(t, home)
	marker := testutil.UniqueSleep(4)
	sleep, err := exec.LookPath("sleep") // herd start runs it by its path
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, pid := range pidsOf(sleep, marker) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	mustHerd(t, env, "start", "--name", "c", "-i", "11", "--kill-timeout", "3s", "--", "sleep", marker)
	if err := waitApp(env, "c", daemon.StatusOnline, 11, 11); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for i := range 50 {
		args := [][]string{{"ls"}, {"ls", "--json"}, {"scale", "c", "+1"}, {"scale", "c", "-1"}, {"restart", "c"}}[i%5]
		wg.Go(func() {
			code, out, errOut := herdCmd(t, env, args...)
			if code != 0 {
				mu.Lock()
				failures = append(failures, fmt.Sprintf("herd %q: exit %d: %s%s", args, code, out, errOut))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of 50 commands failed:\n%s", len(failures), strings.Join(failures, "\n"))
	}
	// Scaling down drains an instance after the command returns: wait
	// until the list and the processes agree, 11 of each.
	var l daemon.List
	var sleeps []int
	consistent := func() bool {
		var err error
		if l, err = lsJSON(env); err != nil || len(l.Apps) != 1 || l.Apps[0].Status != daemon.StatusOnline ||
			l.Apps[0].Instances != 11 || len(l.Apps[0].Pids) != 11 {
			return false
		}
		sleeps = pidsOf(sleep, marker)
		for _, in := range l.Apps[0].Live {
			if in.State != "ready" || !contains(sleeps, in.PID) {
				return false
			}
		}
		return len(sleeps) == 11
	}
	testutil.WaitFor(t, "11 instances, 11 sleeps", consistent)
	pid := daemon.HomeAt(home).DaemonPID()
	testutil.WaitFor(t, "the daemon's tree of 23", func() bool { return len(procfs.Tree(pid)) == 23 })
	if r := l.Apps[0].Restarts; r < 10 {
		t.Errorf("restarts %d, want at least the 10 restarts", r)
	}
}

// A state directory or socket of another user is refused with one line
// naming it, and the daemon refuses connections from another uid (peer
// credentials) with a line in its log.
func TestDaemonOtherUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root, to give files to another user")
	}
	const nobody = 65534
	// A Home of another user.
	other := filepath.Join(t.TempDir(), "theirs")
	if err := os.Mkdir(other, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(other, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"ls"}, {"start", "--", "sleep", "1"}, {"save"}} {
		code, out, errOut := herdCmd(t, append(os.Environ(), "HERD_HOME="+other), args...)
		want := fmt.Sprintf("herd: %s belongs to uid %d, not to you (uid 0): each user runs their own daemon; set HERD_HOME to a directory of your own\n", other, nobody)
		if code != 1 || errOut != want || out != "" {
			t.Errorf("herd %q: exit %d, stdout %q, stderr %q; want 1 and %q", args, code, out, errOut, want)
		}
	}

	// A process of another uid reaching the socket is refused.
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("no curl to connect as another user")
	}
	home := t.TempDir()
	env := daemonEnv(t, home)
	mustHerd(t, env, "start", "--name", "s", "--", "sleep", "300")
	out := mustHerd(t, env, "ls", "--json")
	if !strings.Contains(out, `"name": "s"`) {
		t.Fatalf("ls: %s", out)
	}
	h := daemon.HomeAt(home)
	// Open the way for another user, as a careless chmod would.
	for _, p := range []string{filepath.Dir(home), home} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(h.Sock, 0o666); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(curl, "-sS", "--max-time", "10", "--unix-socket", h.Sock, "http://herd/v1/apps")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	b, err := cmd.CombinedOutput()
	if err == nil || strings.Contains(string(b), `"name"`) {
		t.Fatalf("curl as uid %d: %v: %s", nobody, err, b)
	}
	testutil.WaitFor(t, "the refusal in the daemon's log", func() bool {
		log, _ := os.ReadFile(h.Log)
		return strings.Contains(string(log), `msg="refused a connection from another user" uid=65534`)
	})
	// And this user still gets through.
	if out := mustHerd(t, env, "ls"); !strings.Contains(out, " s ") {
		t.Errorf("ls: %s", out)
	}
}

// A save that finds the disk full fails with one line, and leaves the
// previous dump as it was.
func TestDaemonSaveOnFullDisk(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root, to mount a small tmpfs")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		// The daemon's last thread may still hold its files for a moment
		// after its main thread is gone.
		var out []byte
		var err error
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			if out, err = exec.Command("umount", mnt).CombinedOutput(); err == nil {
				return
			}
		}
		t.Errorf("umount: %v: %s", err, out)
	})
	home := filepath.Join(mnt, "herd")
	env := daemonEnv(t, home) // stopped before the unmount (cleanups run last first)
	mustHerd(t, env, "start", "--name", "a", "--", "sleep", "300")
	mustHerd(t, env, "save")
	h := daemon.HomeAt(home)
	before, err := os.ReadFile(h.Dump)
	if err != nil {
		t.Fatal(err)
	}
	mustHerd(t, env, "start", "--name", "b", "--", "sleep", "300")
	// Fill the disk.
	f, err := os.Create(filepath.Join(mnt, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	f.Close()
	code, out, errOut := herdCmd(t, env, "save")
	if code != 1 || out != "" || strings.Count(errOut, "\n") != 1 ||
		!strings.Contains(errOut, "no space left on device; the previous dump is kept") {
		t.Fatalf("save on a full disk: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	after, err := os.ReadFile(h.Dump)
	if err != nil || !bytes.Equal(after, before) {
		t.Fatalf("the dump changed: %v\n%s", err, after)
	}
	if tmps, _ := filepath.Glob(h.Dump + ".tmp*"); len(tmps) > 0 {
		t.Errorf("temporary files left: %v", tmps)
	}
	// With room again, save works.
	os.Remove(filepath.Join(mnt, "fill"))
	if out := mustHerd(t, env, "save"); !strings.Contains(out, "saved 2 app(s)") {
		t.Errorf("save: %s", out)
	}
}

// After a SIGKILL of the daemon, `herd daemon --resurrect` (what the unit of
// herd startup runs, Type=notify) tells systemd it is ready once the saved
// apps serve again: measured here from its start to READY=1.
func TestDaemonSIGKILLThenResurrectNotify(t *testing.T) {
	testutil.RequireNode(t)
	home := t.TempDir()
	env := daemonEnv(t, home)
	dir := t.TempDir()
	app := filepath.Join(dir, "app.js")
	if err := os.WriteFile(app, []byte(`require('http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT));`), 0o644); err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(testutil.FreePort(t))
	mustHerd(t, env, "start", app, "--name", "web", "-i", "2", "-p", port, "--host", "127.0.0.1")
	mustHerd(t, env, "save")
	url := "http://127.0.0.1:" + port + "/"
	if code, body, err := testutil.Get(t.Context(), url); err != nil || code != 200 || body != "ok" {
		t.Fatalf("GET: %d %q %v", code, body, err)
	}
	pid := daemon.HomeAt(home).DaemonPID()
	tree := procfs.Tree(pid)
	if len(tree) < 5 { // the daemon, 2 guards, 2 nodes (and what is starting now)
		t.Fatalf("the daemon's tree: %v", tree)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	for _, p := range tree {
		if !testutil.WaitGone(p, 15*time.Second) {
			t.Fatalf("process %d outlived the daemon's SIGKILL", p)
		}
	}
	testutil.WaitFor(t, "the port free", func() bool {
		l, err := net.Listen("tcp", "127.0.0.1:"+port)
		if err == nil {
			l.Close()
		}
		return err == nil
	})

	// systemd's side of Type=notify: a datagram socket in NOTIFY_SOCKET.
	sock := filepath.Join(t.TempDir(), "notify")
	nc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	began := time.Now()
	h := startHerd(t, []string{"HERD_HOME=" + home, "NOTIFY_SOCKET=" + sock}, "daemon", "--resurrect")
	nc.SetReadDeadline(time.Now().Add(60 * time.Second))
	buf := make([]byte, 512)
	n, err := nc.Read(buf)
	if err != nil {
		t.Fatalf("no READY=1: %v\n%s", err, h.stderr.String())
	}
	took := time.Since(began)
	if !strings.HasPrefix(string(buf[:n]), "READY=1\n") {
		t.Fatalf("notify: %q", buf[:n])
	}
	// Ready means serving.
	if code, body, err := testutil.Get(t.Context(), url); err != nil || code != 200 || body != "ok" {
		t.Fatalf("GET after READY=1: %d %q %v", code, body, err)
	}
	t.Logf("herd daemon --resurrect: READY=1 with the app serving %v after its start", took.Round(time.Millisecond))
	if err := waitApp(env, "web", daemon.StatusOnline, 2, 2); err != nil {
		t.Fatal(err)
	}
	// SIGTERM stops it all, gracefully.
	syscall.Kill(h.p.Pid, syscall.SIGTERM)
	if code := h.wait(t); code != 0 {
		t.Fatalf("herd daemon: exit %d\n%s", code, h.stderr.String())
	}
	if _, err := os.Stat(filepath.Join(home, "herd.sock")); !os.IsNotExist(err) {
		t.Errorf("the socket is left: %v", err)
	}
}

// A user other than root who runs herd startup gets the exact sudo line.
func TestStartupSudoLine(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root, to run herd as another user")
	}
	dir, err := os.MkdirTemp("", "herd-startup-") // reachable by another user
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "herd")
	b, err := os.ReadFile(herdBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "startup", "--home", "/nonexistent")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v\n%s%s", err, out.String(), errb.String())
	}
	u := "nobody"
	if want := "sudo " + bin + " startup systemd --user-name " + u + " --home /nonexistent\n"; out.String() != want {
		t.Errorf("stdout %q, want %q", out.String(), want)
	}
	if want := "herd: writing /etc/systemd/system/herd-" + u + ".service needs root; run:\n"; errb.String() != want {
		t.Errorf("stderr %q, want %q", errb.String(), want)
	}
}

// 5 herd reloads under keep-alive and new-connection load: no request
// fails, and each reload replaces both instances.
func TestDaemonReloadUnderLoad(t *testing.T) {
	testutil.RequireNode(t)
	home := t.TempDir()
	env := daemonEnv(t, home)
	port := testutil.FreePort(t)
	mustHerd(t, env, "start", writeApp(t, helloApp), "--name", "web", "-i", "2", "-p", strconv.Itoa(port), "--host", "127.0.0.1")
	load := startLoad(t, port)
	pids := func() []int {
		l, err := lsJSON(env)
		if err != nil || len(l.Apps) != 1 {
			t.Fatalf("ls: %+v %v", l, err)
		}
		return l.Apps[0].Pids
	}
	prev := pids()
	time.Sleep(200 * time.Millisecond)
	for i := range 5 {
		if out := mustHerd(t, env, "reload", "web"); out != "reloaded web (id 0)\n" {
			t.Fatalf("reload %d: %q", i, out)
		}
		// The old instances drain after the reload returns.
		var now []int
		testutil.WaitFor(t, "2 new instances", func() bool {
			now = pids()
			return len(now) == 2 && !contains(prev, now[0]) && !contains(prev, now[1])
		})
		prev = now
	}
	time.Sleep(200 * time.Millisecond)
	load.stop(t, "5 herd reloads")
}

// herd update --takeover under keep-alive and new-connection load, from a
// daemon of another version: no request fails, the apps keep their
// settings, and the new daemon's instances serve.
func TestDaemonUpdateUnderLoad(t *testing.T) {
	testutil.RequireNode(t)
	home := t.TempDir()
	env := daemonEnv(t, home)
	port := testutil.FreePort(t)
	mustHerdOther(t, env, "start", writeApp(t, helloApp), "--name", "web", "-i", "2", "-p", strconv.Itoa(port), "--host", "127.0.0.1", "-e", "K=v")
	oldPid := daemon.HomeAt(home).DaemonPID()
	load := startLoad(t, port)
	time.Sleep(300 * time.Millisecond)
	out := mustHerd(t, env, "update", "--takeover")
	if !strings.HasPrefix(out, "updated the daemon: herd "+otherVersion) || !strings.Contains(out, "1 app(s), 1 socket(s) handed over") {
		t.Fatalf("update: %q", out)
	}
	time.Sleep(300 * time.Millisecond)
	load.stop(t, "herd update")
	newPid := daemon.HomeAt(home).DaemonPID()
	if newPid == oldPid || !testutil.Gone(oldPid) {
		t.Fatalf("daemon pid %d after %d (gone: %v)", newPid, oldPid, testutil.Gone(oldPid))
	}
	if err := waitApp(env, "web", daemon.StatusOnline, 2, 2); err != nil {
		t.Fatal(err)
	}
	if out := mustHerd(t, env, "env", "web"); !strings.Contains(out, "\nK=v\n") {
		t.Errorf("env after update: %s", out)
	}
	// The instances are the new daemon's.
	l, _ := lsJSON(env)
	guardsOf(t, l.Apps[0].Pids, newPid)
}

// herd ls --watch redraws the table until interrupted.
func TestDaemonLsWatch(t *testing.T) {
	home := t.TempDir()
	env := daemonEnv(t, home)
	mustHerd(t, env, "start", "--name", "w", "--", "sleep", "300")
	cmd := exec.Command(herdBin, "ls", "--watch", "--interval", "20ms")
	cmd.Env = env
	var out testutil.SyncBuffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	testutil.WaitFor(t, "3 tables", func() bool { return strings.Count(out.String(), "\x1b[H\x1b[2J") >= 3 })
	cmd.Process.Signal(syscall.SIGINT)
	cmd.Wait()
	for _, table := range strings.Split(out.String(), "\x1b[H\x1b[2J")[1:3] {
		if !strings.HasPrefix(table, "ID  NAME  MODE  INST  PIDS") || !strings.Contains(table, "\n0   w     fork  1/1 ") {
			t.Errorf("table %q", table)
		}
	}
}
