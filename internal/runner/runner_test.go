package runner

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/herdrun/herd/internal/supervise"
	"github.com/herdrun/herd/internal/testutil"
)

func TestMain(m *testing.M) {
	testutil.VerifyTestMain(m)
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"512": 512, "2K": 2048, "300M": 300 << 20, "1G": 1 << 30, "1.5GB": 3 << 29, "10MiB": 10 << 20} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "M", "-1", "12X"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) succeeded", bad)
		}
	}
}

func TestParseInstances(t *testing.T) {
	if n, err := ParseInstances("max"); err != nil || n != -1 {
		t.Errorf("max = %d, %v", n, err)
	}
	if n, err := ParseInstances("3"); err != nil || n != 3 {
		t.Errorf("3 = %d, %v", n, err)
	}
	if _, err := ParseInstances("-2"); err == nil {
		t.Error("-2 accepted")
	}
}

func TestValidate(t *testing.T) {
	a := App{}
	if err := a.Validate(); err != ErrNoCommand {
		t.Errorf("no command: %v", err)
	}
	a = App{Command: []string{"/no/such/thing"}}
	var nf *NotFoundError
	if err := a.Validate(); err == nil || !asNotFound(err, &nf) {
		t.Errorf("missing command: %v", err)
	}
	a = App{Command: []string{"node", "/srv/app/server.js"}}
	if err := a.Validate(); err == nil && a.Name != "server" {
		t.Errorf("name %q, want server", a.Name)
	}
	a = App{Command: []string{"sh"}, Ready: "soon"}
	if err := a.Validate(); err == nil {
		t.Error("bad ready accepted")
	}
}

func asNotFound(err error, target **NotFoundError) bool {
	nf, ok := err.(*NotFoundError)
	*target = nf
	return ok
}

func TestLinePrefixes(t *testing.T) {
	var out bytes.Buffer
	l := &Logs{Out: &out}
	tl := &tail{n: 2}
	w := &lineWriter{l: l, app: "web", instance: 1, stream: "stderr", tail: tl}
	fmt.Fprint(w, "one\ntw")
	fmt.Fprint(w, "o\nthree\n")
	if got, want := out.String(), "web[1] | one\nweb[1] | two\nweb[1] | three\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := tl.get(); len(got) != 2 || got[0] != "web[1] two" || got[1] != "web[1] three" {
		t.Errorf("tail %q", got)
	}
}

func TestColorAndFile(t *testing.T) {
	var out, file bytes.Buffer
	l := &Logs{Out: &out, Color: true, File: &file}
	w := &lineWriter{l: l, app: "web", instance: 0, stream: "stdout"}
	fmt.Fprint(w, "hi\n")
	if !strings.Contains(out.String(), "\x1b[") {
		t.Errorf("no color on Out: %q", out.String())
	}
	if file.String() != "web[0] | hi\n" {
		t.Errorf("file got %q", file.String())
	}
}

func TestJSONLogs(t *testing.T) {
	var out bytes.Buffer
	l := &Logs{Out: &out, JSON: true}
	w := &lineWriter{l: l, app: "api", instance: 2, stream: "stdout"}
	fmt.Fprint(w, "started\n")
	l.Logger("api").Info("instance ready", "pid", 7)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines: %q", len(lines), out.String())
	}
	var rec struct {
		Msg, App, Stream string
		Instance         int
	}
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil || rec.Msg != "started" || rec.App != "api" || rec.Instance != 2 || rec.Stream != "stdout" {
		t.Errorf("record %q: %+v %v", lines[0], rec, err)
	}
	if !strings.Contains(lines[1], `"msg":"instance ready"`) || !strings.Contains(lines[1], `"app":"api"`) {
		t.Errorf("herd line %q", lines[1])
	}
}

func TestRotatingFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "app.log")
	r, err := OpenRotating(p, 10, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		fmt.Fprintf(r, "line %d\n", i) // 7 bytes: one line per file
	}
	r.Close()
	for name, want := range map[string]string{"app.log": "line 4\n", "app.log.1": "line 3\n", "app.log.2": "line 2\n"} {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(p), name))
		if err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", name, b, err, want)
		}
	}
	if _, err := os.Stat(p + ".3"); !os.IsNotExist(err) {
		t.Errorf("app.log.3 kept: %v", err)
	}
}

func TestTreeRSS(t *testing.T) {
	// A shell that forks a sleep (no exec: "; exit"): its tree is two
	// processes, each with some resident memory.
	cmd := exec.Command("/bin/sh", "-c", "sleep 30; exit 0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() }()
	sh, _ := supervise.ReadStats(cmd.Process.Pid)
	testutil.WaitFor(t, "the sleep", func() bool { return len(supervise.Tree(cmd.Process.Pid)) == 2 })
	if rss := treeRSS(cmd.Process.Pid); rss <= sh.RSS {
		t.Errorf("treeRSS = %d, want more than the shell's own %d", rss, sh.RSS)
	}
	if rss := treeRSS(1 << 22); rss != 0 {
		t.Errorf("treeRSS(no such pid) = %d", rss)
	}
}
