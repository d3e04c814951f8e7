package main

import (
	"context"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
)

// serving matches the line clusterapp prints once its worker function
// serves.
var serving = regexp.MustCompile(`clusterapp\[(\d+)\] \| clusterapp worker (\d+) slot (\d+) pid (\d+) serving on (\S+)`)

// TestRunClusterPackageApp runs a Go program built with package cluster
// (cluster.Run, Worker.Listen, Worker.Serve; Config.Workers 2) under herd
// run -i 2 -p PORT. Each instance finds the inherited socket (LISTEN_PID is
// its pid) and serves on it as a single worker: no port bound twice, no
// workers of its own. The package says "ready" on herd's channel by itself,
// so --ready message and --ready notify both boot within a short
// --ready-timeout, and both instances answer.
func TestRunClusterPackageApp(t *testing.T) {
	bin := testutil.BuildGo(t.Context(), t, "./testdata/clusterapp")
	for _, ready := range []string{"message", "notify"} {
		t.Run(ready, func(t *testing.T) {
			port := testutil.FreePort(t)
			h := startHerd(t, []string{"NO_COLOR=1"}, "run", "-i", "2", "--host", "127.0.0.1", "-p", strconv.Itoa(port),
				"--ready", ready, "--ready-timeout", "10s", "--", bin)
			waitOut(t, h, "cluster: ready workers=2", 1)
			kids := instancePids(t, h.p.Pid) // the programs, below their guards
			if len(kids) != 2 {
				t.Fatalf("herd has %d instances, want 2: %v", len(kids), kids)
			}
			// An instance's line on stdout and its readiness come apart: the
			// line may be read just after the cluster is ready.
			testutil.WaitFor(t, "both instances' serving lines", func() bool {
				return len(serving.FindAllStringSubmatch(h.stdout.String(), -1)) >= 2
			})
			lines := serving.FindAllStringSubmatch(h.stdout.String(), -1)
			if len(lines) != 2 {
				t.Fatalf("%d serving lines, want 2:\n%s", len(lines), h.stdout.String())
			}
			pids := map[string]int{} // HERD_INSTANCE -> pid
			for _, l := range lines {
				pid, _ := strconv.Atoi(l[4])
				// The worker's slot is herd's instance number, its ID
				// slot+1, and it serves the socket herd opened.
				if l[1] != l[3] || l[2] != strconv.Itoa(atoi(l[3])+1) || l[5] != "127.0.0.1:"+strconv.Itoa(port) {
					t.Errorf("serving line %q: want slot = instance, ID = slot+1, address 127.0.0.1:%d", l[0], port)
				}
				if !slices.Contains(kids, pid) {
					t.Errorf("serving pid %d is not one of herd's instances %v", pid, kids)
				}
				if sub := testutil.ChildrenOf(t, pid); len(sub) != 0 {
					t.Errorf("instance %d (pid %d) started processes of its own %v: it acted as a primary", atoi(l[1]), pid, sub)
				}
				pids[l[1]] = pid
			}
			want := map[string]bool{}
			for inst, pid := range pids {
				want["cluster "+inst+" pid "+strconv.Itoa(pid)] = true
			}
			got := map[string]bool{}
			testutil.WaitFor(t, "both instances to answer", func() bool {
				code, body, err := testutil.Get(context.Background(), "http://127.0.0.1:"+strconv.Itoa(port)+"/")
				if err != nil || code != 200 || !want[body] {
					t.Fatalf("GET = %d %q %v; want one of %v", code, body, err, want)
				}
				got[body] = true
				return len(got) == 2
			})
			if strings.Contains(h.stdout.String()+h.stderr.String(), "address already in use") {
				t.Errorf("an instance tried to bind the port itself:\n%s", h.stdout.String())
			}
			syscall.Kill(h.p.Pid, syscall.SIGTERM)
			if code := h.wait(t); code != 0 {
				t.Fatalf("exit %d after SIGTERM\n%s\n%s", code, h.stdout.String(), h.stderr.String())
			}
			for _, k := range kids {
				if !testutil.GroupGone(k) {
					t.Errorf("process group %d still has processes", k)
				}
			}
		})
	}
}

// TestRunReloadClusterPackageAppUnderLoad: five SIGHUP reloads of the
// cluster-package app under load with --ready message (the package's own
// readiness signal) fail no request, and SIGTERM leaves no process.
func TestRunReloadClusterPackageAppUnderLoad(t *testing.T) {
	bin := testutil.BuildGo(t.Context(), t, "./testdata/clusterapp")
	port := testutil.FreePort(t)
	start := time.Now()
	reloadUnderLoad(t, port, "run", "-i", "2", "--host", "127.0.0.1", "-p", strconv.Itoa(port), "--ready", "message", "--", bin)
	t.Logf("took %v", time.Since(start).Round(time.Millisecond))
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
