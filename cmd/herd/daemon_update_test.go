package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herdrun/herd/cmd/herd/internal/daemon"
	"github.com/herdrun/herd/internal/loadgen"
	"github.com/herdrun/herd/internal/procfs"
	"github.com/herdrun/herd/internal/testutil"
)

// An HTTP app that also writes a numbered line to stdout every 2 ms, and
// one to stderr every 20: a gap in the numbers is a lost line.
const tickApp = `const http = require('http');
let n = 0, e = 0;
setInterval(() => { console.log('tick ' + process.pid + ' ' + (n++)); }, 2);
setInterval(() => { console.error('etick ' + process.pid + ' ' + (e++)); }, 20);
http.createServer((req, res) => { res.end('hello ' + process.env.HERD_INSTANCE); }).listen(Number(process.env.PORT), '127.0.0.1');
`

// ticks returns, per pid, the numbers of the lines "<word> PID N" in the
// log file path, in file order.
func ticks(t *testing.T, path, word string) map[int][]int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[int][]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		for i := 0; i+2 < len(fs); i++ {
			if fs[i] != word {
				continue
			}
			pid, err1 := strconv.Atoi(fs[i+1])
			n, err2 := strconv.Atoi(fs[i+2])
			if err1 == nil && err2 == nil {
				out[pid] = append(out[pid], n)
			}
			break
		}
	}
	return out
}

// checkTicks fails unless each of pids has the lines 0..N in order, with N
// past min.
func checkTicks(t *testing.T, path, word string, pids []int, min int) {
	t.Helper()
	got := ticks(t, path, word)
	for _, pid := range pids {
		ns := got[pid]
		for i, n := range ns {
			if n != i {
				t.Fatalf("%s: pid %d: line %q %d where %d was due: a line was lost or repeated (%d lines)", filepath.Base(path), pid, word, n, i, len(ns))
			}
		}
		if len(ns) <= min {
			t.Fatalf("%s: pid %d: %d %q lines, want more than %d", filepath.Base(path), pid, len(ns), word, min)
		}
	}
}

// herd update in place, twice (from a daemon of another version, then
// again), under keep-alive and new-connection load: no request fails, the
// daemon keeps its pid and its apps' processes (programs and guards), no
// line of output is lost, and ls, logs, reload and stop work afterwards.
func TestDaemonUpdateInPlace(t *testing.T) {
	testutil.RequireNode(t)
	other := herdOtherBin(t)
	home := t.TempDir()
	env := daemonEnv(t, home)
	port := testutil.FreePort(t)
	cmd := exec.Command(other, "start", writeApp(t, tickApp), "--name", "web", "-i", "2", "-p", strconv.Itoa(port), "--host", "127.0.0.1")
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("herd-other start: %v\n%s", err, out)
	}
	h := daemon.HomeAt(home)
	pid := h.DaemonPID()
	ls := exec.Command(other, "ls", "--json") // the daemon refuses this version's ls
	ls.Env = env
	var l daemon.List
	out, err := ls.Output()
	if err == nil {
		err = json.Unmarshal(out, &l)
	}
	if err != nil || len(l.Apps) != 1 || len(l.Apps[0].Pids) != 2 {
		t.Fatalf("ls: %+v %v", l, err)
	}
	progs := slices.Sorted(slices.Values(l.Apps[0].Pids))
	guards := make([]int, len(progs))
	for i, p := range progs {
		st, err := procfs.ReadStat(p)
		if err != nil {
			t.Fatal(err)
		}
		guards[i] = st.PPID
		if g, _ := procfs.ReadStat(st.PPID); g.PPID != pid {
			t.Fatalf("instance %d: guard %d is the child of %d, not of the daemon %d", p, st.PPID, g.PPID, pid)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ka, nc loadgen.Result
	var wg sync.WaitGroup
	addr := "127.0.0.1:" + strconv.Itoa(port)
	wg.Go(func() {
		ka = loadgen.Run(ctx, loadgen.Options{Addr: addr, Conns: 2, KeepAlive: true, Duration: 120 * time.Second, Timeout: 20 * time.Second})
	})
	wg.Go(func() {
		nc = loadgen.Run(ctx, loadgen.Options{Addr: addr, Conns: 2, Duration: 120 * time.Second, Timeout: 20 * time.Second})
	})
	time.Sleep(300 * time.Millisecond)
	logs := filepath.Join(home, "logs")
	var before int
	// The second update is from this build, whose version depends on how
	// it was built (devel, or a pseudo-version in a git checkout).
	for i, from := range []string{otherVersion, ""} {
		before = len(ticks(t, filepath.Join(logs, "web-out.log"), "tick")[progs[0]])
		start := time.Now()
		out := mustHerd(t, env, "update")
		t.Logf("herd update %d took %v", i+1, time.Since(start).Round(time.Millisecond))
		if !strings.HasPrefix(out, "updated the daemon in place: herd "+from) || strings.Count(out, otherVersion) != 1-i ||
			!strings.HasSuffix(out, " (pid "+strconv.Itoa(pid)+" kept); 1 app(s), 2 instance(s) kept\n") {
			t.Fatalf("update %d: %q", i+1, out)
		}
	}
	time.Sleep(300 * time.Millisecond)
	cancel()
	wg.Wait()
	t.Logf("2 herd updates in place under load: keep-alive %d ok %d failed, new connections %d ok %d failed", ka.OK, ka.Failed, nc.OK, nc.Failed)
	if ka.Failed != 0 || nc.Failed != 0 || ka.OK == 0 || nc.OK == 0 {
		t.Fatalf("keep-alive %d ok %d failed %v; new connections %d ok %d failed %v", ka.OK, ka.Failed, ka.Errors, nc.OK, nc.Failed, nc.Errors)
	}

	// The same daemon, of this version, with the same processes.
	if got := h.DaemonPID(); got != pid || testutil.Gone(pid) {
		t.Fatalf("daemon pid %d after %d", got, pid)
	}
	if out := mustHerd(t, env, "version"); !strings.Contains(out, "daemon: the same (pid "+strconv.Itoa(pid)+")") {
		t.Errorf("version: %q", out)
	}
	if err := waitApp(env, "web", daemon.StatusOnline, 2, 2); err != nil {
		t.Fatal(err)
	}
	l, _ = lsJSON(env)
	if now := slices.Sorted(slices.Values(l.Apps[0].Pids)); !slices.Equal(now, progs) {
		t.Fatalf("instances %v after the update, %v before", now, progs)
	}
	for i, p := range progs {
		st, err := procfs.ReadStat(p)
		if err != nil || st.PPID != guards[i] {
			t.Fatalf("instance %d: parent %d (%v), want its guard %d", p, st.PPID, err, guards[i])
		}
		if g, _ := procfs.ReadStat(guards[i]); g.PPID != pid {
			t.Fatalf("guard %d: parent %d, want the daemon %d", guards[i], g.PPID, pid)
		}
	}

	// No line lost: the numbers run on without a gap, past the update.
	testutil.WaitFor(t, "lines written after the updates", func() bool {
		got := ticks(t, filepath.Join(logs, "web-out.log"), "tick")
		return len(got[progs[0]]) > before+200 && len(got[progs[1]]) > before+200
	})
	checkTicks(t, filepath.Join(logs, "web-out.log"), "tick", progs, before+200)
	checkTicks(t, filepath.Join(logs, "web-error.log"), "etick", progs, 0)

	// The commands work on the adopted instances.
	if out := mustHerd(t, env, "logs", "web", "--lines", "3", "--nostream", "--out"); strings.Count(out, "tick ") != 3 {
		t.Errorf("logs: %q", out)
	}
	if out := mustHerd(t, env, "reload", "web"); out != "reloaded web (id 0)\n" {
		t.Fatalf("reload: %q", out)
	}
	testutil.WaitFor(t, "the adopted instances gone after the reload", func() bool {
		return testutil.Gone(progs[0]) && testutil.Gone(progs[1]) && testutil.Gone(guards[0]) && testutil.Gone(guards[1])
	})
	if err := waitApp(env, "web", daemon.StatusOnline, 2, 2); err != nil {
		t.Fatal(err)
	}
	if out := mustHerd(t, env, "stop", "web"); out != "stopped web (id 0)\n" {
		t.Fatalf("stop: %q", out)
	}
	testutil.WaitFor(t, "only the daemon left", func() bool { return len(procfs.Tree(pid)) == 1 })
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("port %d still served after stop", port)
	}
}
