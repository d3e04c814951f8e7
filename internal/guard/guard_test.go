package guard_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/guard"
	"github.com/herdrun/herd/internal/testutil"
)

func TestMain(m *testing.M) {
	// This test binary is the guard of its own tests.
	if code, ok := guard.Dispatch(os.Args); ok {
		os.Exit(code)
	}
	testutil.VerifyTestMain(m)
}

// guarded returns a command that runs script under a guard whose
// supervisor is this test process.
func guarded(t *testing.T, grace time.Duration, script string) *exec.Cmd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	argv := guard.Command(os.Args[0], os.Getpid(), grace, []string{"sh", "-c", script})
	return exec.CommandContext(ctx, argv[0], argv[1:]...)
}

func killMarked(t *testing.T, marker string) {
	t.Cleanup(func() {
		for _, pid := range testutil.Marked(marker) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
}

// waitNone waits up to d for no process with marker to be left.
func waitNone(t *testing.T, marker string, d time.Duration) {
	t.Helper()
	for end := time.Now().Add(d); ; {
		left := testutil.Marked(marker)
		if len(left) == 0 {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("processes still running after %v: %v", d, left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestExitStatusIsTheProgramsOwn(t *testing.T) {
	for _, tc := range []struct {
		script string
		code   int
		sig    syscall.Signal
	}{
		{"exit 0", 0, 0},
		{"exit 7", 7, 0},
		{"kill -USR1 $$", -1, syscall.SIGUSR1},
		{"kill -TERM $$", -1, syscall.SIGTERM},
		{"kill -SEGV $$", -1, syscall.SIGSEGV},
		{"kill -KILL $$", -1, syscall.SIGKILL},
	} {
		err := guarded(t, time.Second, tc.script).Run()
		var ee *exec.ExitError
		switch {
		case tc.sig == 0 && tc.code == 0 && err != nil:
			t.Errorf("%q: %v", tc.script, err)
		case tc.sig == 0 && tc.code != 0 && (!errors.As(err, &ee) || ee.ExitCode() != tc.code):
			t.Errorf("%q: got %v, want exit %d", tc.script, err, tc.code)
		case tc.sig != 0:
			if !errors.As(err, &ee) {
				t.Errorf("%q: got %v, want death by %v", tc.script, err, tc.sig)
				continue
			}
			ws := ee.Sys().(syscall.WaitStatus)
			if !ws.Signaled() || ws.Signal() != tc.sig {
				t.Errorf("%q: got %v, want death by %v", tc.script, err, tc.sig)
			}
		}
	}
}

func TestProgramNotFound(t *testing.T) {
	argv := guard.Command(os.Args[0], os.Getpid(), time.Second, []string{"no-such-program-herd"})
	cmd := exec.Command(argv[0], argv[1:]...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 127 {
		t.Fatalf("got %v, want exit 127; %s", err, out)
	}
	if !strings.Contains(string(out), "no-such-program-herd") {
		t.Errorf("the message does not name the program: %s", out)
	}
}

func TestBadCommandLine(t *testing.T) {
	for _, args := range [][]string{{"x", "1s", "--", "true"}, {"1", "soon", "--", "true"}, {"1", "1s", "true"}, {"1", "1s", "INT", "--", "true"}, {"1", "1s", "999", "--", "true"}} {
		if code := guard.Main(args); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}

// Signals sent to the guard reach the program, once each.
func TestForwardsSignals(t *testing.T) {
	cmd := guarded(t, 5*time.Second, `n=0; trap 'n=$((n+1)); echo "usr1 $n"' USR1; trap 'echo "hup $n"; exit 42' HUP; echo ready; while :; do sleep 0.02; done`)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	expect := func(want string) {
		t.Helper()
		if !lines.Scan() || lines.Text() != want {
			t.Fatalf("got %q, want %q", lines.Text(), want)
		}
	}
	expect("ready")
	cmd.Process.Signal(syscall.SIGUSR1)
	expect("usr1 1")
	cmd.Process.Signal(syscall.SIGUSR1)
	expect("usr1 2")
	cmd.Process.Signal(syscall.SIGHUP)
	expect("hup 2")
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 42 {
		t.Fatalf("got %v, want exit 42", err)
	}
}

// Descriptors 3 and up reach the program, the guard drops its own copies,
// and LISTEN_PID names the program when it named the guard.
func TestTransparent(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	argv := guard.Command(os.Args[0], os.Getpid(), time.Second,
		[]string{"sh", "-c", `echo "$LISTEN_PID $$"; echo fd3 >&3; exec 3>&-; exec sleep 30`})
	// As the cluster starts a program that has sockets.
	cmd := exec.Command("/bin/sh", append([]string{"-c", `LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"`}, argv...)...)
	cmd.ExtraFiles = []*os.File{pw}
	var stdout testutil.SyncBuffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	defer cmd.Wait()
	defer cmd.Process.Signal(syscall.SIGTERM)
	got := make(chan string, 1)
	go func() { b, _ := io.ReadAll(pr); got <- string(b) }() // EOF once no one holds the write end
	select {
	case s := <-got:
		if s != "fd3\n" {
			t.Errorf("fd 3 carried %q", s)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the guard kept its copy of fd 3")
	}
	testutil.WaitFor(t, "the program's first line", func() bool { return strings.HasSuffix(stdout.String(), "\n") })
	f := strings.Fields(stdout.String())
	if len(f) != 2 || f[0] != f[1] || f[0] == strconv.Itoa(cmd.Process.Pid) {
		t.Errorf("LISTEN_PID and the program's pid: %q (guard %d)", stdout.String(), cmd.Process.Pid)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !ee.Sys().(syscall.WaitStatus).Signaled() || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Errorf("got %v, want death by SIGTERM", err)
	}
}

// What the program leaves behind ends with it.
func TestLeftoversEndWithTheProgram(t *testing.T) {
	m := testutil.UniqueSleep(1)
	killMarked(t, m)
	cmd := guarded(t, 2*time.Second, `setsid sleep `+m+` >/dev/null 2>&1 & (setsid sleep `+m+` >/dev/null 2>&1 &); exit 3`)
	var stderr testutil.SyncBuffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("got %v, want exit 3", err)
	}
	waitNone(t, m, 5*time.Second)
	if !strings.Contains(stderr.String(), "stopped 2 process(es)") {
		t.Errorf("no note of the stopped processes: %q", stderr.String())
	}
}

// When the supervisor dies of SIGKILL, nothing of the guard's subtree
// survives: the program, its children, setsid and double-fork daemons, and
// the guard itself.
func TestSupervisorDeathEndsTheSubtree(t *testing.T) {
	m := testutil.UniqueSleep(2)
	killMarked(t, m)
	inner := `setsid sleep ` + m + ` >/dev/null 2>&1 & (setsid sleep ` + m + ` >/dev/null 2>&1 &); sleep ` + m + ` & echo started; exec sleep ` + m
	// The supervisor: a shell that starts the guard and waits.
	sup := exec.Command("sh", "-c", `"$0" `+guard.Arg+` $$ 3s -- sh -c "$1"; :`, os.Args[0], inner)
	out, err := sup.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sup.Start(); err != nil {
		t.Fatal(err)
	}
	if l, _ := bufio.NewReader(out).ReadString('\n'); l != "started\n" {
		t.Fatalf("got %q", l)
	}
	testutil.WaitFor(t, "four sleeps", func() bool {
		n := 0
		for _, pid := range testutil.Marked(m) {
			if b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); string(b) == "sleep\x00"+m+"\x00" {
				n++
			}
		}
		return n == 4
	})
	start := time.Now()
	sup.Process.Kill()
	sup.Wait()
	waitNone(t, m, 10*time.Second)
	t.Logf("subtree gone %v after the supervisor's SIGKILL", time.Since(start).Round(time.Millisecond))
}

// A program that ignores SIGTERM is killed, with its subtree, before the
// grace is over.
func TestEscalatesAfterSIGTERM(t *testing.T) {
	m := testutil.UniqueSleep(3)
	killMarked(t, m)
	cmd := guarded(t, time.Second, `trap "" TERM; sleep `+m+` & echo ready; while :; do sleep 0.05; done`)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if l, _ := bufio.NewReader(out).ReadString('\n'); l != "ready\n" {
		t.Fatalf("got %q", l)
	}
	began := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !ee.Sys().(syscall.WaitStatus).Signaled() || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("got %v, want death by SIGKILL", err)
	}
	if d := time.Since(began); d < 800*time.Millisecond {
		t.Errorf("SIGKILL after %v, before nine tenths of the 1s grace", d)
	}
	waitNone(t, m, 5*time.Second)
}

// With a stop signal of its own (a PM2 app's SIGINT), the guard passes
// that signal on and escalates after it as after SIGTERM.
func TestEscalatesAfterStopSignal(t *testing.T) {
	m := testutil.UniqueSleep(4)
	killMarked(t, m)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	argv := guard.CommandSignal(os.Args[0], os.Getpid(), time.Second, syscall.SIGINT,
		[]string{"sh", "-c", `trap "echo got INT" INT; sleep ` + m + ` & echo ready; while :; do sleep 0.05; done`})
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(out)
	if l, _ := r.ReadString('\n'); l != "ready\n" {
		t.Fatalf("got %q", l)
	}
	began := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	if l, _ := r.ReadString('\n'); l != "got INT\n" {
		t.Fatalf("the program did not get SIGINT: %q", l)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !ee.Sys().(syscall.WaitStatus).Signaled() || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("got %v, want death by SIGKILL", err)
	}
	if d := time.Since(began); d < 800*time.Millisecond {
		t.Errorf("SIGKILL after %v, before nine tenths of the 1s grace", d)
	}
	waitNone(t, m, 5*time.Second)
}
