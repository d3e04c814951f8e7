package child

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

// helperEnv switches the test binary into a helper process (as os/exec's own
// tests do) instead of running the tests.
const helperEnv = "HERD_CHILD_TEST_HELPER"

func TestMain(m *testing.M) {
	Dispatch()
	if h := os.Getenv(helperEnv); h != "" {
		os.Exit(runHelper(h))
	}
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/herdrun/herd/child.startLoop"))
}

// runHelper runs the helper named h and returns the exit code.
func runHelper(h string) int {
	switch h {
	case "pdeathsig", "detached":
		ch := make(chan helperRes)
		go spawnOnDoomedThread(h == "detached", ch)
		r := <-ch
		if r.pid == 0 {
			return 1
		}
		// Make sure the locked thread is really gone.
		task := fmt.Sprintf("/proc/self/task/%d", r.tid)
		for i := 0; ; i++ {
			if _, err := os.Stat(task); os.IsNotExist(err) {
				break
			}
			if i == 500 {
				fmt.Fprintln(os.Stderr, "helper: locked thread did not exit")
				return 1
			}
			time.Sleep(10 * time.Millisecond)
		}
		fmt.Println(r.pid)
		time.Sleep(time.Hour)
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown helper", h)
	return 2
}

type helperRes struct{ pid, tid int }

// spawnOnDoomedThread locks its goroutine to a thread, spawns "sleep 60",
// sends the pid and returns without unlocking, so Go ends that thread. If
// children were forked from the calling thread, Pdeathsig would kill the
// grandchild right then. The main thread is never ended (Go parks it
// instead), so if this landed there, it holds it and tries again elsewhere.
func spawnOnDoomedThread(detached bool, ch chan<- helperRes) {
	runtime.LockOSThread()
	if unix.Gettid() == unix.Getpid() {
		go spawnOnDoomedThread(detached, ch)
		select {}
	}
	p, err := Spawn(context.Background(), "sleep", []string{"60"}, &Options{Detached: detached})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		ch <- helperRes{}
		return
	}
	ch <- helperRes{p.Pid, unix.Gettid()}
}

// helperCmd returns the test binary and the options that run helper h.
func helperCmd(t *testing.T, h string) (string, *Options) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe, &Options{Env: append(os.Environ(), helperEnv+"="+h)}
}

// gone reports whether pid no longer runs (absent, or a zombie).
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return true
	}
	st := s[i+2]
	return st == 'Z' || st == 'X'
}

// waitGone polls until pid is gone or d passes.
func waitGone(pid int, d time.Duration) bool {
	end := time.Now().Add(d)
	for {
		if gone(pid) {
			return true
		}
		if time.Now().After(end) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// killLater makes sure a test's stray process does not outlive the test.
func killLater(t *testing.T, pid int) {
	t.Cleanup(func() {
		if !gone(pid) {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
	})
}

func atoiLine(t *testing.T, b []byte) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("want a pid, got %q", b)
	}
	return n
}

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// countChildren counts this process's children, zombies included.
func countChildren(t *testing.T) int {
	t.Helper()
	files, err := filepath.Glob("/proc/self/task/*/children")
	if err != nil || len(files) == 0 {
		t.Fatalf("no /proc/self/task/*/children: %v", err)
	}
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread just exited
		}
		n += len(strings.Fields(string(b)))
	}
	return n
}

// syncBuffer is a bytes.Buffer safe for the copier and the test.
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
