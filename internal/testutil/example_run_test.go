package testutil

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestStartRun(t *testing.T) {
	errStopped := errors.New("stopped")
	run := func(ctx context.Context, stdout io.Writer, getenv func(string) string) error {
		fmt.Fprintf(stdout, "listening on %s\nmore\n", getenv("ADDR"))
		<-ctx.Done()
		return errStopped
	}
	rest, out, stop := StartRun(t, run, map[string]string{"ADDR": "http://x"}, "listening on ")
	if rest != "http://x" {
		t.Errorf("rest = %q, want http://x", rest)
	}
	if err := stop(); !errors.Is(err, errStopped) {
		t.Errorf("stop = %v, want run's error", err)
	}
	if err := stop(); !errors.Is(err, errStopped) {
		t.Errorf("second stop = %v, want run's error again", err)
	}
	if !strings.Contains(out.String(), "more\n") {
		t.Errorf("output %q lacks the second line", out.String())
	}
}

func TestSignalWait(t *testing.T) {
	cmd := exec.Command("sh", "-c", "echo up; exec sleep 60")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	lines := make(chan string, 10)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	if l := <-lines; l != "up" {
		t.Fatalf("first line %q", l)
	}
	err = SignalWait(t, cmd, syscall.SIGTERM, lines, time.Minute)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Fatalf("SignalWait = %v, want death by SIGTERM", err)
	}
}
