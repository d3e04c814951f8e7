package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
	"github.com/herdrun/herd/ipc"
)

// runGraceful is a Go program that handles SIGTERM itself: it serves on fd
// 3 until the signal, then opens /dev/null every 5ms until it can, and
// prints how many opens failed with EMFILE and when one succeeded.
func runGraceful() int {
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGTERM)
	ln, err := netFileListener(os.NewFile(3, "listener"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "graceful:", err)
		return 3
	}
	conn, err := ipc.FromEnv(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "graceful:", err)
		return 3
	}
	go http.Serve(ln, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(rw, "graceful %d", os.Getpid())
	}))
	_ = conn.Send(context.Background(), "ready")
	<-sigc
	start, emfile := time.Now(), 0
	for time.Since(start) < 10*time.Second {
		f, err := os.Open(os.DevNull)
		if err == nil {
			f.Close()
			fmt.Printf("emfile=%d reopened_after=%dms\n", emfile, time.Since(start).Milliseconds())
			return 0
		}
		if !errors.Is(err, syscall.EMFILE) {
			fmt.Println("open:", err)
			return 4
		}
		emfile++
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Println("no descriptor for 10s")
	return 5
}

var reopened = regexp.MustCompile(`emfile=(\d+) reopened_after=(\d+)ms`)

// A Go program that handles SIGTERM is clamped like one that does not
// (its first opens after the signal fail with EMFILE, so no accept can
// take a connection), and gets its descriptors back once it has shown
// that it lives on: within clampMax, and it exits 0 after its own drain.
func TestAcceptClampReleasedForAHandler(t *testing.T) {
	var out testutil.SyncBuffer
	lw := newLogWatch(t)
	rec := newRecorder()
	c := New(Config{
		Workers:   1,
		Listen:    []Addr{{Address: "127.0.0.1:0"}},
		Command:   []string{os.Args[0]},
		Env:       []string{envGraceful + "=1"},
		NoSignals: true,
		Logger:    lw.logger(),
		OnEvent:   rec.add,
		Output:    func(id, slot int) (io.Writer, io.Writer) { return &out, nil },
	}, nil)
	defer startReady(t, c, 3*testutil.WaitTimeout, 30*time.Second, rec)()

	ctx, cancel := context.WithTimeout(context.Background(), 3*testutil.WaitTimeout)
	defer cancel()
	if err := c.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	evs := rec.wait(t, "the old worker's exit", 3*testutil.WaitTimeout, func(evs []Event) bool {
		return count(evs, func(e Event) bool { return e.Kind == EventExit }) == 1
	})
	for _, e := range evs {
		if e.Kind == EventExit && (e.Status.Code != 0 || e.Status.Signal != 0) {
			t.Errorf("the old worker %s, want exit 0", e.Status)
		}
	}
	m := reopened.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no report from the old worker: %q", out.String())
	}
	failed, _ := strconv.Atoi(m[1])
	after, _ := strconv.Atoi(m[2])
	if failed == 0 || time.Duration(after)*time.Millisecond > clampMax+time.Second {
		t.Errorf("%d opens failed, the first good one after %dms; want some failed (clamped), and released within %v", failed, after, clampMax)
	}
	if lw.count("accept_clamped=1") != 1 {
		t.Errorf("the log does not say the worker was clamped")
	}
	t.Logf("clamp: %d opens failed, released after %dms", failed, after)
}

// isGoProgram tells a Go binary (this test) from a C one (a shell), and
// readSigState reads a live process's caught signals and says a gone one
// is gone.
func TestClampHelpers(t *testing.T) {
	if !isGoProgram(os.Getpid()) {
		t.Error("isGoProgram(this test) = false")
	}
	cmd := exec.Command("/bin/sh", "-c", "read x")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if isGoProgram(cmd.Process.Pid) {
		t.Error("isGoProgram(/bin/sh) = true")
	}
	stdin.Close()
	cmd.Wait()
	if _, ok := readSigState(cmd.Process.Pid); ok {
		t.Error("readSigState of a reaped process says it is there")
	}
	// This process catches SIGTERM once it asks for it (Go's runtime
	// catches it always).
	st, ok := readSigState(os.Getpid())
	if !ok || st.caught&sigBit(syscall.SIGTERM) == 0 {
		t.Errorf("readSigState(self) = %+v, %v; want SIGTERM caught", st, ok)
	}
}
