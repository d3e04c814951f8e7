package cluster

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/loadgen"
	"github.com/herdrun/herd/internal/testutil"
)

// load runs loadgen against addr in the background until stop is called,
// which returns the result.
func load(addr string, o loadgen.Options) (stop func() loadgen.Result) {
	o.Addr = addr
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan loadgen.Result, 1)
	go func() { done <- loadgen.Run(ctx, o) }()
	return func() loadgen.Result {
		cancel()
		return <-done
	}
}

// TestRollingReloadUnderLoad: five rolling reloads (SIGHUP) under constant
// new-connection load lose no request, the primary keeps its pid, and the
// last reload runs the binary as replaced on disk.
func TestRollingReloadUnderLoad(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "server")
	orig := filepath.Join(dir, "server-v1")
	copyFile(t, os.Args[0], orig)
	copyFile(t, os.Args[0], exe)
	p := startPrimaryExe(t, exe, "hello", false)
	pid := p.cmd.Process.Pid

	stop := load(p.addr, loadgen.Options{Conns: 8, CountBodies: true})
	for i := 1; i <= 5; i++ {
		if i == 5 {
			// Deploy: replace the binary on disk, then reload.
			script := fmt.Sprintf("#!/bin/sh\nHERD_TEST_VERSION=2 exec %s \"$@\"\n", orig)
			tmp := filepath.Join(dir, "server.new")
			if err := os.WriteFile(tmp, []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, exe); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(300 * time.Millisecond)
		p.signal(syscall.SIGHUP)
		p.waitEv(fmt.Sprintf("reload %d", i), 30*time.Second, func(evs []ev) bool {
			return countEv(evs, func(e ev) bool { return e.Kind == "exit" && e.Reason == "reload" }) == 2*i
		})
	}
	time.Sleep(300 * time.Millisecond)
	res := stop()
	if res.Failed != 0 || res.OK < 100 {
		t.Fatalf("5 reloads under load: %d ok, %d failed %v", res.OK, res.Failed, res.Errors)
	}
	t.Logf("5 reloads under load: %d requests, 0 failed, served by %d worker processes", res.OK, len(res.Bodies))
	evs := p.events()
	if n := countEv(evs, func(e ev) bool { return e.Kind == "fork" }); n != 12 {
		t.Fatalf("%d forks, want 2 + 5*2", n)
	}
	if n := countEv(evs, func(e ev) bool { return e.Kind == "exit" && (!e.Expected || e.Code != 0) }); n != 0 {
		t.Fatalf("%d unexpected or failed exits", n)
	}
	for range 10 {
		body, err := get("http://" + p.addr + "/version")
		if err != nil || !strings.HasPrefix(body, "v2 ") {
			t.Fatalf("after deploy: %q %v, want v2", body, err)
		}
	}
	if p.cmd.Process.Pid != pid || testutil.Gone(pid) {
		t.Fatal("primary pid changed")
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(20 * time.Second); code != 0 {
		t.Fatalf("primary exit code %d", code)
	}
}

// TestSIGTERMUnderLoad: every request a worker accepted before SIGTERM
// completes; then the primary exits 0 and no worker is left.
func TestSIGTERMUnderLoad(t *testing.T) {
	p := startPrimary(t, "hello", false)
	stop := load(p.addr, loadgen.Options{Conns: 4})
	const inflight = 16
	var wg sync.WaitGroup
	var ok, failed atomic.Int64
	var errs sync.Map
	for range inflight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body, err := get("http://" + p.addr + "/slow?ms=800")
			if err == nil && strings.HasPrefix(body, "slow ") {
				ok.Add(1)
				return
			}
			failed.Add(1)
			errs.Store(fmt.Sprint(err), body)
		}()
	}
	time.Sleep(400 * time.Millisecond) // all 16 are in their handlers now
	pids := livePIDs(p.events())
	start := time.Now()
	p.signal(syscall.SIGTERM)
	wg.Wait()
	res := stop()
	if code := p.wait(20 * time.Second); code != 0 {
		t.Fatalf("primary exit code %d", code)
	}
	took := time.Since(start)
	if ok.Load() != inflight {
		var es []string
		errs.Range(func(k, v any) bool { es = append(es, fmt.Sprint(k, v)); return true })
		t.Fatalf("%d of %d in-flight requests completed: %v", ok.Load(), inflight, es)
	}
	for _, pid := range pids {
		if !testutil.Gone(pid) {
			t.Fatalf("worker %d still alive after the primary exited", pid)
		}
	}
	evs := p.events()
	if n := countEv(evs, func(e ev) bool { return e.Kind == "exit" && e.Expected && e.Code == 0 && e.Reason == "SIGTERM" }); n != 2 {
		t.Fatalf("%d clean SIGTERM exits, want 2", n)
	}
	t.Logf("SIGTERM: %d/%d in-flight requests completed, stop took %v; background load %d ok / %d refused after the signal", ok.Load(), inflight, took.Round(time.Millisecond), res.OK, res.Failed)
}

// TestKillRandomWorker: SIGKILL of a random worker every 500ms for 10s under
// load. The service keeps answering; a request can fail only if a kill
// happened while it was open; and every kill is followed by a respawn.
func TestKillRandomWorker(t *testing.T) {
	p := startPrimary(t, "hello", false, "HERD_TEST_CRASHMAX=-1", "HERD_TEST_MINUP=100ms")
	var mu sync.Mutex
	var samples []loadgen.Sample
	stop := load(p.addr, loadgen.Options{Conns: 8, Observe: func(s loadgen.Sample) {
		mu.Lock()
		samples = append(samples, loadgen.Sample{Start: s.Start, End: s.End, Err: s.Err})
		mu.Unlock()
	}})
	var kills []time.Time
	var killedPIDs []int
	killed := map[int]bool{}
	tick := time.NewTicker(500 * time.Millisecond)
	for range 20 {
		<-tick.C
		var cand []int
		for _, pid := range livePIDs(p.events()) {
			if !killed[pid] {
				cand = append(cand, pid)
			}
		}
		if len(cand) == 0 {
			t.Fatal("no live worker to kill")
		}
		pid := cand[rand.IntN(len(cand))]
		killed[pid] = true
		kills = append(kills, time.Now())
		killedPIDs = append(killedPIDs, pid)
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	tick.Stop()
	time.Sleep(500 * time.Millisecond)
	res := stop()

	evs := p.waitEv("20 exits and 22 forks", 20*time.Second, func(evs []ev) bool {
		return countEv(evs, func(e ev) bool { return e.Kind == "exit" }) >= 20 && countEv(evs, func(e ev) bool { return e.Kind == "fork" }) >= 22
	})
	if n := countEv(evs, func(e ev) bool { return e.Kind == "exit" && e.Signal == "SIGKILL" && !e.Expected }); n != 20 {
		t.Fatalf("%d unexpected SIGKILL exits, want 20", n)
	}
	if n := countEv(evs, func(e ev) bool { return e.Kind == "exit" }); n != 20 {
		t.Fatalf("%d exits, want exactly the 20 kills", n)
	}
	// Every failure overlaps a kill: the request was open while a worker
	// was dying, from the signal until the primary reaped it (a worker
	// may accept a connection between the two).
	died := map[int]time.Time{}
	for _, e := range evs {
		if e.Kind == "exit" {
			died[e.PID] = e.Time
		}
	}
	var failed int
	for _, s := range samples {
		if s.Err == nil {
			continue
		}
		failed++
		overlaps := false
		for i, k := range kills {
			end, ok := died[killedPIDs[i]]
			if !ok || end.Before(k) {
				end = k
			}
			if !s.Start.After(end) && !s.End.Before(k) {
				overlaps = true
				break
			}
		}
		if !overlaps {
			t.Errorf("request %v..%v failed (%v) but no worker was dying while it was open", s.Start.Format("15:04:05.000"), s.End.Format("15:04:05.000"), s.Err)
		}
	}
	// The service kept answering: successes in every second of the run.
	first, last := kills[0].Add(-500*time.Millisecond), kills[len(kills)-1]
	for w := first; w.Before(last); w = w.Add(time.Second) {
		n := 0
		for _, s := range samples {
			if s.Err == nil && !s.End.Before(w) && s.End.Before(w.Add(time.Second)) {
				n++
			}
		}
		if n == 0 {
			t.Errorf("no successful request in the second from %v", w.Format("15:04:05.000"))
		}
	}
	if int64(failed) != res.Failed || res.OK < 100 {
		t.Fatalf("load result %+v vs %d observed failures", res, failed)
	}
	t.Logf("20 kills in 10s: %d requests ok, %d failed, each failure open across a kill", res.OK, res.Failed)
}

// TestCrashLoop: a worker that keeps crashing is respawned at once, then
// after 50, 100 and 200ms; the fifth failure within the window stops the
// primary with exit code 1 and a message that says why.
func TestCrashLoop(t *testing.T) {
	p := startPrimary(t, "crashloop", true, "HERD_TEST_WORKERS=1", "HERD_TEST_BACKOFF=50ms", "HERD_TEST_CRASHMAX=4", "HERD_TEST_CRASHWIN=20s")
	if code := p.wait(30 * time.Second); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	evs := p.events()
	var forks, exits []ev
	for _, e := range evs {
		switch e.Kind {
		case "fork":
			forks = append(forks, e)
		case "exit":
			exits = append(exits, e)
		}
	}
	if len(forks) != 5 || len(exits) != 5 {
		t.Fatalf("%d forks and %d exits, want 5 and 5\n%s", len(forks), len(exits), p.stderr.String())
	}
	want := []time.Duration{0, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond}
	for i, w := range want {
		gap := forks[i+1].Time.Sub(exits[i].Time)
		if gap < w || gap > w+3*time.Second {
			t.Errorf("respawn %d came %v after the exit, want %v", i+1, gap, w)
		}
	}
	for _, e := range exits {
		if e.Code != 1 || e.Expected {
			t.Errorf("exit %+v", e)
		}
	}
	msg := p.stderr.String()
	wantMsg := fmt.Sprintf("crash loop: 5 worker failures within 20s; stopped respawning (last: worker 5 (pid %d) exited with code 1: boom)", forks[4].PID)
	if !strings.Contains(msg, wantMsg) {
		t.Fatalf("stderr lacks %q:\n%s", wantMsg, msg)
	}
}

// TestBootFailure: a worker that fails at start-up stops the primary with a
// non-zero exit code and the worker's own error.
func TestBootFailure(t *testing.T) {
	p := startPrimary(t, "bootfail", true)
	if code := p.wait(20 * time.Second); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	if msg := p.stderr.String(); !strings.Contains(msg, "failed to boot: exited before it was ready: exited with code 1: database unreachable at boot") {
		t.Fatalf("stderr:\n%s", msg)
	}
	for _, pid := range livePIDs(p.events()) {
		t.Errorf("worker %d left behind", pid)
	}

	p = startPrimary(t, "noready", true, "HERD_TEST_READY=500ms")
	if code := p.wait(20 * time.Second); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	if msg := p.stderr.String(); !strings.Contains(msg, "failed to boot: not ready within 500ms: killed by SIGKILL") {
		t.Fatalf("stderr:\n%s", msg)
	}
}

// TestPrimarySIGKILL: no worker survives its primary by more than a second,
// even when the primary is SIGKILLed.
func TestPrimarySIGKILL(t *testing.T) {
	p := startPrimary(t, "hello", false, "HERD_TEST_WORKERS=3")
	pids := livePIDs(p.events())
	if len(pids) != 3 {
		t.Fatalf("live workers %v", pids)
	}
	p.signal(syscall.SIGKILL)
	start := time.Now()
	for time.Since(start) < time.Second {
		n := 0
		for _, pid := range pids {
			if !testutil.Gone(pid) {
				n++
			}
		}
		if n == 0 {
			t.Logf("all %d workers gone %v after the primary's SIGKILL", len(pids), time.Since(start).Round(time.Millisecond))
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("workers %v still alive 1s after the primary was killed", pids)
}

// TestHungWorker: a worker whose heartbeat stops (SIGSTOP) is killed and
// replaced once HeartbeatTimeout passes, and the log says why.
func TestHungWorker(t *testing.T) {
	p := startPrimary(t, "hello", false, "HERD_TEST_HB_TIMEOUT=1s")
	victim := livePIDs(p.events())[0]
	start := time.Now()
	if err := syscall.Kill(victim, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	evs := p.waitEv("the hung worker's replacement", 20*time.Second, func(evs []ev) bool {
		return countEv(evs, func(e ev) bool { return e.Kind == "ready" }) == 3
	})
	var exit ev
	for _, e := range evs {
		if e.Kind == "exit" {
			exit = e
		}
	}
	took := exit.Time.Sub(start)
	if exit.PID != victim || exit.Reason != "heartbeat timeout" || exit.Signal != "SIGKILL" || exit.Expected {
		t.Fatalf("exit %+v", exit)
	}
	// The timeout runs from the last heartbeat the primary received, which
	// came before the SIGSTOP (up to an interval earlier, more on a loaded
	// machine): the primary's own measure of the silence must be over the
	// timeout; the time since the SIGSTOP only bounds it from above.
	log := p.stderr.String()
	i := strings.Index(log, "missed its heartbeat")
	if i < 0 {
		t.Fatalf("log lacks the reason:\n%s", log)
	}
	line, _, _ := strings.Cut(log[i:], "\n")
	var silent time.Duration
	for _, kv := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(kv, "silent="); ok {
			silent, _ = time.ParseDuration(v)
		}
	}
	if silent < time.Second {
		t.Fatalf("hung worker killed after %v without a heartbeat, want at least the 1s timeout\n%s", silent, log)
	}
	if took > 10*time.Second {
		t.Fatalf("hung worker killed %v after it stopped, want 1s (+ check interval)", took)
	}
	if _, err := get("http://" + p.addr + "/"); err != nil {
		t.Fatal(err)
	}
	t.Logf("hung worker killed %v after SIGSTOP, %v after its last heartbeat, and replaced", took.Round(time.Millisecond), silent)
}

func copyFile(t *testing.T, src, dst string) {
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
}
