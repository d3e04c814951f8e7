package child

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestExecOK(t *testing.T) {
	res, err := Exec(t.Context(), "echo out; echo err >&2", nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Stdout) != "out\n" || string(res.Stderr) != "err\n" {
		t.Fatalf("stdout %q stderr %q", res.Stdout, res.Stderr)
	}
	if res.Pid <= 0 {
		t.Fatalf("pid %d", res.Pid)
	}
}

func TestExecFileNoShell(t *testing.T) {
	res, err := ExecFile(t.Context(), "echo", []string{"a  b", "$HOME", "*"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(res.Stdout); got != "a  b $HOME *\n" {
		t.Fatalf("got %q: arguments went through a shell", got)
	}
}

func TestExecShellOption(t *testing.T) {
	res, err := Exec(t.Context(), "echo $0", &Options{Shell: "/bin/bash"})
	if err != nil {
		t.Skip("no /bin/bash; install bash (apt-get install bash):", err)
	}
	if got := string(res.Stdout); got != "/bin/bash\n" {
		t.Fatalf("got %q", got)
	}
}

func TestExecExitCodeAndStderrTail(t *testing.T) {
	const cmd = "echo partial; echo first >&2; echo oops >&2; exit 3"
	res, err := Exec(t.Context(), cmd, nil)
	var ee *ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("want *ExitError, got %T %v", err, err)
	}
	if ee.Code != 3 || ee.Signal != 0 || ee.Killed || ee.Reason != nil || ee.Pid != res.Pid {
		t.Fatalf("bad ExitError %+v", ee)
	}
	if string(ee.Stderr) != "first\noops\n" || string(res.Stderr) != "first\noops\n" || string(res.Stdout) != "partial\n" {
		t.Fatalf("stderr %q / %q, stdout %q", ee.Stderr, res.Stderr, res.Stdout)
	}
	want := `child: "` + cmd + `" exited with code 3: oops`
	if err.Error() != want {
		t.Fatalf("Error() = %q, want %q", err.Error(), want)
	}
}

func TestExecErrorMessageLs(t *testing.T) {
	_, err := Exec(t.Context(), "ls /nope", &Options{Env: []string{"LC_ALL=C", "PATH=" + os.Getenv("PATH")}})
	if err == nil {
		t.Fatal("ls /nope succeeded")
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, `child: "ls /nope" exited with code `) || !strings.Contains(msg, "/nope") || strings.Count(msg, "\n") != 0 {
		t.Fatalf("message %q", msg)
	}
}

func TestExecStderrTailIsCapped(t *testing.T) {
	res, err := Exec(t.Context(), "head -c 10000 /dev/zero | tr '\\0' x >&2; echo last >&2; exit 1", nil)
	var ee *ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("got %v", err)
	}
	if len(res.Stderr) != 10005 || len(ee.Stderr) != 4096 || !bytes.HasSuffix(ee.Stderr, []byte("xlast\n")) {
		t.Fatalf("res.Stderr %d bytes, ExitError.Stderr %d bytes", len(res.Stderr), len(ee.Stderr))
	}
}

func TestExecMaxBufferDefault(t *testing.T) {
	start := time.Now()
	// Far more than MaxBuffer plus the 1 MiB pipe, so the child is still
	// writing (blocked) when it is killed rather than already exited.
	res, err := Exec(t.Context(), "head -c 8000000 /dev/zero", nil)
	if !errors.Is(err, ErrMaxBuffer) {
		t.Fatalf("want ErrMaxBuffer, got %v", err)
	}
	if errors.Is(err, ErrTimeout) {
		t.Fatal("ErrMaxBuffer error also matched ErrTimeout")
	}
	var ee *ExitError
	if !errors.As(err, &ee) || !ee.Killed || ee.Signal != syscall.SIGTERM {
		t.Fatalf("want killed by SIGTERM, got %#v", err)
	}
	if len(res.Stdout) != 1<<20 {
		t.Fatalf("stdout %d bytes, want exactly 1 MiB", len(res.Stdout))
	}
	if !strings.Contains(err.Error(), "(output exceeded MaxBuffer)") {
		t.Fatalf("message %q", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestExecMaxBufferCustomAndUnlimited(t *testing.T) {
	res, err := Exec(t.Context(), "printf 0123456789abc >&2", &Options{MaxBuffer: 10})
	if !errors.Is(err, ErrMaxBuffer) || string(res.Stderr) != "0123456789" {
		t.Fatalf("err %v stderr %q", err, res.Stderr)
	}
	res, err = Exec(t.Context(), "printf 0123456789", &Options{MaxBuffer: 10})
	if err != nil || string(res.Stdout) != "0123456789" {
		t.Fatalf("exactly MaxBuffer: err %v stdout %q", err, res.Stdout)
	}
	res, err = Exec(t.Context(), "head -c 2000000 /dev/zero", &Options{MaxBuffer: -1})
	if err != nil || len(res.Stdout) != 2000000 {
		t.Fatalf("unlimited: err %v, %d bytes", err, len(res.Stdout))
	}
}

func TestExecTimeout(t *testing.T) {
	start := time.Now()
	res, err := Exec(t.Context(), "echo started; sleep 30", &Options{Timeout: 100 * time.Millisecond})
	d := time.Since(start)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("want ErrTimeout, got %v", err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, ErrMaxBuffer) {
		t.Fatal("ErrTimeout matched another sentinel")
	}
	var ee *ExitError
	if !errors.As(err, &ee) || !ee.Killed || ee.Signal != syscall.SIGTERM || ee.Code != -1 {
		t.Fatalf("bad error %#v", err)
	}
	if want := `child: "echo started; sleep 30" killed by SIGTERM (timed out)`; err.Error() != want {
		t.Fatalf("Error() = %q, want %q", err, want)
	}
	if string(res.Stdout) != "started\n" {
		t.Fatalf("stdout %q", res.Stdout)
	}
	if d < 100*time.Millisecond || d > 3*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestExecContextDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := ExecFile(ctx, "sleep", []string{"30"}, nil)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrTimeout) {
		t.Fatalf("want context.DeadlineExceeded, got %v", err)
	}
}

func TestStartErrors(t *testing.T) {
	dir := t.TempDir()
	noexec := filepath.Join(dir, "noexec")
	if err := os.WriteFile(noexec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	cases := []struct {
		name   string
		ctx    context.Context
		prog   string
		opts   *Options
		target error
	}{
		{"not found", t.Context(), "herd-no-such-program-xyz", nil, exec.ErrNotFound},
		{"no such path", t.Context(), "/nonexistent/prog", nil, fs.ErrNotExist},
		{"not executable", t.Context(), noexec, nil, fs.ErrPermission},
		{"bad dir", t.Context(), "true", &Options{Dir: filepath.Join(dir, "missing")}, fs.ErrNotExist},
		{"canceled ctx", canceled, "true", nil, context.Canceled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := ExecFile(c.ctx, c.prog, nil, c.opts)
			var se *StartError
			if !errors.As(err, &se) || !errors.Is(err, c.target) {
				t.Fatalf("want *StartError wrapping %v, got %T %v", c.target, err, err)
			}
			if res == nil || res.Pid != 0 {
				t.Fatalf("want an empty non-nil Result, got %+v", res)
			}
			if !strings.Contains(se.Error(), c.prog) {
				t.Fatalf("message %q lacks the command", se.Error())
			}
			p, err := Spawn(c.ctx, c.prog, nil, c.opts)
			if p != nil || !errors.As(err, &se) {
				t.Fatalf("Spawn: %v %v", p, err)
			}
		})
	}
	res, err := Exec(t.Context(), "true", &Options{Shell: "/nonexistent/sh"})
	var se *StartError
	if res == nil || !errors.As(err, &se) {
		t.Fatalf("bad shell: %v %v", res, err)
	}
}

func TestExecStdin(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	res, err := ExecFile(t.Context(), "cat", nil, &Options{Stdin: bytes.NewReader(big), MaxBuffer: -1})
	if err != nil || !bytes.Equal(res.Stdout, big) {
		t.Fatalf("err %v, %d of %d bytes back", err, len(res.Stdout), len(big))
	}

	// A nil Stdin is /dev/null, not the parent's stdin.
	res, err = Exec(t.Context(), "readlink /proc/self/fd/0", nil)
	if err != nil || string(res.Stdout) != "/dev/null\n" {
		t.Fatalf("err %v stdin %q", err, res.Stdout)
	}

	// An *os.File goes to the child as is.
	f, err := os.Open("/etc/hostname")
	if err != nil {
		t.Skip("this part needs a readable /etc/hostname:", err)
	}
	defer f.Close()
	res, err = Exec(t.Context(), "readlink /proc/self/fd/0", &Options{Stdin: f})
	if err != nil || string(res.Stdout) != "/etc/hostname\n" {
		t.Fatalf("err %v stdin %q", err, res.Stdout)
	}

	// A child that never reads its input does not hang us.
	start := time.Now()
	if _, err := ExecFile(t.Context(), "true", nil, &Options{Stdin: bytes.NewReader(big)}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestExecEnvAndDir(t *testing.T) {
	dir := t.TempDir()
	res, err := Exec(t.Context(), `pwd; echo "$FOO"; echo "${HOME-unset}"`, &Options{Dir: dir, Env: []string{"FOO=bar"}})
	if err != nil {
		t.Fatal(err)
	}
	real, _ := filepath.EvalSymlinks(dir)
	if want := real + "\nbar\nunset\n"; string(res.Stdout) != want {
		t.Fatalf("got %q, want %q", res.Stdout, want)
	}

	t.Setenv("HERD_CHILD_T", "inherited")
	res, err = Exec(t.Context(), `echo "$HERD_CHILD_T"`, nil)
	if err != nil || string(res.Stdout) != "inherited\n" {
		t.Fatalf("nil Env: err %v got %q", err, res.Stdout)
	}
}

func TestExitErrorMessages(t *testing.T) {
	cases := []struct {
		e    ExitError
		want string
	}{
		{ExitError{ExitStatus: ExitStatus{Code: 2}, Cmd: "x", Stderr: []byte("a\nboom \n\n")}, `child: "x" exited with code 2: boom`},
		{ExitError{ExitStatus: ExitStatus{Code: -1, Signal: syscall.SIGKILL}, Cmd: "x"}, `child: "x" killed by SIGKILL`},
		{ExitError{ExitStatus: ExitStatus{Code: -1, Signal: syscall.SIGTERM}, Cmd: "x", Killed: true, Reason: context.Canceled}, `child: "x" killed by SIGTERM (context canceled)`},
		{ExitError{Cmd: "x", Reason: ErrMaxBuffer}, `child: "x" exited with code 0 (output exceeded MaxBuffer)`},
	}
	for _, c := range cases {
		if got := c.e.Error(); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
	long := ExitError{ExitStatus: ExitStatus{Code: 1}, Cmd: "x", Stderr: bytes.Repeat([]byte("y"), 500)}
	if got := long.Error(); len(got) > 260 || !strings.HasSuffix(got, "...") {
		t.Errorf("long stderr not cut: %d bytes", len(got))
	}
}
