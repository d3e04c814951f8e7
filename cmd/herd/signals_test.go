package main

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/loadgen"
	"github.com/herdrun/herd/internal/testutil"
)

// readyLine is herd's log line for an instance that became ready.
var readyLine = regexp.MustCompile(`instance ready instance=(\d+) pid=(\d+)`)

// readyPIDs returns, for every instance number, the pids that became ready
// in it, in order.
func readyPIDs(out string) map[int][]int {
	m := map[int][]int{}
	for _, sm := range readyLine.FindAllStringSubmatch(out, -1) {
		slot, _ := strconv.Atoi(sm[1])
		pid, _ := strconv.Atoi(sm[2])
		m[slot] = append(m[slot], pid)
	}
	return m
}

// reaped reports whether pid, once a child of parent, is no longer its child
// (not even a zombie) and no process is left in its process group (every
// instance leads a group of its own, so nothing it started is orphaned).
func reaped(t *testing.T, parent, pid int) bool {
	t.Helper()
	return !slices.Contains(testutil.AllChildrenOf(t, parent), pid) && testutil.GroupGone(pid)
}

// sendSignal sends sig to herd and fails the test if it cannot.
func sendSignal(t *testing.T, h *herdRun, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(h.p.Pid, sig); err != nil {
		t.Fatalf("kill %v: %v", sig, err)
	}
}

// answers fetches / n times and returns the bodies by count; it fails the
// test on any error or non-200 answer.
func answers(t *testing.T, port, n int) map[string]int {
	t.Helper()
	bodies := map[string]int{}
	for range n {
		code, body, err := testutil.Get(context.Background(), "http://127.0.0.1:"+strconv.Itoa(port)+"/")
		if err != nil || code != 200 {
			t.Fatalf("GET = %d %q %v", code, body, err)
		}
		bodies[body]++
	}
	return bodies
}

// TestRunScaleSignals drives a cluster-mode app with SIGTTIN and SIGTTOU
// under load: SIGTTIN adds instance 2, which serves; each SIGTTOU drains the
// highest instance, whose process is reaped with nothing left of its group,
// without failing a request; SIGTTOU at one instance logs a warning and
// keeps it; SIGTERM then stops herd with status 0 and no process left.
func TestRunScaleSignals(t *testing.T) {
	testutil.RequireNode(t)
	port := testutil.FreePort(t)
	h := startHerd(t, []string{"NO_COLOR=1"}, "run", "-i", "2", "--host", "127.0.0.1", "-p", strconv.Itoa(port),
		"--name", "web", "--kill-timeout", "5s", "--", "node", writeApp(t, helloApp))
	waitOut(t, h, "cluster: ready", 1)
	herd := h.p.Pid
	seen := map[int]bool{}
	for _, k := range testutil.ChildrenOf(t, herd) {
		seen[k] = true
	}
	if len(seen) != 2 {
		t.Fatalf("%d instances at start, want 2: %v", len(seen), seen)
	}

	// Load runs through every scaling step; no request may fail.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var res loadgen.Result
	var wg sync.WaitGroup
	wg.Go(func() {
		res = loadgen.Run(ctx, loadgen.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), Conns: 4, Duration: 60 * time.Second, Timeout: 20 * time.Second, CountBodies: true})
	})

	sendSignal(t, h, syscall.SIGTTIN)
	waitOut(t, h, "web | cluster: SIGTTIN: scaled up workers=3", 1)
	waitOut(t, h, "instance ready instance=2 pid=", 1)
	testutil.WaitFor(t, "3 instances", func() bool { return len(testutil.ChildrenOf(t, herd)) == 3 })
	for _, k := range testutil.ChildrenOf(t, herd) {
		seen[k] = true
	}
	pids := readyPIDs(h.stdout.String())
	if len(pids[2]) != 1 || !seen[pids[2][0]] {
		t.Fatalf("instance 2: ready pids %v, herd's children %v", pids[2], testutil.ChildrenOf(t, herd))
	}
	third := pids[2][0]
	// The new instance takes connections from the shared socket.
	testutil.WaitFor(t, "instance 2 to answer", func() bool { return answers(t, port, 10)["hello 2"] > 0 })

	sendSignal(t, h, syscall.SIGTTOU)
	waitOut(t, h, "web | cluster: SIGTTOU: scaled down workers=2", 1)
	testutil.WaitFor(t, "instance 2 (the highest) to be reaped", func() bool { return reaped(t, herd, third) })
	second := pids[1][0]
	if testutil.Gone(second) || testutil.Gone(pids[0][0]) {
		t.Fatalf("SIGTTOU stopped instance 0 or 1 instead of 2")
	}

	sendSignal(t, h, syscall.SIGTTOU)
	waitOut(t, h, "web | cluster: SIGTTOU: scaled down workers=1", 1)
	testutil.WaitFor(t, "instance 1 to be reaped", func() bool { return reaped(t, herd, second) })
	first := pids[0][0]
	if kids := testutil.ChildrenOf(t, herd); len(kids) != 1 || kids[0] != first {
		t.Fatalf("children after 2× SIGTTOU: %v, want [%d] (instance 0)", kids, first)
	}

	// At one instance SIGTTOU warns and keeps it: herd never scales to 0.
	sendSignal(t, h, syscall.SIGTTOU)
	waitOut(t, h, "WARN cluster: SIGTTOU: already at 1 worker", 1)
	time.Sleep(300 * time.Millisecond) // a wrong scale-down would have begun by now
	if kids := testutil.AllChildrenOf(t, herd); len(kids) != 1 || kids[0] != first || testutil.Gone(first) {
		t.Fatalf("children after SIGTTOU at 1 instance: %v, want [%d] running", kids, first)
	}
	if bodies := answers(t, port, 5); bodies["hello 0"] != 5 {
		t.Fatalf("answers at 1 instance: %v, want only instance 0", bodies)
	}

	cancel()
	wg.Wait()
	t.Logf("load through SIGTTIN and 3× SIGTTOU: %d ok, %d failed, by body %v", res.OK, res.Failed, res.Bodies)
	if res.Failed != 0 || res.OK == 0 {
		t.Errorf("%d ok, %d failed: %v", res.OK, res.Failed, res.Errors)
	}

	sendSignal(t, h, syscall.SIGTERM)
	if code := h.wait(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM\n%s", code, h.stderr.String())
	}
	if len(seen) != 3 {
		t.Errorf("%d instance processes seen, want 3: %v", len(seen), seen)
	}
	for k := range seen {
		if !testutil.GroupGone(k) {
			t.Errorf("process group %d still has processes", k)
		}
	}
	if strings.Contains(h.stdout.String(), "respawning") {
		t.Errorf("an instance was respawned (a scale-down counted as a crash?):\n%s", h.stdout.String())
	}
}

// TestRunForkModeScaleSignals: in fork mode SIGTTIN starts instance 2 with
// HERD_INSTANCE=2, SIGTTOU stops that one (not 0 or 1) and reaps it, and the
// next SIGTTIN fills instance 2 again with a new process.
func TestRunForkModeScaleSignals(t *testing.T) {
	h := startHerd(t, []string{"NO_COLOR=1"}, "run", "-i", "2", "--name", "job", "--",
		"sh", "-c", `echo "instance $HERD_INSTANCE/$NODE_APP_INSTANCE pid $$"; exec sleep 60`)
	herd := h.p.Pid
	pidLine := regexp.MustCompile(`job\[(\d+)\] \| instance (\d+)/(\d+) pid (\d+)`)
	// started returns the pids that printed their instance line, by the
	// prefix's instance number, after checking that the prefix and both
	// variables agree.
	started := func() map[int][]int {
		m := map[int][]int{}
		for _, sm := range pidLine.FindAllStringSubmatch(h.stdout.String(), -1) {
			if sm[1] != sm[2] || sm[2] != sm[3] {
				t.Errorf("instance line %q: prefix, HERD_INSTANCE and NODE_APP_INSTANCE differ", sm[0])
			}
			n, _ := strconv.Atoi(sm[1])
			pid, _ := strconv.Atoi(sm[4])
			m[n] = append(m[n], pid)
		}
		return m
	}
	waitOut(t, h, "job[0] | instance 0/0 pid ", 1)
	waitOut(t, h, "job[1] | instance 1/1 pid ", 1)

	sendSignal(t, h, syscall.SIGTTIN)
	waitOut(t, h, "job[2] | instance 2/2 pid ", 1)
	testutil.WaitFor(t, "3 instances", func() bool { return len(testutil.ChildrenOf(t, herd)) == 3 })
	pids := started()
	if len(pids[0]) != 1 || len(pids[1]) != 1 || len(pids[2]) != 1 {
		t.Fatalf("instances started: %v, want one each of 0, 1, 2", pids)
	}
	for n, ps := range pids {
		if !slices.Contains(instancePids(t, herd), ps[0]) {
			t.Errorf("instance %d (pid %d) is not herd's instance: %v", n, ps[0], instancePids(t, herd))
		}
	}

	sendSignal(t, h, syscall.SIGTTOU)
	waitOut(t, h, "cluster: SIGTTOU: scaled down workers=2", 1)
	testutil.WaitFor(t, "instance 2 to be reaped", func() bool { return reaped(t, herd, pids[2][0]) })
	if testutil.Gone(pids[0][0]) || testutil.Gone(pids[1][0]) {
		t.Fatal("SIGTTOU stopped instance 0 or 1 instead of 2")
	}

	sendSignal(t, h, syscall.SIGTTIN)
	waitOut(t, h, "job[2] | instance 2/2 pid ", 2)
	again := started()[2]
	if len(again) != 2 || again[1] == again[0] {
		t.Fatalf("instance 2 pids %v: want a second, new process", again)
	}
	// The old instance 2's guard ends a moment after its program (a loaded
	// machine may take a while): wait for herd's instances to be exactly
	// 0, 1 and the new 2.
	want := []int{pids[0][0], pids[1][0], again[1]}
	slices.Sort(want)
	testutil.WaitFor(t, fmt.Sprintf("herd's instances to be %v", want), func() bool {
		kids := instancePids(t, herd)
		slices.Sort(kids)
		return slices.Equal(kids, want)
	})

	sendSignal(t, h, syscall.SIGTERM)
	if code := h.wait(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM\n%s", code, h.stderr.String())
	}
	for _, k := range append(want, pids[2][0]) {
		if !testutil.GroupGone(k) {
			t.Errorf("process group %d still has processes", k)
		}
	}
}

// An app that cleans up on SIGTERM, as PM2's docs show, and says so.
const sigtermCleanupApp = `const http = require('http');
const s = http.createServer((req, res) => res.end('ok'));
s.listen(Number(process.env.PORT));
process.on('SIGTERM', () => { console.log('cleanup ran ' + process.pid); s.close(() => process.exit(0)); });
`

// GNU timeout and systemd (KillMode=control-group) send SIGTERM to herd and
// to its process group at once, so herd gets it twice. 20 runs, the second
// signal back to back with the first or 50ms after it: every one is a
// graceful stop (each instance's own SIGTERM handler runs, herd exits 0),
// never the forced stop of a deliberate second signal.
func TestRunDuplicateSIGTERMIsGraceful(t *testing.T) {
	testutil.RequireNode(t)
	app := writeApp(t, sigtermCleanupApp)
	for i := range 20 {
		port := strconv.Itoa(testutil.FreePort(t))
		h := startHerd(t, []string{"NO_COLOR=1"}, "run", "-i", "2", "--host", "127.0.0.1", "-p", port, "--ready", "listen", "--", "node", app)
		waitOut(t, h, "cluster: ready workers=2", 1)
		// herd leads its own process group (child.Spawn): as timeout
		// does, signal the process, then the group.
		pgid, err := syscall.Getpgid(h.p.Pid)
		if err != nil || pgid != h.p.Pid {
			t.Fatalf("herd's process group %d (%v), want its pid %d", pgid, err, h.p.Pid)
		}
		syscall.Kill(h.p.Pid, syscall.SIGTERM)
		if i%2 == 1 {
			time.Sleep(50 * time.Millisecond)
		}
		syscall.Kill(-pgid, syscall.SIGTERM)
		code := h.wait(t)
		out := h.stdout.String()
		if code != 0 || strings.Contains(out, "killing the workers now") || strings.Count(out, "cleanup ran") != 2 {
			t.Fatalf("run %d: exit %d, want 0 with 2 cleanups and no forced stop\nstdout:\n%s\nstderr:\n%s", i, code, out, h.stderr.String())
		}
	}
}
