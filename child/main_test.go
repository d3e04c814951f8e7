package child

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
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
	testutil.VerifyTestMain(m)
}

// runHelper runs the helper named h and returns the exit code.
func runHelper(h string) int {
	switch h {
	case "reexec":
		code := 1
		if err := ServeStarts(func() { code = reexecHelper() }); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
		}
		return code
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

// killLater makes sure a test's stray process does not outlive the test.
func killLater(t *testing.T, pid int) {
	t.Cleanup(func() {
		if !testutil.Gone(pid) {
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
