package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/procfs"
	"github.com/herdrun/herd/internal/testutil"
)

// sleepsOf counts the running `sleep marker` processes.
func sleepsOf(marker string) int { return len(pidsOf("sleep", marker)) }

// killHerdAndWaitEmpty kills herd with SIGKILL and waits, 10s at most, until
// no process whose command line contains marker is left: everything
// started under herd must end with it.
func killHerdAndWaitEmpty(t *testing.T, h *herdRun, marker string) {
	t.Helper()
	tree := testutil.AllChildrenOf(t, h.p.Pid)
	// A pid names the same process only with the same start time: pids
	// are reused quickly while other packages' tests run.
	started := map[int]uint64{}
	for _, pid := range tree {
		if st, err := procfs.ReadStat(pid); err == nil {
			started[pid] = st.StartTime
		}
	}
	alive := func(pid int) bool {
		st, err := procfs.ReadStat(pid)
		return err == nil && !st.Zombie() && st.StartTime == started[pid]
	}
	began := time.Now()
	syscall.Kill(h.p.Pid, syscall.SIGKILL)
	<-h.p.Done()
	for end := began.Add(10 * time.Second); ; {
		left := testutil.Marked(marker)
		for _, pid := range tree {
			if alive(pid) && !contains(left, pid) {
				left = append(left, pid)
			}
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(end) {
			var what []string
			for _, pid := range left {
				b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
				what = append(what, fmt.Sprintf("%d %q", pid, strings.ReplaceAll(string(b), "\x00", " ")))
			}
			t.Fatalf("still running %v after herd's SIGKILL: %v", time.Since(began).Round(time.Millisecond), what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("all of herd's tree gone %v after its SIGKILL", time.Since(began).Round(time.Millisecond))
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// A shell instance that daemonizes (setsid, double fork) and has a child:
// after kill -9 of herd, none of it survives.
func TestKill9EndsDaemonsOfAShell(t *testing.T) {
	marker := testutil.UniqueSleep(2)
	t.Cleanup(func() {
		for _, pid := range pidsOf("sleep", marker) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	script := `setsid sleep ` + marker + ` >/dev/null 2>&1 & (setsid sleep ` + marker + ` >/dev/null 2>&1 &); (sh -c "sleep ` + marker + ` & exit" &); sleep ` + marker + ` & echo started; exec sleep ` + marker
	h := startHerd(t, []string{"NO_COLOR=1"}, "run", "-i", "2", "--ready", "start", "--name", "daemons", "--", "sh", "-c", script)
	waitOut(t, h, "daemons[0] | started", 1)
	waitOut(t, h, "daemons[1] | started", 1)
	testutil.WaitFor(t, "10 sleeps", func() bool { return sleepsOf(marker) == 10 })
	killHerdAndWaitEmpty(t, h, marker)
}

// A Node instance in cluster mode that spawns children (one attached, one
// detached in its own session): after kill -9 of herd, none survives.
func TestKill9EndsChildrenOfANodeApp(t *testing.T) {
	testutil.RequireNode(t)
	marker := testutil.UniqueSleep(3)
	t.Cleanup(func() {
		for _, pid := range pidsOf("sleep", marker) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	app := writeApp(t, `const { spawn } = require('child_process');
spawn('sleep', ['`+marker+`'], { stdio: 'ignore' });
spawn('sleep', ['`+marker+`'], { stdio: 'ignore', detached: true }).unref();
require('http').createServer((req, res) => res.end('ok')).listen(Number(process.env.PORT), () => console.log('listening ' + process.pid));
`)
	port := strconv.Itoa(testutil.FreePort(t))
	h := startHerd(t, []string{"NO_COLOR=1"}, "run", "-i", "2", "--host", "127.0.0.1", "-p", port, "--", "node", app)
	waitOut(t, h, "cluster: ready", 1)
	if code, body, err := testutil.Get(t.Context(), "http://127.0.0.1:"+port+"/"); err != nil || code != 200 || body != "ok" {
		t.Fatalf("GET = %d %q %v", code, body, err)
	}
	testutil.WaitFor(t, "4 sleeps", func() bool { return sleepsOf(marker) == 4 })
	killHerdAndWaitEmpty(t, h, marker)
}
