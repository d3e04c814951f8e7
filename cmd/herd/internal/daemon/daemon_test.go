package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herdrun/herd/cmd/herd/internal/app"
	"github.com/herdrun/herd/internal/guard"
	"github.com/herdrun/herd/internal/testutil"
)

// TestMain doubles as a guard (internal/guard), for the tests of
// instance trees under one.
func TestMain(m *testing.M) {
	if code, ok := guard.Dispatch(os.Args); ok {
		os.Exit(code)
	}
	testutil.VerifyTestMain(m)
}

func dumpOf(names ...string) Dump {
	d := Dump{Format: DumpFormat, Herd: "test", Saved: time.Unix(1700000000, 0).UTC()}
	for _, n := range names {
		d.Apps = append(d.Apps, DumpedApp{Spec: Spec{App: app.App{Name: n, Command: []string{"/bin/sleep", "1"}}, Env: []string{"A=1"}}})
	}
	return d
}

// WriteDump keeps the previous dump as .bak, both private; ReadDump falls
// back on the .bak when the dump is corrupt or missing, and says so.
func TestDumpAndBackup(t *testing.T) {
	p := filepath.Join(t.TempDir(), "dump.json")
	if bak, err := WriteDump(p, dumpOf("a")); err != nil || bak != "" {
		t.Fatalf("first write: %q %v", bak, err)
	}
	if bak, err := WriteDump(p, dumpOf("a", "b")); err != nil || bak != p+".bak" {
		t.Fatalf("second write: %q %v", bak, err)
	}
	for _, f := range []string{p, p + ".bak"} {
		if st, err := os.Stat(f); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f, st.Mode(), err)
		}
	}
	d, note, err := ReadDump(p)
	if err != nil || note != "" || len(d.Apps) != 2 {
		t.Fatalf("read: %d apps, %q, %v", len(d.Apps), note, err)
	}
	os.WriteFile(p, []byte(`{"format": 1, "apps": [`), 0o600)
	d, note, err = ReadDump(p)
	if err != nil || len(d.Apps) != 1 || !strings.Contains(note, "is corrupt") || !strings.Contains(note, "restored from the backup "+p+".bak") {
		t.Fatalf("corrupt: %d apps, %q, %v", len(d.Apps), note, err)
	}
	os.Remove(p)
	if d, note, err = ReadDump(p); err != nil || len(d.Apps) != 1 || !strings.Contains(note, "no such file") {
		t.Fatalf("missing: %d apps, %q, %v", len(d.Apps), note, err)
	}
	os.Remove(p + ".bak")
	if _, _, err = ReadDump(p); err == nil || err.Error() != "no saved process list at "+p+": herd save writes one" {
		t.Fatalf("neither: %v", err)
	}
	// A dump of another format, or with a bad app, is refused by name.
	os.WriteFile(p, []byte(`{"format": 2, "apps": []}`), 0o600)
	if _, _, err = ReadDump(p); err == nil || !strings.Contains(err.Error(), "format 2, this herd reads format 1") {
		t.Fatalf("format: %v", err)
	}
	os.WriteFile(p, []byte(`{"format": 1, "apps": [{"app": {"name": "x", "command": []}}]}`), 0o600)
	if _, _, err = ReadDump(p); err == nil || !strings.Contains(err.Error(), "app 0: app x: no command to run") {
		t.Fatalf("bad app: %v", err)
	}
}

// A write that fails leaves the previous dump and no temporary file.
func TestWriteDumpFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "dump.json")
	if _, err := WriteDump(p, dumpOf("a")); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(p)
	if os.Getuid() == 0 {
		t.Skip("root writes into a read-only directory")
	}
	os.Chmod(dir, 0o500)
	defer os.Chmod(dir, 0o700)
	if _, err := WriteDump(p, dumpOf("a", "b")); err == nil || !strings.Contains(err.Error(), "the previous dump is kept") {
		t.Fatalf("write: %v", err)
	}
	after, _ := os.ReadFile(p)
	if string(after) != string(before) {
		t.Fatal("the dump changed")
	}
}

func TestParseLineRoundTrip(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)
	for _, l := range []LogLine{
		{Time: at, App: "web", Instance: 3, Stream: "stderr", Msg: "boom | with a bar"},
		{Time: at, App: "a[1]", Instance: 0, Stream: "stdout", Msg: ""},
		{Time: at, App: "web", Instance: -1, Stream: "herd", Msg: "instance ready instance=0"},
	} {
		s := formatLine(l)
		got, ok := parseLine(strings.TrimSuffix(s, "\n"), l.Stream)
		if !ok || !got.Time.Equal(l.Time) || got.App != l.App || got.Instance != l.Instance || got.Stream != l.Stream || got.Msg != l.Msg {
			t.Errorf("%q: got %+v %v, want %+v", s, got, ok, l)
		}
	}
	for _, bad := range []string{"", "x", "2026-01-02T03:04:05.006Z", "2026-01-02T03:04:05.006Z web | x", "2026-01-02T03:04:05.006Z web[x] | y"} {
		if l, ok := parseLine(bad, "stdout"); ok {
			t.Errorf("%q parsed as %+v", bad, l)
		}
	}
}

func TestTailLines(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	var b strings.Builder
	for i := range 20000 {
		b.WriteString(strings.Repeat("x", i%50) + "|" + string(rune('a'+i%26)) + "\n")
	}
	os.WriteFile(p, []byte(b.String()), 0o600)
	all := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	for _, n := range []int{0, 1, 7, 5000, 20000, 30000} {
		got := tailLines(p, n)
		want := all[max(len(all)-n, 0):]
		if n == 0 {
			want = nil
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("tail %d: %d lines, want %d", n, len(got), len(want))
		}
	}
	if tailLines(filepath.Join(t.TempDir(), "none"), 5) != nil {
		t.Error("lines of a missing file")
	}
}

// A daemon in this process: start an app, list it, refuse an unknown one,
// save, kill; Run returns and the socket and pid file are gone.
func TestDaemonRunsApps(t *testing.T) {
	h := HomeAt(filepath.Join(t.TempDir(), "home"))
	d := New(Config{Home: h, Version: "test-1"})
	ran := make(chan error, 1)
	go func() { ran <- d.Run(context.Background()) }()
	c := NewClient(h, "test-1")
	defer c.Close()
	ctx := t.Context()
	testutil.WaitFor(t, "the daemon", func() bool { _, err := c.Ping(ctx); return err == nil })
	if st, err := os.Stat(h.Sock); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("socket: %v %v", st.Mode(), err)
	}
	if st, err := os.Stat(h.Dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("home: %v %v", st.Mode(), err)
	}
	// A second daemon on the same Home refuses to run.
	if err := New(Config{Home: h, Version: "test-1"}).Run(ctx); !errors.Is(err, ErrRunning) {
		t.Fatalf("second daemon: %v", err)
	}
	rs, err := c.Start(ctx, []Spec{{App: app.App{Name: "s", Command: []string{"/bin/sh", "-c", "echo up $X; exec sleep 300"}, Instances: 2}, Env: []string{"X=1"}}})
	if err != nil || len(rs.Results) != 1 || !rs.Results[0].OK {
		t.Fatalf("start: %+v %v", rs, err)
	}
	l, err := c.List(ctx)
	if err != nil || len(l.Apps) != 1 || l.Apps[0].Status != StatusOnline || len(l.Apps[0].Pids) != 2 {
		t.Fatalf("list: %+v %v", l, err)
	}
	var lines []string
	testutil.WaitFor(t, "both lines", func() bool {
		lines = nil
		err := c.Logs(ctx, "s", 10, "stdout", false, func(l LogLine) error { lines = append(lines, l.Msg); return nil })
		return err == nil && len(lines) == 2
	})
	if lines[0] != "up 1" || lines[1] != "up 1" {
		t.Errorf("logs: %q", lines)
	}
	// Follow: the lines of a ticker as they come.
	rs, err = c.Start(ctx, []Spec{{App: app.App{Name: "tick", Command: []string{"/bin/sh", "-c", "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.05; done"}}}})
	if err != nil || !rs.Results[0].OK {
		t.Fatalf("start tick: %+v %v", rs, err)
	}
	errEnough := errors.New("enough")
	var ticks []string
	err = c.Logs(ctx, "tick", 0, "", true, func(l LogLine) error {
		if l.Stream == "stdout" {
			ticks = append(ticks, l.Msg)
		}
		if len(ticks) == 5 {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) {
		t.Fatalf("follow: %v after %q", err, ticks)
	}
	for i := 1; i < len(ticks); i++ {
		var a, b int
		fmt.Sscanf(ticks[i-1], "tick %d", &a)
		fmt.Sscanf(ticks[i], "tick %d", &b)
		if b != a+1 {
			t.Errorf("follow: %q are not consecutive", ticks)
		}
	}
	// Events: a stop of tick is seen as "stopped".
	evc := make(chan Event, 16)
	ectx, ecancel := context.WithCancel(ctx)
	evDone := make(chan error, 1)
	go func() {
		evDone <- c.Events(ectx, func(e Event) error { evc <- e; return nil })
	}()
	// The stream is open once a state change reaches it: scale until one does.
	for seen := false; !seen; {
		if _, err := c.Action(ctx, "tick", "scale", ActionRequest{Instances: "1"}); err != nil {
			t.Fatal(err)
		}
		select {
		case e := <-evc:
			seen = e.App == "tick" && e.Event == "scaled"
		case <-time.After(100 * time.Millisecond):
		}
	}
	if rs, err := c.Action(ctx, "tick", "stop", ActionRequest{}); err != nil || !rs.Results[0].OK {
		t.Fatalf("stop tick: %+v %v", rs, err)
	}
	for stopped, deadline := false, time.After(30*time.Second); !stopped; {
		select {
		case e := <-evc:
			stopped = e.App == "tick" && e.Event == StatusStopped
		case <-deadline:
			t.Fatal("no stopped event for tick")
		}
	}
	ecancel()
	if err := <-evDone; err != nil {
		t.Errorf("events: %v", err)
	}
	if _, err := c.Action(ctx, "nope", "stop", ActionRequest{}); err == nil || err.Error() != "no app named nope: herd ls lists the apps (names and ids)" {
		t.Errorf("unknown app: %v", err)
	}
	other := NewClient(h, "test-2")
	defer other.Close()
	if _, err := other.List(ctx); !errors.Is(err, ErrVersionMismatch) {
		t.Errorf("another version: %v", err)
	}
	if _, err := c.Save(ctx, false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ran:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not return after kill")
	}
	for _, p := range []string{h.Sock, h.Pid} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left: %v", p, err)
		}
	}
	if _, err := c.Ping(ctx); !errors.Is(err, ErrNoDaemon) {
		t.Errorf("ping after kill: %v", err)
	}
}

// herd logs --lines N reads on into the rotated files (NAME-out.log.1,
// .2, ...) when the current one holds fewer than N lines, and returns
// every line once, in order.
func TestHistoryReadsRotatedFiles(t *testing.T) {
	dir := t.TempDir()
	h := newHub(dir)
	a := app.App{Name: "web", Command: []string{"/bin/true"}, LogMaxSize: 4096, LogKeep: 3}
	if err := h.open(a); err != nil {
		t.Fatal(err)
	}
	defer h.close("web")
	base := time.Unix(1700000000, 0).UTC()
	const total = 500
	for i := range total {
		h.publish(LogLine{Time: base.Add(time.Duration(i) * time.Millisecond), App: "web", Instance: 0, Stream: "stdout", Msg: fmt.Sprintf("line %d", i)})
	}
	rotated, _ := filepath.Glob(filepath.Join(dir, "web-out.log.*"))
	cur := len(tailLines(filepath.Join(dir, "web-out.log"), total))
	if len(rotated) < 2 || cur >= 200 {
		t.Fatalf("%d rotated files, %d lines in the current one: the test needs at least 2 and fewer than 200", len(rotated), cur)
	}
	for _, n := range []int{cur, cur + 1, 200} {
		got := h.history([]string{"web"}, n, "")
		if len(got) != n {
			t.Fatalf("history(%d): %d lines", n, len(got))
		}
		for i, l := range got {
			if want := fmt.Sprintf("line %d", total-n+i); l.Msg != want {
				t.Fatalf("history(%d): line %d is %q, want %q", n, i, l.Msg, want)
			}
		}
	}
	// More than every file holds: all that is kept, in order.
	all := h.history([]string{"web"}, 10*total, "")
	if len(all) == 0 || len(all) >= total || all[len(all)-1].Msg != fmt.Sprintf("line %d", total-1) {
		t.Fatalf("history(all): %d lines, last %+v", len(all), all[len(all)-1])
	}
	first := 0
	fmt.Sscanf(all[0].Msg, "line %d", &first)
	for i, l := range all {
		if want := fmt.Sprintf("line %d", first+i); l.Msg != want {
			t.Fatalf("history(all): line %d is %q, want %q", i, l.Msg, want)
		}
	}
}
