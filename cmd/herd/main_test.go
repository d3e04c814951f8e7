package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/internal/testutil"
	"go.uber.org/goleak"
)

// herdBin is the herd binary built from this package for the tests.
var herdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "herd-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	herdBin = filepath.Join(dir, "herd")
	build := exec.Command("go", "build", "-o", herdBin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(testutil.IgnoreChildStarter()); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// herdRun is one run of the herd binary.
type herdRun struct {
	p      *child.Process
	stdout testutil.SyncBuffer
	stderr testutil.SyncBuffer
}

// startHerd starts the herd binary with args and extra environment. The
// process is killed when the test ends, if still running.
func startHerd(t *testing.T, env []string, args ...string) *herdRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	h := &herdRun{}
	p, err := child.Spawn(ctx, herdBin, args, &child.Options{
		Env:       append(os.Environ(), env...),
		Stdin:     strings.NewReader(""),
		Stdout:    &h.stdout,
		Stderr:    &h.stderr,
		KillGrace: -1,
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	h.p = p
	t.Cleanup(func() {
		cancel()
		p.Wait()
	})
	return h
}

// wait waits for herd to exit and returns its exit status.
func (h *herdRun) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-h.p.Done():
	case <-time.After(60 * time.Second):
		t.Fatalf("herd did not exit\nstdout:\n%s\nstderr:\n%s", h.stdout.String(), h.stderr.String())
	}
	err := h.p.Wait()
	var ee *child.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee) && ee.Signal == 0:
		return ee.Code
	}
	t.Fatalf("herd: %v", err)
	return -1
}

// runHerd runs herd to completion and returns its status, stdout and stderr.
func runHerd(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	h := startHerd(t, env, args...)
	code := h.wait(t)
	return code, h.stdout.String(), h.stderr.String()
}
