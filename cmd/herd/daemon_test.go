package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/herdrun/herd/cmd/herd/internal/daemon"
	"github.com/herdrun/herd/internal/procfs"
	"github.com/herdrun/herd/internal/testutil"
	"github.com/rogpeppe/go-internal/testscript"
)

// otherVersion is the version of herdOther, a herd binary built with
// another version than herdBin.
const otherVersion = "v0.0.0-other"

var (
	otherOnce sync.Once
	otherBin  string
	otherErr  error
)

// herdOtherBin builds, once, a herd binary of version otherVersion.
func herdOtherBin(t testing.TB) string {
	otherOnce.Do(func() {
		otherBin = filepath.Join(filepath.Dir(herdBin), "herd-other")
		out, err := exec.Command("go", "build", "-ldflags", "-X main.version="+otherVersion, "-o", otherBin, ".").CombinedOutput()
		if err != nil {
			otherErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if otherErr != nil {
		t.Fatal(otherErr)
	}
	return otherBin
}

// stopDaemon stops the daemon of home, if one runs, by its pid: SIGTERM
// (every app stops gracefully), then SIGKILL after 20s.
func stopDaemon(home string) {
	pid := daemon.HomeAt(home).DaemonPID()
	if pid <= 0 || testutil.Gone(pid) {
		return
	}
	tree := procfs.Tree(pid)
	syscall.Kill(pid, syscall.SIGTERM)
	if !testutil.WaitGone(pid, 20*time.Second) {
		syscall.Kill(pid, syscall.SIGKILL)
		testutil.WaitGone(pid, 5*time.Second)
	}
	for _, p := range tree {
		testutil.WaitGone(p, 5*time.Second)
	}
}

// lsJSON runs herd ls --json in env and decodes it.
func lsJSON(env []string) (daemon.List, error) {
	cmd := exec.Command(herdBin, "ls", "--json")
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		return daemon.List{}, fmt.Errorf("herd ls --json: %v: %s", err, out)
	}
	var l daemon.List
	if err := json.Unmarshal(out, &l); err != nil {
		return daemon.List{}, fmt.Errorf("herd ls --json: %v: %s", err, out)
	}
	return l, nil
}

// scriptEnv returns the environment of a script as a list.
func scriptEnv(ts *testscript.TestScript) []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "HERD_HOME", "TMPDIR"} {
		env = append(env, k+"="+ts.Getenv(k))
	}
	return env
}

// waitApp waits, 60s at most, until app name has status and live live
// instances (and, if instances >= 0, that many wanted), as herd ls --json
// says; "absent" as status waits until the app is not listed.
func waitApp(env []string, name, status string, live, instances int) error {
	var last string
	for end := time.Now().Add(60 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		l, err := lsJSON(env)
		if err != nil {
			last = err.Error()
			continue
		}
		found := false
		for _, a := range l.Apps {
			if a.Name != name {
				continue
			}
			found = true
			last = fmt.Sprintf("%s: status %s, live %d, instances %d", name, a.Status, len(a.Live), a.Instances)
			if a.Status == status && len(a.Live) == live && (instances < 0 || a.Instances == instances) {
				return nil
			}
		}
		if !found {
			last = name + " not listed"
			if status == "absent" {
				return nil
			}
		}
	}
	return fmt.Errorf("app %s: want status %s with %d live instance(s); last: %s", name, status, live, last)
}

// freePort returns a port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// scriptCmds are the testscript commands of the daemon's scripts:
//
//	app NAME STATUS LIVE [INSTANCES]  wait until herd ls shows it so
//	http PORT                         GET http://127.0.0.1:PORT/ to stdout
//	portfree PORT                     wait until PORT can be bound
//	logwait APP REGEXP COUNT          wait until herd logs APP has COUNT matches
//	killdaemon                        SIGKILL the daemon; wait until its whole tree is gone
var scriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"app": func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) < 3 {
			ts.Fatalf("usage: app NAME STATUS LIVE [INSTANCES]")
		}
		live, _ := strconv.Atoi(args[2])
		inst := -1
		if len(args) > 3 {
			inst, _ = strconv.Atoi(args[3])
		}
		ts.Check(waitApp(scriptEnv(ts), args[0], args[1], live, inst))
	},
	"http": func(ts *testscript.TestScript, neg bool, args []string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		code, body, err := testutil.Get(ctx, "http://127.0.0.1:"+args[0]+"/")
		if neg {
			if err == nil {
				ts.Fatalf("GET answered %d %q", code, body)
			}
			return
		}
		ts.Check(err)
		fmt.Fprintf(ts.Stdout(), "%d %s\n", code, body)
	},
	"portfree": func(ts *testscript.TestScript, neg bool, args []string) {
		for end := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			l, err := net.Listen("tcp", "127.0.0.1:"+args[0])
			if err == nil {
				l.Close()
				return
			}
			if time.Now().After(end) {
				ts.Fatalf("port %s still held: %v", args[0], err)
			}
		}
	},
	"logwait": func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 3 {
			ts.Fatalf("usage: logwait APP REGEXP COUNT")
		}
		re := regexp.MustCompile(args[1])
		n, _ := strconv.Atoi(args[2])
		var last string
		for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			cmd := exec.Command(herdBin, "logs", args[0], "--nostream", "--lines", "1000")
			cmd.Env = scriptEnv(ts)
			out, err := cmd.Output()
			if err != nil {
				continue
			}
			last = string(out)
			if len(re.FindAllString(last, -1)) == n {
				return
			}
		}
		ts.Fatalf("logs of %s: want %d lines matching %s; last:\n%s", args[0], n, args[1], last)
	},
	"killdaemon": func(ts *testscript.TestScript, neg bool, args []string) {
		pid := daemon.HomeAt(ts.Getenv("HERD_HOME")).DaemonPID()
		if pid <= 0 {
			ts.Fatalf("no daemon pid")
		}
		tree := procfs.Tree(pid)
		began := time.Now()
		ts.Check(syscall.Kill(pid, syscall.SIGKILL))
		for _, p := range tree {
			if !testutil.WaitGone(p, 15*time.Second) {
				st, _ := os.ReadFile("/proc/" + strconv.Itoa(p) + "/cmdline")
				ts.Fatalf("process %d (%q) of the daemon's tree outlived its SIGKILL", p, st)
			}
		}
		ts.Logf("the daemon's tree of %d processes was gone %v after its SIGKILL", len(tree), time.Since(began).Round(time.Millisecond))
	},
}

// The daemon's command-line transcripts in testdata/daemon: each script
// has its own HERD_HOME, and its daemon is stopped by pid at its end.
func TestDaemonScripts(t *testing.T) {
	testutil.RequireNode(t)
	other := herdOtherBin(t)
	testscript.Run(t, testscript.Params{
		Dir: "testdata/daemon",
		Setup: func(e *testscript.Env) error {
			home := filepath.Join(e.WorkDir, ".herd")
			e.Setenv("HERD_HOME", home)
			e.Setenv("HOME", filepath.Join(e.WorkDir, "home"))
			e.Setenv("PATH", filepath.Dir(herdBin)+string(os.PathListSeparator)+e.Getenv("PATH"))
			e.Setenv("OTHER", other)
			for _, k := range []string{"PORT", "PORT2"} {
				p, err := freePort()
				if err != nil {
					return err
				}
				e.Setenv(k, strconv.Itoa(p))
			}
			e.Defer(func() { stopDaemon(home) })
			return nil
		},
		Cmds: scriptCmds,
	})
}
