package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/herdrun/herd/internal/testutil"
)

// cleanupApp is a Node app written from PM2's docs: it cleans up on
// SIGINT, PM2's stop signal, and exits.
const cleanupApp = `process.on('SIGINT', () => {
  console.log('cleanup ran ' + process.env.NODE_APP_INSTANCE + ' ' + process.pid);
  process.exit(0);
});
console.log('up ' + process.env.NODE_APP_INSTANCE + ' ' + process.pid);
setInterval(() => {}, 1000);
`

// An app of an ecosystem file gets PM2's SIGINT at every stop: each of
// the 2 instances replaced by a reload and each of the 2 stopped at the
// end runs its cleanup, 4 of 4, and none is killed.
func TestRunEcosystemStopsWithSIGINT(t *testing.T) {
	testutil.RequireNode(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "app.js"), []byte(cleanupApp), 0o644)
	p := filepath.Join(dir, "ecosystem.config.js")
	os.WriteFile(p, []byte(`module.exports = { apps: [{ name: 'tidy', script: 'app.js', instances: 2, exec_mode: 'fork' }] };`+"\n"), 0o644)
	h := startHerd(t, []string{"NO_COLOR=1"}, "run", "-c", p)
	waitOut(t, h, "tidy[0] | up 0 ", 1)
	waitOut(t, h, "tidy[1] | up 1 ", 1)
	syscall.Kill(h.p.Pid, syscall.SIGHUP)
	waitOut(t, h, "| cleanup ran ", 2)
	waitOut(t, h, "tidy[0] | up 0 ", 2)
	waitOut(t, h, "tidy[1] | up 1 ", 2)
	syscall.Kill(h.p.Pid, syscall.SIGTERM)
	if code := h.wait(t); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, h.stdout.String(), h.stderr.String())
	}
	out := h.stdout.String()
	ups, cleanups := strings.Count(out, "| up "), strings.Count(out, "| cleanup ran ")
	if ups != 4 || cleanups != 4 || strings.Contains(out, "SIGKILL") {
		t.Fatalf("%d starts, %d cleanups (want 4 and 4, no SIGKILL)\n%s", ups, cleanups, out)
	}
	// Every pid that started cleaned up.
	for l := range strings.Lines(out) {
		if _, rest, ok := strings.Cut(l, "| up "); ok {
			if !strings.Contains(out, "| cleanup ran "+strings.TrimSpace(rest)+"\n") {
				t.Errorf("instance %s did not clean up\n%s", strings.TrimSpace(rest), out)
			}
		}
	}

	// herd.yaml documents its own default, SIGTERM, which skips the
	// handler; kill_signal asks for SIGINT.
	y := filepath.Join(dir, "herd.yaml")
	for _, tc := range []struct {
		extra string
		want  int
	}{{"", 0}, {"    kill_signal: SIGINT\n", 1}} {
		os.WriteFile(y, []byte("apps:\n  - name: tidy\n    script: app.js\n"+tc.extra), 0o644)
		h := startHerd(t, []string{"NO_COLOR=1"}, "run", "-c", y)
		waitOut(t, h, "tidy[0] | up 0 ", 1)
		syscall.Kill(h.p.Pid, syscall.SIGTERM)
		if code := h.wait(t); code != 0 {
			t.Fatalf("herd.yaml %q: exit %d\n%s", tc.extra, code, h.stderr.String())
		}
		if n := strings.Count(h.stdout.String(), "| cleanup ran "); n != tc.want {
			t.Errorf("herd.yaml %q: %d cleanups, want %d\n%s", tc.extra, n, tc.want, h.stdout.String())
		}
	}
}

// --only NAME[,NAME] runs those apps of a file, as PM2's --only; a name
// the file does not have is a usage error that lists the names it has.
func TestRunOnly(t *testing.T) {
	dir := t.TempDir()
	y := filepath.Join(dir, "herd.yaml")
	os.WriteFile(y, []byte(`apps:
  - name: prod
    command: [sh, -c, 'echo prod ran']
    restart: never
  - name: dev
    command: [sh, -c, 'echo dev ran']
    restart: never
  - command: [sh, -c, 'echo unnamed ran']
    restart: never
`), 0o644)
	code, out, errOut := runHerd(t, []string{"NO_COLOR=1"}, "run", "-c", y, "--only", "prod,sh")
	if code != 0 || !strings.Contains(out, "prod[0] | prod ran") || !strings.Contains(out, "sh[0] | unnamed ran") || strings.Contains(out, "dev ran") {
		t.Errorf("--only prod,sh: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	code, out, errOut = runHerd(t, []string{"NO_COLOR=1"}, "run", "-c", y, "--only", "dev")
	if code != 0 || !strings.Contains(out, "dev[0] | dev ran") || strings.Contains(out, "prod ran") {
		t.Errorf("--only dev: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	code, _, errOut = runHerd(t, nil, "run", "-c", y, "--only", "prod,staging")
	if want := "--only staging: no such app in " + y + " (its apps: prod, dev, sh)"; code != 2 || !strings.Contains(errOut, want) {
		t.Errorf("--only staging: exit %d, stderr %q, want 2 and %q", code, errOut, want)
	}
	code, _, errOut = runHerd(t, nil, "run", "--only", "prod", "--", "true")
	if code != 2 || !strings.Contains(errOut, "--only needs --config") {
		t.Errorf("--only without --config: exit %d, stderr %q", code, errOut)
	}
}

// The interpreters herd infers run for real: a script with shell
// operators under bash -c, .py under python3, .sh under bash, a text file
// without an extension under node, a program found in PATH.
func TestRunEcosystemInterpreters(t *testing.T) {
	testutil.RequireNode(t)
	dir := t.TempDir()
	files := map[string]string{
		"job.py":     "import sys\nprint('py', sys.argv[1])\n",
		"job.sh":     "[ -n \"$BASH_VERSION\" ] && echo bash $1\n",
		"bin/worker": "console.log('node', process.argv[2])\n", // no extension, not executable
	}
	for name, src := range files {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755)
		os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644)
	}
	py := `{"name": "py", "script": "job.py", "args": "ok", "autorestart": false},`
	wants := []string{"chain[0] | one\n", "chain[0] | TWO\n", "py[0] | py ok\n", "sh[0] | bash ok\n", "www[0] | node ok\n", "path[0] | --from-path\n"}
	if _, err := exec.LookPath("python3"); err != nil {
		py, wants = "", slices.DeleteFunc(wants, func(s string) bool { return strings.HasPrefix(s, "py[") })
	}
	p := filepath.Join(dir, "ecosystem.json")
	os.WriteFile(p, []byte(`{"apps": [
  {"name": "chain", "script": "echo one && echo two | tr a-z A-Z", "autorestart": false},
  `+py+`
  {"name": "sh", "script": "job.sh", "args": ["ok"], "autorestart": false},
  {"name": "www", "script": "bin/worker", "args": "ok", "autorestart": false},
  {"name": "path", "script": "echo", "args": "--from-path", "interpreter": "none", "autorestart": false}
]}`), 0o644)
	code, out, errOut := runHerd(t, []string{"NO_COLOR=1"}, "run", "-c", p)
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if code != 0 || t.Failed() {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

// A file with a prod and a dev app on the same port: started together,
// one of them fails with EADDRINUSE and the hint names the other app and
// --only (not the shared socket of cluster mode); with --only, one runs.
func TestRunForkPortInUseHint(t *testing.T) {
	testutil.RequireNode(t)
	dir := t.TempDir()
	port := strconv.Itoa(testutil.FreePort(t))
	os.WriteFile(filepath.Join(dir, "server.js"), []byte(`require('http').createServer((q, s) => s.end('ok')).listen(process.env.PORT, '127.0.0.1', () => console.log('listening'));`+"\n"), 0o644)
	p := filepath.Join(dir, "ecosystem.config.js")
	os.WriteFile(p, []byte(`module.exports = { apps: [
  { name: 'prod', script: 'server.js', autorestart: false, env: { PORT: `+port+` } },
  { name: 'dev', script: 'server.js', autorestart: false, env: { PORT: `+port+`, NODE_ENV: 'development' } },
] };
`), 0o644)
	code, out, errOut := runHerd(t, []string{"NO_COLOR=1"}, "run", "-c", p)
	if code != 1 || !strings.Contains(errOut, "EADDRINUSE") || !strings.Contains(errOut, "hint: another process holds the port the app binds: another app of the config file (run one with --only NAME") ||
		strings.Contains(errOut, "herd already holds") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	h := startHerd(t, []string{"NO_COLOR=1"}, "run", "-c", p, "--only", "prod")
	waitOut(t, h, "prod[0] | listening", 1)
	syscall.Kill(h.p.Pid, syscall.SIGTERM)
	if code := h.wait(t); code != 0 || strings.Contains(h.stdout.String(), "dev") {
		t.Fatalf("--only prod: exit %d\n%s\n%s", code, h.stdout.String(), h.stderr.String())
	}
}
