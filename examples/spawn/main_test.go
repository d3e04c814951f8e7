package main

import (
	"bytes"
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/herdrun/herd/internal/testutil"
)

func TestMain(m *testing.M) {
	testutil.VerifyTestMain(m)
}

// lines splits the output into lines from stdout and from stderr, in order,
// and everything else.
func lines(out string) (stdout, stderr, other []string) {
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		switch {
		case strings.HasPrefix(l, "stdout: "):
			stdout = append(stdout, strings.TrimPrefix(l, "stdout: "))
		case strings.HasPrefix(l, "stderr: "):
			stderr = append(stderr, strings.TrimPrefix(l, "stderr: "))
		default:
			other = append(other, l)
		}
	}
	return
}

func TestRunDefault(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out, defaultCommand); err != nil {
		t.Fatalf("run: %v", err)
	}
	stdout, stderr, other := lines(out.String())
	want := []string{"tick 1", "tick 2", "tick 3", "tick 4", "tick 5"}
	if !slices.Equal(stdout, want) {
		t.Errorf("stdout lines = %q, want %q", stdout, want)
	}
	if !slices.Equal(stderr, []string{"done ticking"}) {
		t.Errorf("stderr lines = %q, want [done ticking]", stderr)
	}
	// The exit report comes last, after every line.
	if !slices.Equal(other, []string{"child process exited with code 0"}) {
		t.Errorf("other lines = %q", other)
	}
	if !strings.HasSuffix(out.String(), "child process exited with code 0\n") {
		t.Errorf("exit report is not last:\n%s", out.String())
	}
}

func TestRunExitCode(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), &out, []string{"sh", "-c", "echo one; echo two; exit 3"})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if got, want := out.String(), "stdout: one\nstdout: two\nchild process exited with code 3\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
}

func TestRunPing(t *testing.T) {
	if _, err := exec.LookPath("ping"); err != nil {
		t.Skip("ping is not in PATH; install it (apt-get install iputils-ping)")
	}
	var out bytes.Buffer
	if err := run(context.Background(), &out, []string{"ping", "-c", "2", "-i", "0.2", "127.0.0.1"}); err != nil {
		t.Fatalf("run: %v", err)
	}
	stdout, _, other := lines(out.String())
	if len(stdout) < 3 || !slices.Equal(other, []string{"child process exited with code 0"}) {
		// An unprivileged ping may be refused by the sandbox: then it says so and exits non-zero.
		t.Skipf("ping is not allowed to run here (an unprivileged ping needs net.ipv4.ping_group_range to include this group, or cap_net_raw): sysctl -w net.ipv4.ping_group_range='0 2147483647'\n%s", out.String())
	}
}

func TestRunCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out syncWriter
	out.onLine = func(l string) {
		if l == "stdout: started" {
			cancel()
		}
	}
	err := run(ctx, &out, []string{"sh", "-c", "echo started; sleep 60; echo late"})
	cancel()
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if got, want := out.String(), "stdout: started\nchild process killed by SIGTERM\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
}

func TestRunNotFound(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out, []string{"no-such-program-herd"}); err == nil {
		t.Fatal("run of a missing program succeeded")
	}
	if err := run(context.Background(), &out, nil); err == nil {
		t.Fatal("run of no command succeeded")
	}
}

// syncWriter collects output and calls onLine for each complete line.
type syncWriter struct {
	bytes.Buffer
	onLine func(string)
}

func (w *syncWriter) Write(p []byte) (int, error) {
	n, err := w.Buffer.Write(p)
	for _, l := range strings.SplitAfter(string(p), "\n") {
		if strings.HasSuffix(l, "\n") && w.onLine != nil {
			w.onLine(strings.TrimSuffix(l, "\n"))
		}
	}
	return n, err
}
