package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/loadgen"
	"github.com/herdrun/herd/internal/procfs"
	"github.com/herdrun/herd/internal/testutil"
)

// warnedAfterReady reports a "has not taken its socket" warning about an
// instance that was already ready (so listening) when it came, and names
// its pid. On a loaded machine a node may take longer than the warning's
// delay to start, and the warning before its ready line is then right.
func warnedAfterReady(out string) (pid string, bad bool) {
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if !strings.Contains(l, "has not taken its socket") {
			continue
		}
		_, pid, _ = strings.Cut(l, " pid=")
		for _, before := range lines[:i] {
			if strings.Contains(before, "instance ready") && strings.HasSuffix(before, " pid="+pid) {
				return pid, true
			}
		}
	}
	return "", false
}

// writeApp writes a JavaScript file into a temp dir and returns its path.
func writeApp(t *testing.T, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "app.js")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The tutorial's app, unmodified but for the port it reads from PORT.
const helloApp = `const http = require('http');
http.createServer((req, res) => { res.end('hello ' + process.env.HERD_INSTANCE); }).listen(Number(process.env.PORT));
`

// An express-style app: a handler function, listen with a host and a callback.
const expressStyleApp = `const http = require('http');
function app(req, res) { res.statusCode = 200; res.setHeader('content-type', 'text/plain'); res.end('express-style'); }
app.listen = function (...args) { return http.createServer(this).listen(...args); };
app.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('up on ' + process.env.PORT));
`

// A PM2 wait_ready app: listens with {port} and says 'ready' itself.
const waitReadyApp = `const http = require('http');
const s = http.createServer((req, res) => res.end('wait-ready'));
s.listen({ port: Number(process.env.PORT) }, () => setTimeout(() => process.send('ready'), 50));
`

// waitOut waits until herd's stdout contains s n times.
func waitOut(t *testing.T, h *herdRun, s string, n int) {
	t.Helper()
	end := time.Now().Add(30 * time.Second)
	for strings.Count(h.stdout.String(), s) < n {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %d× %q\nstdout:\n%s\nstderr:\n%s", n, s, h.stdout.String(), h.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"run"}, 2, "herd: no command to run"},
		{[]string{"run", "-i", "zero", "--", "true"}, 2, `instances must be a positive number or max, not "zero"`},
		{[]string{"run", "--ready", "bogus", "--", "true"}, 2, `ready must be listen, notify, message or start`},
		{[]string{"run", "--restart", "sometimes", "--", "true"}, 2, "restart must be always, on-failure or never"},
		{[]string{"run", "--bogus", "--", "true"}, 2, "unknown flag: --bogus"},
		{[]string{"run", "-p", "70000", "--", "true"}, 2, "port 70000 out of range"},
		{[]string{"run", "--", "/no/such/program"}, 127, "herd: command not found: /no/such/program"},
		{[]string{"run", "/no/such/program", "--bogus"}, 127, "herd: command not found: /no/such/program"}, // flags after the command are the command's
	} {
		code, _, errOut := runHerd(t, nil, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("herd %v: exit %d, stderr %q; want exit %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
	code, out, _ := runHerd(t, nil, "run", "--help")
	for _, want := range []string{"Cluster mode", "Fork mode", "SIGHUP", "Exit status", "--kill-timeout"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("herd run --help: exit %d, lacks %q", code, want)
		}
	}
}

func TestRunPortInUse(t *testing.T) {
	busy, err := netListen()
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := strconv.Itoa(portOf(busy))
	code, _, errOut := runHerd(t, nil, "run", "--host", "127.0.0.1", "-p", port, "--", "sleep", "10")
	if code != 1 || !strings.Contains(errOut, "already in use") {
		t.Fatalf("exit %d, stderr %q; want 1 and a port-in-use message", code, errOut)
	}
}

func TestRunBootCrashShowsStderr(t *testing.T) {
	testutil.RequireNode(t)
	port := strconv.Itoa(testutil.FreePort(t))
	app := writeApp(t, "console.error('cannot read config.json'); process.exit(3);\n")
	code, _, errOut := runHerd(t, nil, "run", "--host", "127.0.0.1", "-p", port, "--", "node", app)
	if code != 1 || !strings.Contains(errOut, "failed to start") || !strings.Contains(errOut, "app[0] cannot read config.json") {
		t.Fatalf("exit %d, stderr %q; want 1 with the app's last stderr line", code, errOut)
	}
}

func TestRunCrashLoopErrored(t *testing.T) {
	start := time.Now()
	code, out, errOut := runHerd(t, nil, "run", "--ready", "start", "--backoff", "20ms", "--max-restarts", "3",
		"--name", "crashy", "--", "sh", "-c", "echo oops $HERD_INSTANCE >&2; exit 4")
	if code != 3 || !strings.Contains(errOut, "app crashy errored") || !strings.Contains(errOut, "crashy[0] oops 0") {
		t.Fatalf("exit %d, stderr %q; want 3, errored, last lines", code, errOut)
	}
	// 4 runs: the first restart at once, then after 20ms and 40ms; the
	// fourth exit errors the app, with no restart to wait for.
	if el := time.Since(start); el < 60*time.Millisecond {
		t.Errorf("errored after %v: no backoff", el)
	}
	if n := strings.Count(out, "crashy[0] | oops 0"); n != 4 {
		t.Errorf("%d runs, want 4 (3 restarts tolerated)\n%s", n, out)
	}
}

func TestRunForkMode(t *testing.T) {
	h := startHerd(t, []string{"NO_COLOR=1"}, "run", "-i", "2", "--name", "job", "--",
		"sh", "-c", `echo "instance $HERD_INSTANCE/$NODE_APP_INSTANCE app $HERD_APP"; exec sleep 30`)
	waitOut(t, h, "job[0] | instance 0/0 app job", 1)
	waitOut(t, h, "job[1] | instance 1/1 app job", 1)
	syscall.Kill(h.p.Pid, syscall.SIGTTIN)
	waitOut(t, h, "job[2] | instance 2/2 app job", 1)
	kids := testutil.ChildrenOf(t, h.p.Pid)
	syscall.Kill(h.p.Pid, syscall.SIGTERM)
	if code := h.wait(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM\n%s", code, h.stderr.String())
	}
	if len(kids) != 3 {
		t.Errorf("%d instances, want 3", len(kids))
	}
	for _, k := range kids {
		if !testutil.GroupGone(k) {
			t.Errorf("process group %d still has processes", k)
		}
	}
}

func TestRunNodeApps(t *testing.T) {
	testutil.RequireNode(t)
	for _, tc := range []struct {
		name, src, ready, want string
	}{
		{"http", helloApp, "listen", "hello "},
		{"express-style", expressStyleApp, "listen", "express-style"},
		{"wait-ready", waitReadyApp, "message", "wait-ready"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := testutil.FreePort(t)
			h := startHerd(t, nil, "run", "-i", "2", "--host", "127.0.0.1", "-p", strconv.Itoa(port), "--ready", tc.ready, "--socket-warning", "1500ms", "--", "node", writeApp(t, tc.src))
			started := time.Now()
			waitOut(t, h, "cluster: ready", 1)
			time.Sleep(1800*time.Millisecond - time.Since(started)) // past --socket-warning
			if pid, ok := warnedAfterReady(h.stdout.String()); ok {
				t.Errorf("warned about pid %s although it was ready and listening:\n%s", pid, h.stdout.String())
			}
			code, body, err := testutil.Get(context.Background(), "http://127.0.0.1:"+strconv.Itoa(port)+"/")
			if err != nil || code != 200 || !strings.HasPrefix(body, tc.want) {
				t.Fatalf("GET = %d %q %v", code, body, err)
			}
			syscall.Kill(h.p.Pid, syscall.SIGTERM)
			if code := h.wait(t); code != 0 {
				t.Fatalf("exit %d\n%s", code, h.stderr.String())
			}
		})
	}
}

func TestRunWarnsWhenSocketNotTaken(t *testing.T) {
	testutil.RequireNode(t)
	port := strconv.Itoa(testutil.FreePort(t))
	app := writeApp(t, "setInterval(() => {}, 1000);\n")
	h := startHerd(t, nil, "run", "--host", "127.0.0.1", "-p", port, "--ready", "start", "--socket-warning", "300ms", "--", "node", app)
	waitOut(t, h, "has not taken its socket", 1)
	syscall.Kill(h.p.Pid, syscall.SIGTERM)
	if code := h.wait(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// reloadUnderLoad runs herd with args, sends 5 SIGHUPs under load, one
// after the other, then SIGTERM, and checks that no request failed and that
// no process of the tree remains.
func reloadUnderLoad(t *testing.T, port int, args ...string) {
	t.Helper()
	reloadUnderLoadKA(t, port, false, args...)
}

// reloadUnderLoadKA is reloadUnderLoad with keep-alive connections or not.
func reloadUnderLoadKA(t *testing.T, port int, keepAlive bool, args ...string) {
	t.Helper()
	h := startHerd(t, []string{"NO_COLOR=1"}, args...)
	waitOut(t, h, "cluster: ready", 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var res loadgen.Result
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		res = loadgen.Run(ctx, loadgen.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), Conns: 4, KeepAlive: keepAlive, Duration: 60 * time.Second, Timeout: 20 * time.Second})
	}()
	time.Sleep(200 * time.Millisecond)
	for i := 1; i <= 5; i++ {
		syscall.Kill(h.p.Pid, syscall.SIGHUP)
		waitOut(t, h, "cluster: reload done", i)
	}
	time.Sleep(200 * time.Millisecond)
	cancel()
	wg.Wait()
	kids := testutil.ChildrenOf(t, h.p.Pid)
	syscall.Kill(h.p.Pid, syscall.SIGTERM)
	if code := h.wait(t); code != 0 {
		t.Fatalf("exit %d\n%s", code, h.stderr.String())
	}
	for _, k := range kids {
		if !testutil.GroupGone(k) {
			t.Errorf("process group %d still has processes", k)
		}
	}
	t.Logf("5 reloads under load: %d ok, %d failed", res.OK, res.Failed)
	if res.Failed != 0 || res.OK == 0 {
		t.Fatalf("%d ok, %d failed: %v", res.OK, res.Failed, res.Errors)
	}
}

func TestRunReloadNodeUnderLoad(t *testing.T) {
	testutil.RequireNode(t)
	port := testutil.FreePort(t)
	reloadUnderLoad(t, port, "run", "-i", "2", "--host", "127.0.0.1", "-p", strconv.Itoa(port), "--", "node", writeApp(t, helloApp))
}

func TestRunReloadNodeUnderKeepAliveLoad(t *testing.T) {
	testutil.RequireNode(t)
	port := testutil.FreePort(t)
	reloadUnderLoadKA(t, port, true, "run", "-i", "2", "--host", "127.0.0.1", "-p", strconv.Itoa(port), "--", "node", writeApp(t, helloApp))
}

func TestRunReloadGoUnderLoad(t *testing.T) {
	bin := testutil.BuildGo(t.Context(), t, "./testdata/actapp")
	port := testutil.FreePort(t)
	// The default readiness: herd sees the Go program accept on its socket.
	reloadUnderLoad(t, port, "run", "-i", "2", "--host", "127.0.0.1", "-p", strconv.Itoa(port), "--", bin, "-delay", "50ms")
}

// A Go program counts as ready only once it accepts on its socket, not
// when it starts: herd waits for its start-up time.
func TestRunGoReadyWhenAccepting(t *testing.T) {
	bin := testutil.BuildGo(t.Context(), t, "./testdata/actapp")
	port := strconv.Itoa(testutil.FreePort(t))
	h := startHerd(t, []string{"NO_COLOR=1"}, "run", "--host", "127.0.0.1", "-p", port, "--", bin, "-delay", "700ms")
	began := time.Now()
	waitOut(t, h, "cluster: ready", 1)
	if d := time.Since(began); d < 600*time.Millisecond {
		t.Fatalf("ready after %v, before the program served (700ms start-up)\n%s\nwhat /proc shows of herd's tree now:\n%s",
			d, h.stdout.String(), procDump(h.p.Pid))
	}
	if code, body, err := testutil.Get(context.Background(), "http://127.0.0.1:"+port+"/"); err != nil || code != 200 || body != "go 0" {
		t.Fatalf("GET = %d %q %v", code, body, err)
	}
	syscall.Kill(h.p.Pid, syscall.SIGTERM)
	if code := h.wait(t); code != 0 {
		t.Fatalf("exit %d\n%s", code, h.stderr.String())
	}
}

// A bad deploy of a Go program that dies during its start-up aborts the
// reload and keeps the old instances: herd does not count it ready before
// it accepts.
func TestRunGoReloadAbortsOnBadDeploy(t *testing.T) {
	bin := testutil.BuildGo(t.Context(), t, "./testdata/actapp")
	port := strconv.Itoa(testutil.FreePort(t))
	broken := filepath.Join(t.TempDir(), "broken")
	h := startHerd(t, []string{"NO_COLOR=1"}, "run", "-i", "2", "--host", "127.0.0.1", "-p", port, "--", bin, "-delay", "200ms", "-fail-if", broken)
	waitOut(t, h, "cluster: ready", 1)
	kids := testutil.ChildrenOf(t, h.p.Pid)
	os.WriteFile(broken, nil, 0o644)
	syscall.Kill(h.p.Pid, syscall.SIGHUP)
	testutil.WaitFor(t, "the aborted reload", func() bool {
		out := h.stdout.String()
		return strings.Contains(out, "bad deploy") && strings.Contains(strings.ToLower(out), "abort")
	})
	for _, k := range kids {
		if testutil.Gone(k) {
			t.Errorf("old instance %d was stopped by an aborted reload", k)
		}
	}
	if code, body, err := testutil.Get(context.Background(), "http://127.0.0.1:"+port+"/"); err != nil || code != 200 || !strings.HasPrefix(body, "go ") {
		t.Fatalf("old instances not serving: %d %q %v", code, body, err)
	}
	syscall.Kill(h.p.Pid, syscall.SIGTERM)
	if code := h.wait(t); code != 0 {
		t.Fatalf("exit %d\n%s", code, h.stdout.String())
	}
}

// A program that holds its socket but never serves gets a warning naming
// the socket herd passes.
func TestRunWarnsWhenGoProgramNeverAccepts(t *testing.T) {
	bin := testutil.BuildGo(t.Context(), t, "./testdata/actapp")
	port := strconv.Itoa(testutil.FreePort(t))
	h := startHerd(t, []string{"NO_COLOR=1"}, "run", "--host", "127.0.0.1", "-p", port, "--ready", "start", "--socket-warning", "300ms", "--", bin, "-hold")
	waitOut(t, h, "not accepting connections on its socket", 1)
	syscall.Kill(h.p.Pid, syscall.SIGTERM)
	if code := h.wait(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if strings.Contains(h.stdout.String(), "has not taken its socket") {
		t.Fatal("the Node warning for a Go program")
	}
}

func TestRunReloadNotifyUnderLoad(t *testing.T) {
	bin := testutil.BuildGo(t.Context(), t, "./testdata/actapp")
	port := testutil.FreePort(t)
	reloadUnderLoad(t, port, "run", "-i", "2", "--host", "127.0.0.1", "-p", strconv.Itoa(port), "--ready", "notify", "--", bin, "-notify", "-delay", "100ms")
}

func TestRunNotifyNeverReadyFailsBoot(t *testing.T) {
	bin := testutil.BuildGo(t.Context(), t, "./testdata/actapp")
	port := strconv.Itoa(testutil.FreePort(t))
	code, _, errOut := runHerd(t, nil, "run", "--host", "127.0.0.1", "-p", port, "--ready", "notify", "--ready-timeout", "500ms", "--", bin)
	if code != 1 || !strings.Contains(errOut, "not ready within") {
		t.Fatalf("exit %d, stderr %q; want 1, not ready", code, errOut)
	}
}

func TestRunStopUnderLoadFinishesInFlight(t *testing.T) {
	testutil.RequireNode(t)
	port := testutil.FreePort(t)
	app := writeApp(t, `require('http').createServer((req, res) => setTimeout(() => res.end('slow'), 400)).listen(process.env.PORT);`)
	h := startHerd(t, nil, "run", "-i", "2", "--host", "127.0.0.1", "-p", strconv.Itoa(port), "--", "node", app)
	waitOut(t, h, "cluster: ready", 1)
	kids := testutil.ChildrenOf(t, h.p.Pid)
	type result struct {
		code int
		err  error
	}
	const n = 6
	results := make(chan result, n)
	for range n {
		go func() {
			code, _, err := testutil.Get(context.Background(), "http://127.0.0.1:"+strconv.Itoa(port)+"/")
			results <- result{code, err}
		}()
	}
	time.Sleep(150 * time.Millisecond) // the requests are in flight
	syscall.Kill(h.p.Pid, syscall.SIGTERM)
	for range n {
		r := <-results
		if r.err != nil || r.code != 200 {
			t.Errorf("in-flight request: %d %v", r.code, r.err)
		}
	}
	if code := h.wait(t); code != 0 {
		t.Fatalf("exit %d\n%s", code, h.stderr.String())
	}
	if len(kids) != 2 {
		t.Fatalf("%d instances, want 2", len(kids))
	}
	for _, k := range kids {
		if !testutil.GroupGone(k) {
			t.Errorf("process group %d still has processes", k)
		}
	}
}

func netListen() (interface {
	Close() error
	Addr() net.Addr
}, error) {
	return net.Listen("tcp", "127.0.0.1:0")
}

func portOf(ln interface{ Addr() net.Addr }) int { return ln.Addr().(*net.TCPAddr).Port }

func TestRunMemoryLimitRestarts(t *testing.T) {
	testutil.RequireNode(t)
	app := writeApp(t, "const a = []; setInterval(() => { if (a.length < 20) a.push(Buffer.alloc(10 << 20, 1)); }, 50);\n")
	h := startHerd(t, []string{"NO_COLOR=1"}, "run", "--max-memory", "100M", "--memory-interval", "100ms", "--name", "hog", "--", "node", app)
	waitOut(t, h, "MiB over the limit of 100 MiB", 1)
	waitOut(t, h, "cluster: worker replaced", 1)
	syscall.Kill(h.p.Pid, syscall.SIGTERM)
	if code := h.wait(t); code != 0 {
		t.Fatalf("exit %d\n%s", code, h.stderr.String())
	}
}

func TestRunJSONAndLogFile(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "job.log")
	h := startHerd(t, nil, "run", "--json", "--name", "job", "--log-format", "herd", "--log-file", logPath, "--", "sh", "-c", "echo hello; exec sleep 30")
	waitOut(t, h, `"msg":"hello"`, 1)
	syscall.Kill(h.p.Pid, syscall.SIGTERM)
	if code := h.wait(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, line := range strings.Split(strings.TrimSpace(h.stdout.String()), "\n") {
		if !strings.HasPrefix(line, "{") {
			t.Errorf("not JSON: %q", line)
		}
	}
	if !strings.Contains(h.stdout.String(), `"msg":"hello","app":"job","instance":0,"stream":"stdout"`) {
		t.Errorf("no structured line:\n%s", h.stdout.String())
	}
	b, err := os.ReadFile(logPath)
	if err != nil || !strings.Contains(string(b), `"msg":"hello"`) {
		t.Errorf("log file: %q %v", b, err)
	}
}

func TestRunRestartPolicies(t *testing.T) {
	// never: both instances run once; one fails, so exit 1.
	code, out, errOut := runHerd(t, []string{"NO_COLOR=1"}, "run", "-i", "2", "--ready", "start", "--restart", "never", "--name", "once",
		"--", "sh", "-c", `echo ran $HERD_INSTANCE; exit $HERD_INSTANCE`)
	if code != 1 || strings.Count(out, "| ran ") != 2 || !strings.Contains(errOut, "1 instance(s) failed and were not restarted") {
		t.Fatalf("never: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	// on-failure: exit 0 is final; a failing instance restarts until it succeeds.
	dir := t.TempDir()
	code, out, errOut = runHerd(t, []string{"NO_COLOR=1"}, "run", "--ready", "start", "--restart", "on-failure", "--backoff", "10ms", "--name", "retry",
		"--", "sh", "-c", `echo x >> `+dir+`/runs; n=$(wc -l < `+dir+`/runs); echo run $n; [ $n -ge 3 ]`)
	if code != 0 || strings.Count(out, "| run ") != 3 {
		t.Fatalf("on-failure: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	// always with a stop exit code: exit 7 is final.
	code, out, _ = runHerd(t, []string{"NO_COLOR=1"}, "run", "--ready", "start", "--stop-exit-codes", "7", "--name", "stopper", "--", "sh", "-c", "echo go; exit 7")
	if code != 0 || strings.Count(out, "| go") != 1 {
		t.Fatalf("stop exit code: exit %d\n%s", code, out)
	}
}

func TestRunConfigFile(t *testing.T) {
	testutil.RequireNode(t)
	dir := t.TempDir()
	port := testutil.FreePort(t)
	os.WriteFile(filepath.Join(dir, "app.js"), []byte(helloApp), 0o644)
	cfg := `apps:
  - name: web
    script: app.js
    instances: 2
    host: 127.0.0.1
    ports: [` + strconv.Itoa(port) + `]
  - name: tick
    command: [sh, -c, 'echo "mode=$MODE"; exec sleep 30']
    env: {MODE: dev}
    env_production: {MODE: prod}
`
	p := filepath.Join(dir, "herd.yaml")
	os.WriteFile(p, []byte(cfg), 0o644)
	h := startHerd(t, []string{"NO_COLOR=1"}, "run", "-c", p, "--env", "production")
	waitOut(t, h, "tick[0] | mode=prod", 1)
	waitOut(t, h, "herd web | cluster: ready", 1)
	if code, body, err := testutil.Get(context.Background(), "http://127.0.0.1:"+strconv.Itoa(port)+"/"); err != nil || code != 200 || !strings.HasPrefix(body, "hello ") {
		t.Fatalf("GET = %d %q %v", code, body, err)
	}
	syscall.Kill(h.p.Pid, syscall.SIGTERM)
	if code := h.wait(t); code != 0 {
		t.Fatalf("exit %d\n%s", code, h.stderr.String())
	}
	// A bad line is reported with file and line, exit 1.
	os.WriteFile(p, []byte("apps:\n  - name: x\n    command: [true]\n    instances: none\n"), 0o644)
	code, _, errOut := runHerd(t, nil, "run", "-c", p)
	if code != 1 || !strings.Contains(errOut, p+":4: instances must be") {
		t.Fatalf("bad config: exit %d, %q", code, errOut)
	}
}

func TestRunReloadAbortsWhenNewInstanceFails(t *testing.T) {
	testutil.RequireNode(t)
	dir := t.TempDir()
	port := testutil.FreePort(t)
	broken := filepath.Join(dir, "broken")
	app := writeApp(t, `if (require('fs').existsSync(`+strconv.Quote(broken)+`)) { console.error('bad deploy'); process.exit(1); }
require('http').createServer((q, s) => s.end('v1')).listen(process.env.PORT);`)
	h := startHerd(t, []string{"NO_COLOR=1"}, "run", "-i", "2", "--host", "127.0.0.1", "-p", strconv.Itoa(port), "--", "node", app)
	waitOut(t, h, "cluster: ready", 1)
	kids := testutil.ChildrenOf(t, h.p.Pid)
	os.WriteFile(broken, nil, 0o644)
	syscall.Kill(h.p.Pid, syscall.SIGHUP)
	waitOut(t, h, "reload", 2) // "SIGHUP: rolling reload" and the abort
	testutil.WaitFor(t, "the aborted reload", func() bool {
		return strings.Contains(h.stdout.String(), "bad deploy") && strings.Contains(strings.ToLower(h.stdout.String()), "abort")
	})
	if code, body, err := testutil.Get(context.Background(), "http://127.0.0.1:"+strconv.Itoa(port)+"/"); err != nil || code != 200 || body != "v1" {
		t.Fatalf("old instances not serving: %d %q %v", code, body, err)
	}
	for _, k := range kids {
		if testutil.Gone(k) {
			t.Errorf("old instance %d was stopped by an aborted reload", k)
		}
	}
	syscall.Kill(h.p.Pid, syscall.SIGTERM)
	if code := h.wait(t); code != 0 {
		t.Fatalf("exit %d\n%s", code, h.stdout.String())
	}
}

// procDump describes, for a failure message, what the /proc readiness probe
// reads of pid's process tree: each process's command line and descriptors,
// its epoll sets' entries and its threads' system calls.
func procDump(pid int) string {
	var b strings.Builder
	for _, p := range procfs.Tree(pid) {
		cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(p) + "/cmdline")
		fmt.Fprintf(&b, "pid %d: %q\n", p, strings.ReplaceAll(string(cmdline), "\x00", " "))
		fds, _ := procfs.FDs(p)
		for _, fd := range fds {
			fmt.Fprintf(&b, "  fd %d -> %s\n", fd.Num, fd.Target)
			if fd.IsEpoll() {
				info, _ := procfs.Default.FDInfo(p, fd.Num)
				for _, l := range strings.Split(string(info), "\n") {
					if strings.HasPrefix(l, "tfd:") {
						fmt.Fprintf(&b, "    %s\n", l)
					}
				}
			}
		}
		tids, _ := procfs.Tasks(p)
		for _, tid := range tids {
			sc, _ := procfs.Default.TaskSyscall(p, tid)
			fmt.Fprintf(&b, "  task %d syscall %s\n", tid, strings.TrimSpace(string(sc)))
		}
	}
	return b.String()
}
