package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/herdrun/herd/child"
	"go.uber.org/goleak"
)

// herdBin is the herd binary built from this package for the tests.
var herdBin string

var goleakOpts = []goleak.Option{goleak.IgnoreTopFunction("github.com/herdrun/herd/child.startLoop")}

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
		if err := goleak.Find(goleakOpts...); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// syncBuffer is a buffer that one goroutine writes while another reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// herdRun is one run of the herd binary.
type herdRun struct {
	p      *child.Process
	stdout syncBuffer
	stderr syncBuffer
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

// waitFor polls cond every 5ms until it holds or 20s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// gone reports whether pid no longer runs (absent, or a zombie).
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z' || s[i+2] == 'X'
}

// groupGone reports whether no process is left in process group pgid.
func groupGone(pgid int) bool {
	return errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH)
}

// childrenOf returns the pids of pid's live children.
func childrenOf(pid int) []int {
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var pids []int
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, w := range strings.Fields(string(b)) {
			var c int
			fmt.Sscan(w, &c)
			if !gone(c) {
				pids = append(pids, c)
			}
		}
	}
	return pids
}

var client = &http.Client{
	Transport: &http.Transport{DisableKeepAlives: true},
	Timeout:   60 * time.Second, // a hung server fails the test instead of hanging it
}

// get fetches url and returns the status and body.
func get(ctx context.Context, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}
