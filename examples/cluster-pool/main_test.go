package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/internal/testutil"
)

func TestMain(m *testing.M) {
	child.Dispatch()
	testutil.VerifyTestMain(m)
}

// TestExample builds the example and runs it for real with two cluster
// workers of one pool worker each: / answers from a cluster worker, /heavy
// from its pool, every cluster worker has its own pool worker processes, and
// SIGTERM stops the whole tree cleanly, leaving no process behind.
func TestExample(t *testing.T) {
	exe := testutil.BuildGo(t.Context(), t, ".")
	port := strconv.Itoa(testutil.FreePort(t))
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "PORT="+port, "HOST=127.0.0.1",
		"WORKERS=2", "POOL_SIZE=1", "HERD_DEMO_LIMIT=1000")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	primary := cmd.Process.Pid
	// Collect the log; flag any unexpected or unclean worker exit.
	lines := make(chan string, 100)
	scanned := make(chan struct{})
	var mu sync.Mutex
	var bad []string
	defer func() {
		// After a failure: the primary's death takes its workers
		// (Pdeathsig), which closes the log so the reader can end.
		cmd.Process.Kill()
		select {
		case <-scanned:
		case <-time.After(20 * time.Second):
		}
		cmd.Wait()
	}()
	go func() {
		defer close(scanned)
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			l := sc.Text()
			t.Log(l)
			if strings.Contains(l, "died") || strings.Contains(l, "cleanly") || strings.Contains(l, "cluster worker") {
				mu.Lock()
				bad = append(bad, l)
				mu.Unlock()
			}
			select {
			case lines <- l:
			default:
			}
		}
	}()
	serving := regexp.MustCompile(`worker \d+ \(pid (\d+)\) is serving`)
	var workerPIDs []int
	deadline := time.After(20 * time.Second)
	for len(workerPIDs) < 2 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("example exited")
			}
			if m := serving.FindStringSubmatch(l); m != nil {
				pid, _ := strconv.Atoi(m[1])
				workerPIDs = append(workerPIDs, pid)
			}
		case <-deadline:
			t.Fatalf("%d of 2 workers serving after 20s", len(workerPIDs))
		}
	}

	base := "http://127.0.0.1:" + port
	body := testutil.GetOK(t, base+"/")
	var pid int
	if _, err := fmt.Sscanf(body, "Handled by worker %d\n", &pid); err != nil || !slices.Contains(workerPIDs, pid) {
		t.Fatalf("GET / = %q; want a cluster worker among %v", body, workerPIDs)
	}
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// 42 * (0 + 1 + ... + 999), as node prints it.
			if got := testutil.GetOK(t, base+"/heavy"); got != "Result is 20979000\n" {
				t.Errorf("GET /heavy = %q", got)
			}
		}()
	}
	wg.Wait()

	// The process tree: primary → 2 cluster workers → a pool worker each.
	tree := waitTree(t, primary, workerPIDs)

	if err := testutil.SignalWait(t, cmd, syscall.SIGTERM, lines, 40*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	mu.Lock()
	if len(bad) > 0 {
		t.Errorf("unclean worker exits: %q", bad)
	}
	mu.Unlock()
	waitGone(t, tree)
}

// TestBadEnv checks that run refuses bad settings before starting anything.
func TestBadEnv(t *testing.T) {
	for _, env := range []map[string]string{
		{"PORT": "http"}, {"WORKERS": "0"}, {"POOL_SIZE": "x"}, {"HERD_DEMO_LIMIT": "-1"},
	} {
		err := run(context.Background(), func(k string) string { return env[k] }, nil)
		if err == nil {
			t.Errorf("%v: no error", env)
		}
	}
}

func TestParseSettings(t *testing.T) {
	s, err := parseSettings(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if s != (settings{addr: ":3000", poolN: 2, limit: 1e8}) {
		t.Fatalf("defaults: %+v", s)
	}
}

// proc is a process seen in /proc: its start time tells it apart from a
// later process that reuses its pid.
type proc struct {
	pid, ppid int
	start     string
}

// readProc reads /proc/<pid>/stat; ok is false if the process is gone or
// is a zombie.
func readProc(pid int) (p proc, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return p, false
	}
	// Fields after the command name, which is in parentheses: state ppid ...
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return p, false
	}
	p.pid = pid
	p.ppid, _ = strconv.Atoi(f[1])
	p.start = f[19] // starttime, field 22 of stat
	return p, true
}

// children returns the live children of pid.
func children(t *testing.T, pid int) []proc {
	t.Helper()
	var out []proc
	for _, c := range testutil.ChildrenOf(t, pid) {
		if p, ok := readProc(c); ok && p.ppid == pid {
			out = append(out, p)
		}
	}
	return out
}

// waitTree waits until the primary's children are exactly the cluster
// workers and each has exactly one child, its pool worker, and returns all
// of them.
func waitTree(t *testing.T, primary int, workerPIDs []int) []proc {
	t.Helper()
	var desc string
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		var tree []proc
		kids := children(t, primary)
		ok := len(kids) == len(workerPIDs)
		desc = fmt.Sprintf("primary %d: children %v", primary, kids)
		for _, k := range kids {
			ok = ok && slices.Contains(workerPIDs, k.pid)
			pool := children(t, k.pid)
			desc += fmt.Sprintf("; worker %d: children %v", k.pid, pool)
			ok = ok && len(pool) == 1
			tree = append(append(tree, k), pool...)
		}
		if ok {
			return tree
		}
	}
	t.Fatalf("process tree not as expected after 20s: %s", desc)
	return nil
}

// waitGone waits until every process of tree has exited.
func waitGone(t *testing.T, tree []proc) {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var left []int
		for _, p := range tree {
			if q, ok := readProc(p.pid); ok && q.start == p.start {
				left = append(left, p.pid)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(end) {
			for _, pid := range left {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			t.Fatalf("processes left behind after the primary exited: %v", left)
		}
	}
}
