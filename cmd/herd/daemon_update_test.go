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
	"github.com/herdrun/herd/internal/procfs"
	"github.com/herdrun/herd/internal/testutil"
)

// An HTTP app that also writes a numbered line to stdout every 2 ms or so,
// and one to stderr every 20, each in two writes (10 ms apart on stderr),
// so that an update is likely to come in the middle of a line: a gap in
// the numbers is a lost or split line. Each stream is one chain of
// timers, so that its halves never interleave, however late they run.
const tickApp = `const http = require('http');
let n = 0, e = 0;
function tick() { process.stdout.write('tick ' + process.pid + ' '); setImmediate(() => { process.stdout.write((n++) + '\n'); setTimeout(tick, 2); }); }
function etick() { process.stderr.write('etick ' + process.pid + ' '); setTimeout(() => { process.stderr.write((e++) + '\n'); setTimeout(etick, 10); }, 10); }
tick(); etick();
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
	home := t.TempDir()
	env := daemonEnv(t, home)
	port := testutil.FreePort(t)
	mustHerdOther(t, env, "start", writeApp(t, tickApp), "--name", "web", "-i", "2", "-p", strconv.Itoa(port), "--host", "127.0.0.1")
	h := daemon.HomeAt(home)
	pid := h.DaemonPID()
	var l daemon.List
	// The daemon refuses this version's ls.
	if err := json.Unmarshal([]byte(mustHerdOther(t, env, "ls", "--json")), &l); err != nil || len(l.Apps) != 1 || len(l.Apps[0].Pids) != 2 {
		t.Fatalf("ls: %+v %v", l, err)
	}
	progs := slices.Sorted(slices.Values(l.Apps[0].Pids))
	guards := guardsOf(t, progs, pid)

	load := startLoad(t, port)
	ctx, wg := load.ctx, &load.wg
	// Commands on the control socket meanwhile (no version header, so any
	// version serves them): one client that keeps its connection, one
	// that dials for each; none may fail.
	var cmdOK, cmdFailed [2]int
	var cmdErrs []string
	var cmdMu sync.Mutex
	for i := range 2 {
		wg.Go(func() {
			cl := daemon.NewClient(h, "")
			defer cl.Close()
			for ctx.Err() == nil {
				if i == 1 {
					cl.Close()
				}
				cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, err := cl.List(cctx)
				ccancel()
				cmdMu.Lock()
				if err != nil && ctx.Err() == nil {
					cmdFailed[i]++
					cmdErrs = append(cmdErrs, err.Error())
				} else if err == nil {
					cmdOK[i]++
				}
				cmdMu.Unlock()
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	logs := filepath.Join(home, "logs")
	var before int
	// The second update is from this build, whose version depends on how
	// it was built (devel, or a pseudo-version in a git checkout).
	// herd logs --follow, from the first update on (this version's CLI),
	// through the second.
	followOut := filepath.Join(t.TempDir(), "follow.out")
	var follower *exec.Cmd
	for i, from := range []string{otherVersion, ""} {
		if i == 1 {
			f, err := os.Create(followOut)
			if err != nil {
				t.Fatal(err)
			}
			follower = exec.Command(herdBin, "logs", "web", "--out", "--lines", "0")
			follower.Env, follower.Stdout, follower.Stderr = env, f, f
			if err := follower.Start(); err != nil {
				t.Fatal(err)
			}
			f.Close()
			defer follower.Process.Kill()
			testutil.WaitFor(t, "herd logs following", func() bool { return len(ticks(t, followOut, "tick")[progs[0]]) > 10 })
		}
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
	load.stop(t, "2 herd updates in place")
	t.Logf("herd ls requests meanwhile: kept connection %d ok %d failed, new connections %d ok %d failed", cmdOK[0], cmdFailed[0], cmdOK[1], cmdFailed[1])
	if cmdFailed[0]+cmdFailed[1] != 0 || cmdOK[0] == 0 || cmdOK[1] == 0 {
		t.Fatalf("requests on the control socket during the updates: %v ok, %v failed: %q", cmdOK, cmdFailed, cmdErrs)
	}

	// How long each exec took, to the new image's answer (daemon.log).
	if b, err := os.ReadFile(filepath.Join(home, "daemon.log")); err == nil {
		var began time.Time
		for _, line := range strings.Split(string(b), "\n") {
			ts, _, _ := strings.Cut(strings.TrimPrefix(line, "time="), " ")
			at, err := time.Parse(time.RFC3339Nano, ts)
			switch {
			case err != nil:
			case strings.Contains(line, "replacing the daemon's image"):
				began = at
			case strings.Contains(line, "updated in place") && !began.IsZero():
				t.Logf("exec to the new image's answer: %v", at.Sub(began))
			}
		}
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
	// The follower is still there and missed no line of the second update.
	testutil.WaitFor(t, "herd logs following past the second update", func() bool {
		got := ticks(t, followOut, "tick")
		for _, p := range progs {
			if ns := got[p]; len(ns) == 0 || ns[len(ns)-1] <= before+200 {
				return false
			}
		}
		return true
	})
	if follower.ProcessState != nil {
		t.Fatalf("herd logs exited: %v", follower.ProcessState)
	}
	for p, ns := range ticks(t, followOut, "tick") {
		for i := 1; i < len(ns); i++ {
			if ns[i] != ns[i-1]+1 {
				t.Fatalf("herd logs -f: pid %d: line %d after %d: a line was lost or repeated", p, ns[i], ns[i-1])
			}
		}
	}
	_ = follower.Process.Kill()
	_ = follower.Wait()

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
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second); err == nil {
		c.Close()
		t.Errorf("port %d still served after stop", port)
	}
}
