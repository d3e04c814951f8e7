package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herdrun/herd/cmd/herd/internal/daemon"
	"github.com/herdrun/herd/internal/testutil"
)

// A herd update whose new binary cannot run leaves the daemon running, with
// the same pid and its apps' very processes serving, and the caller gets
// an error that names the binary and says the daemon runs on: a binary
// that says it can take the state and then cannot be executed (the execve
// fails after the apps were handed over: the daemon executes its own
// binary again with the state), a broken binary and a file without the
// execute bit (both refused before anything is frozen; the takeover's new
// daemon does not start).
func TestDaemonUpdateExecFails(t *testing.T) {
	testutil.RequireNode(t)
	home := t.TempDir()
	env := daemonEnv(t, home)
	port := strconv.Itoa(testutil.FreePort(t))
	mustHerd(t, env, "start", writeApp(t, `require('http').createServer((q, r) => r.end('pid ' + process.pid)).listen(Number(process.env.PORT));`),
		"--name", "web", "-i", "2", "-p", port, "--host", "127.0.0.1")
	h := daemon.HomeAt(home)
	pid := h.DaemonPID()
	cl := daemon.NewClient(h, "") // the daemon is the built herd binary, whose version may differ from this test binary's
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pids := func() []int {
		t.Helper()
		l, err := cl.List(ctx)
		if err != nil || len(l.Apps) != 1 || l.Apps[0].Status != daemon.StatusOnline {
			t.Fatalf("ls: %+v, %v", l, err)
		}
		return slices.Sorted(slices.Values(l.Apps[0].Pids))
	}
	before := pids()
	v0, err := cl.Version(ctx)
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	lying := filepath.Join(dir, "herd-lying")
	script := "#!/bin/sh\nif [ \"$2\" = " + daemon.CanAdoptArg + " ]; then echo '" + daemon.CanAdoptLine + "'; /bin/chmod -x \"$0\"; exit 0; fi\nexit 3\n"
	broken := filepath.Join(dir, "herd-broken")
	plain := filepath.Join(dir, "herd-plain")
	for _, f := range []struct {
		path, body string
		mode       os.FileMode
	}{{lying, script, 0o755}, {broken, "\x7fELF\x02\x01\x01 not a program", 0o755}, {plain, "#!/bin/sh\n", 0o644}} {
		if err := os.WriteFile(f.path, []byte(f.body), f.mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		exe  string
		want []string
	}{
		{lying, []string{"the new binary did not start (exec " + lying + ": permission denied)", "the daemon runs on with its old binary, its apps' processes kept"}},
		{broken, []string{"starting " + broken, "exec format error", "this daemon keeps running"}},
		{plain, []string{"starting " + plain, "permission denied", "this daemon keeps running"}},
	} {
		start := time.Now()
		_, err := cl.UpdateWith(ctx, daemon.UpdateRequest{Exe: tc.exe})
		if err == nil {
			t.Fatalf("update to %s: no error", tc.exe)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Fatalf("update to %s: %q; want it to say %q", tc.exe, err, w)
			}
		}
		t.Logf("update to %s failed after %v: %v", filepath.Base(tc.exe), time.Since(start).Round(time.Millisecond), err)
		v, err := cl.Version(ctx)
		if err != nil || v.PID != pid || v.Version != v0.Version {
			t.Fatalf("after the update to %s: daemon %+v, %v; want pid %d, version %s", tc.exe, v, err, pid, v0.Version)
		}
		if got := pids(); !slices.Equal(got, before) {
			t.Fatalf("after the update to %s: instances %v, want %v (the same processes)", tc.exe, got, before)
		}
		seen := map[string]bool{}
		testutil.WaitFor(t, "both instances to answer", func() bool {
			rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
			defer rcancel()
			code, body, _ := testutil.Get(rctx, "http://127.0.0.1:"+port+"/")
			if code == http.StatusOK {
				seen[body] = true
			}
			return len(seen) == 2
		})
		for _, p := range before {
			if !seen["pid "+strconv.Itoa(p)] {
				t.Fatalf("answers %v, want pids %v", seen, before)
			}
		}
	}
	// Commands still work on the apps.
	// The replaced instances may still be listed while they drain.
	mustHerd(t, env, "reload", "web")
	testutil.WaitFor(t, "two new instances after the reload", func() bool {
		l, err := cl.List(ctx)
		if err != nil || len(l.Apps) != 1 {
			t.Fatalf("ls: %+v, %v", l, err)
		}
		got := l.Apps[0].Pids
		return len(got) == 2 && !slices.Contains(got, before[0]) && !slices.Contains(got, before[1])
	})
}
