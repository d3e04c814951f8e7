package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/herdrun/herd/cmd/herd/internal/daemon"
	"github.com/herdrun/herd/internal/procfs"
	"github.com/herdrun/herd/internal/testutil"
)

// tmuxServer is a tmux server of a test's own, on its own socket.
type tmuxServer struct {
	t    *testing.T
	sock string
	env  []string
}

// newTmux returns a tmux server for t, started by its first session and
// killed by pid (then its socket removed) when t ends. Without tmux the
// test is skipped, except in CI (CI=true), where .ci/run installs it.
func newTmux(t *testing.T, env []string) *tmuxServer {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tmux is not installed: .ci/run installs it (apt-get install tmux)")
		}
		t.Skip("tmux is not installed (apt-get install tmux)")
	}
	s := &tmuxServer{t: t, sock: filepath.Join(t.TempDir(), "tmux.sock"), env: env}
	t.Cleanup(func() {
		out, err := s.cmd("display-message", "-p", "#{pid}")
		if err != nil {
			return
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(out))
		if pid <= 0 {
			return
		}
		tree := procfs.Tree(pid)
		syscall.Kill(pid, syscall.SIGTERM)
		if !testutil.WaitGone(pid, 10*time.Second) {
			syscall.Kill(pid, syscall.SIGKILL)
			testutil.WaitGone(pid, 5*time.Second)
		}
		for _, p := range tree {
			if !testutil.WaitGone(p, 10*time.Second) {
				syscall.Kill(p, syscall.SIGKILL)
			}
		}
	})
	return s
}

// cmd runs tmux with args on the server's socket.
func (s *tmuxServer) cmd(args ...string) (string, error) {
	cmd := exec.Command("tmux", append([]string{"-S", s.sock, "-f", "/dev/null"}, args...)...)
	cmd.Env = s.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), &tmuxError{args: args, err: err, stderr: errb.String()}
	}
	return out.String(), nil
}

type tmuxError struct {
	args   []string
	err    error
	stderr string
}

func (e *tmuxError) Error() string {
	return "tmux " + strings.Join(e.args, " ") + ": " + e.err.Error() + ": " + e.stderr
}

func (s *tmuxServer) must(args ...string) string {
	s.t.Helper()
	out, err := s.cmd(args...)
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

// session starts a detached session name of w×h cells running shell, a
// sh -c command line, with the extra environment env.
func (s *tmuxServer) session(name string, w, h int, env []string, shell string) {
	s.t.Helper()
	args := []string{"new-session", "-d", "-s", name, "-x", strconv.Itoa(w), "-y", strconv.Itoa(h)}
	for _, e := range env {
		args = append(args, "-e", e)
	}
	s.must(append(args, "sh", "-c", shell)...)
}

// keys types keys into a session (tmux key names: Enter, Escape, or text).
func (s *tmuxServer) keys(name string, keys ...string) {
	s.t.Helper()
	s.must(append([]string{"send-keys", "-t", name}, keys...)...)
}

// screen returns what a session's pane shows; with escapes, its
// attributes and colours as escape sequences too.
func (s *tmuxServer) screen(name string, escapes bool) string {
	s.t.Helper()
	args := []string{"capture-pane", "-p", "-t", name}
	if escapes {
		args = append(args, "-e")
	}
	return s.must(args...)
}

// waitScreen waits, 30s at most, until the pane of a session matches
// each pattern (multi-line mode), and returns it.
func (s *tmuxServer) waitScreen(name string, patterns ...string) string {
	s.t.Helper()
	var res []*regexp.Regexp
	for _, p := range patterns {
		res = append(res, regexp.MustCompile("(?m)"+p))
	}
	var last string
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		last = s.screen(name, false)
		ok := true
		for _, re := range res {
			ok = ok && re.MatchString(last)
		}
		if ok {
			return last
		}
	}
	s.t.Fatalf("session %s: the screen does not match %q; it shows:\n%s", name, patterns, last)
	return ""
}

// monitShell runs herd monit, then says how it exited and whether the
// terminal is back in cooked mode (stty prints "echo", not "-echo"), and
// stays, so that the pane can be read.
func monitShell(args string) string {
	return herdBin + " monit " + args + `; echo "monit exited $?"; stty -a | tr ' ;' '\n\n' | grep -x -- '-\{0,1\}echo'; exec sleep 600`
}

// colourSGR matches an escape sequence that sets a foreground colour.
var colourSGR = regexp.MustCompile(`\x1b\[([0-9]+;)*(3[0-7]|38|9[0-7])(;[0-9]+)*m`)

// herd monit, in a real terminal (tmux) over a real daemon and app: the
// app's row and logs show; enter expands it; + asks, y scales and a second
// instance row appears; - then n changes nothing; r restarts, s stops and
// starts; / filters; q exits 0 with the terminal restored (cooked mode, no
// alternate screen). A second view, narrow and with NO_COLOR, drops the
// sparkline, draws no colour, and SIGINT ends it with 130 and the terminal
// restored.
func TestMonitInTmux(t *testing.T) {
	home := t.TempDir()
	env := daemonEnv(t, home)
	var clean []string
	for _, e := range env {
		if !strings.HasPrefix(e, "NO_COLOR=") && !strings.HasPrefix(e, "TMUX") {
			clean = append(clean, e)
		}
	}
	env = clean
	mustHerd(t, env, "start", "--name", "ticker", "--kill-timeout", "2s", "--", "sh", "-c",
		`i=0; while :; do echo "tick $i"; i=$((i+1)); sleep 0.2; done`)
	if err := waitApp(env, "ticker", daemon.StatusOnline, 1, 1); err != nil {
		t.Fatal(err)
	}
	tm := newTmux(t, env)
	tm.session("a", 110, 32, []string{"HERD_HOME=" + home}, monitShell(""))

	tm.waitScreen("a", `^ +0 ▸ ticker +online +1/1 `, `^ticker\[0\] \| tick [0-9]+$`, `MEM \(last`)
	if !colourSGR.MatchString(tm.screen("a", true)) {
		t.Errorf("no colour on the screen without NO_COLOR:\n%q", tm.screen("a", true))
	}

	tm.keys("a", "Enter")
	tm.waitScreen("a", `^ +0 ▾ ticker `, `^ +#0 pid [0-9]+ +\S+ `)

	tm.keys("a", "+")
	tm.waitScreen("a", `^scale ticker up to 2 instances\? y/n$`)
	tm.keys("a", "y")
	tm.waitScreen("a", `^ +0 ▾ ticker +online +2/2 `, `^ +#1 pid [0-9]+ `, `^scaled ticker$`)
	if err := waitApp(env, "ticker", daemon.StatusOnline, 2, 2); err != nil {
		t.Fatal(err)
	}

	tm.keys("a", "-")
	tm.waitScreen("a", `^scale ticker down to 1 instances\? y/n$`)
	tm.keys("a", "n")
	tm.waitScreen("a", `^cancelled$`)

	tm.keys("a", "r")
	tm.waitScreen("a", `^restart ticker \(all 2 instances at once\)\? y/n$`)
	tm.keys("a", "Enter")
	tm.waitScreen("a", `^restarted ticker$`, `^ +0 ▾ ticker +online +2/2 +[0-9]+s +1 `)

	tm.keys("a", "s")
	tm.waitScreen("a", `^stop ticker\? y/n$`)
	tm.keys("a", "y")
	tm.waitScreen("a", `^stopped ticker$`, `^ +0 ▾ ticker +stopped +0/2 `)
	if err := waitApp(env, "ticker", daemon.StatusStopped, 0, 2); err != nil {
		t.Fatal(err)
	}
	tm.keys("a", "s")
	tm.waitScreen("a", `^start ticker\? y/n$`)
	tm.keys("a", "y")
	tm.waitScreen("a", `^started ticker$`, `^ +0 ▾ ticker +online +2/2 `)

	tm.keys("a", "/", "zz")
	tm.waitScreen("a", `^no app matches the filter`, `^/zz`)
	tm.keys("a", "Escape")
	tm.waitScreen("a", `^ +0 ▾ ticker +online`)

	tm.keys("a", "?")
	tm.waitScreen("a", `^herd monit: keys$`)
	tm.keys("a", "x")
	tm.waitScreen("a", `^ +0 ▾ ticker +online`)

	tm.keys("a", "q")
	tm.waitScreen("a", `^monit exited 0$`, `^echo$`)
	if alt := strings.TrimSpace(tm.must("display-message", "-p", "-t", "a", "#{alternate_on}")); alt != "0" {
		t.Errorf("the alternate screen is still on after q (alternate_on=%s)", alt)
	}

	// Narrow, without colour, ended by SIGINT.
	tm.session("b", 56, 20, []string{"HERD_HOME=" + home, "NO_COLOR=1"}, monitShell(""))
	scr := tm.waitScreen("b", `^ +0 ▸ ticker +online +2/2 `)
	if strings.ContainsAny(scr, "▁▂▃▄▅▆▇█") || strings.Contains(scr, "MEM (last") || strings.Contains(scr, "UPTIME") {
		t.Errorf("56 columns: want no sparkline and no uptime column:\n%s", scr)
	}
	if esc := tm.screen("b", true); colourSGR.MatchString(esc) {
		t.Errorf("NO_COLOR: colour on the screen:\n%q", esc)
	}
	shPID, _ := strconv.Atoi(strings.TrimSpace(tm.must("display-message", "-p", "-t", "b", "#{pane_pid}")))
	kids, _ := procfs.Children(shPID)
	if len(kids) != 1 {
		t.Fatalf("the pane's shell %d has children %v, want herd monit alone", shPID, kids)
	}
	if err := syscall.Kill(kids[0], syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	tm.waitScreen("b", `^monit exited 130$`, `^echo$`)
	if alt := strings.TrimSpace(tm.must("display-message", "-p", "-t", "b", "#{alternate_on}")); alt != "0" {
		t.Errorf("the alternate screen is still on after SIGINT (alternate_on=%s)", alt)
	}
	if !testutil.WaitGone(kids[0], 10*time.Second) {
		t.Errorf("herd monit (pid %d) still runs after SIGINT", kids[0])
	}
}

// herd monit without a terminal says so and exits 1.
func TestMonitNeedsTerminal(t *testing.T) {
	code, _, errOut := runHerd(t, []string{"HERD_HOME=" + t.TempDir()}, "monit")
	if code != 1 || !strings.Contains(errOut, "herd monit needs a terminal") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

// HERD_METRICS in the environment of the herd start that launches the
// daemon makes it serve Prometheus metrics there; --metrics off loopback
// is refused as a usage error that says what to write.
func TestDaemonMetricsEnv(t *testing.T) {
	home := t.TempDir()
	port := testutil.FreePort(t)
	env := append(daemonEnv(t, home), "HERD_METRICS=127.0.0.1:"+strconv.Itoa(port))
	mustHerd(t, env, "start", "--name", "m", "--", "sleep", "300")
	ctx := t.Context()
	var body string
	testutil.WaitFor(t, "herd_app_up of m", func() bool {
		code, b, err := testutil.Get(ctx, "http://127.0.0.1:"+strconv.Itoa(port)+"/metrics")
		body = b
		return err == nil && code == 200 && strings.Contains(b, `herd_app_up{app="m"} 1`)
	})
	if !regexp.MustCompile(`(?m)^herd_instance_resident_memory_bytes\{app="m",slot="0"\} [0-9.e+]+$`).MatchString(body) {
		t.Errorf("no memory series of m:\n%s", body)
	}
	// herd update: the daemon that takes over serves the metrics too.
	startTime := regexp.MustCompile(`(?m)^herd_daemon_start_time_seconds (\S+)$`)
	first := startTime.FindStringSubmatch(body)
	if first == nil {
		t.Fatalf("no herd_daemon_start_time_seconds:\n%s", body)
	}
	oldPID := daemon.HomeAt(home).DaemonPID()
	get := func() (int, string, error) {
		return testutil.Get(ctx, "http://127.0.0.1:"+strconv.Itoa(port)+"/metrics")
	}
	// In place: the same daemon (pid, start time) serves them again
	// from its new image, the exec having closed the old image's socket.
	mustHerd(t, env, "update")
	testutil.WaitFor(t, "the metrics after herd update in place", func() bool {
		code, b, err := get()
		m := startTime.FindStringSubmatch(b)
		return err == nil && code == 200 && m != nil && m[1] == first[1] && strings.Contains(b, `herd_app_up{app="m"} 1`)
	})
	if pid := daemon.HomeAt(home).DaemonPID(); pid != oldPID {
		t.Errorf("the daemon's pid is %d after herd update in place, was %d", pid, oldPID)
	}
	// By takeover: the new daemon serves them.
	mustHerd(t, env, "update", "--takeover")
	testutil.WaitFor(t, "the new daemon's metrics", func() bool {
		code, b, err := get()
		m := startTime.FindStringSubmatch(b)
		return err == nil && code == 200 && m != nil && m[1] != first[1] && strings.Contains(b, `herd_app_up{app="m"} 1`)
	})
	if pid := daemon.HomeAt(home).DaemonPID(); pid == oldPID {
		t.Errorf("the daemon's pid is still %d after herd update --takeover", pid)
	}
	code, _, errOut := herdCmd(t, env, "daemon", "--metrics", "0.0.0.0:9595")
	if code != 2 || !strings.Contains(errOut, `metrics address "0.0.0.0:9595": the host is not a loopback address`) {
		t.Fatalf("--metrics 0.0.0.0:9595: exit %d, %s", code, errOut)
	}
}
