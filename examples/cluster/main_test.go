package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

// TestExample builds the example, runs it on a free port, and checks that
// one worker per CPU answers with its pid, that a killed worker is replaced,
// and that SIGTERM stops it cleanly.
func TestExample(t *testing.T) {
	exe := testutil.BuildGo(t.Context(), t, ".")
	port := strconv.Itoa(testutil.FreePort(t))

	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "PORT="+port, "HOST=127.0.0.1")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	serving := regexp.MustCompile(`worker \d+ \(pid (\d+)\) is serving`)
	waitServing := func(n int) []int {
		t.Helper()
		var pids []int
		deadline := time.After(20 * time.Second)
		for len(pids) < n {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatal("example exited")
				}
				t.Log(l)
				if m := serving.FindStringSubmatch(l); m != nil {
					pid, _ := strconv.Atoi(m[1])
					pids = append(pids, pid)
				}
			case <-deadline:
				t.Fatalf("only %d of %d workers serving after 20s", len(pids), n)
			}
		}
		return pids
	}
	pids := waitServing(runtime.NumCPU())
	url := "http://127.0.0.1:" + port + "/"
	body := testutil.GetOK(t, url)
	if !strings.HasPrefix(body, "Handled by worker ") {
		t.Fatalf("body %q", body)
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	repl := waitServing(1)
	if repl[0] == pids[0] {
		t.Fatal("replacement has the dead worker's pid")
	}
	for range 20 {
		if b := testutil.GetOK(t, url); b == fmt.Sprintf("Handled by worker %d\n", pids[0]) {
			t.Fatal("dead worker answered")
		}
	}
	if err := testutil.SignalWait(t, cmd, syscall.SIGTERM, lines, 20*time.Second); err != nil {
		t.Fatalf("exit: %v", err)
	}
}
