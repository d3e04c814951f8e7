package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/herdrun/herd/cmd/herd/internal/app"
	"github.com/herdrun/herd/cmd/herd/internal/logsink"
	"github.com/herdrun/herd/internal/testutil"
)

// runApp runs app (restart never, ready at start) with logs until its
// instances exit.
func runApp(t *testing.T, a app.App, logs *logsink.Logs) {
	t.Helper()
	a.Ready, a.Restart = app.ReadyStart, app.RestartNever
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	r, err := New(a, logs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestAppFilesSplitTimestampNoColor(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	logs := &logsink.Logs{Out: &out, Color: true}
	a := app.App{
		Name:      "web",
		Command:   []string{"sh", "-c", `echo out 1; printf '\033[31mred\033[0m\n'; echo err 1 >&2`},
		LogFile:   filepath.Join(dir, "web.log"),
		OutFile:   filepath.Join(dir, "web.out"),
		ErrorFile: filepath.Join(dir, "web.err"),
	}
	runApp(t, a, logs)
	if !strings.Contains(out.String(), "\x1b[") {
		t.Errorf("console not colored: %q", out.String())
	}
	for _, name := range []string{"web.log", "web.out", "web.err"} {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		if bytes.IndexByte(b, 0x1b) >= 0 {
			t.Errorf("%s has color codes: %q", name, b)
		}
	}
	if got, want := testutil.Unstamped(t, a.OutFile), []string{"web[0] | out 1", "web[0] | red"}; !reflect.DeepEqual(got, want) {
		t.Errorf("web.out = %q, want %q", got, want)
	}
	if got, want := testutil.Unstamped(t, a.ErrorFile), []string{"web[0] | err 1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("web.err = %q, want %q", got, want)
	}
	all := strings.Join(testutil.Unstamped(t, a.LogFile), "\n")
	for _, want := range []string{"web[0] | out 1", "web[0] | red", "web[0] | err 1", "herd web | starting 1 instance(s)"} {
		if !strings.Contains(all, want) {
			t.Errorf("web.log lacks %q:\n%s", want, all)
		}
	}
	// A timestamp is the time of the line.
	first := testutil.ReadLines(t, a.LogFile)[0]
	ts, err := time.Parse("2006-01-02T15:04:05.000Z07:00", first[:testutil.LogStamp.FindStringIndex(first)[1]-1])
	if err != nil || time.Since(ts) > time.Minute || time.Since(ts) < -time.Second {
		t.Errorf("timestamp of %q: %v %v", first, ts, err)
	}
}

func TestAppFilesJSON(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	logs := &logsink.Logs{Out: &out, JSON: true, Color: true}
	a := app.App{
		Name:    "api",
		Command: []string{"sh", "-c", "echo hello; echo oops >&2"},
		LogFile: filepath.Join(dir, "api.log"),
		OutFile: filepath.Join(dir, "api.out"),
	}
	runApp(t, a, logs)
	streams := map[string]int{}
	for _, l := range testutil.ReadLines(t, a.LogFile) {
		var rec struct{ Time, Msg, App, Stream string }
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec.App != "api" || rec.Time == "" {
			t.Errorf("api.log line %q: %+v %v", l, rec, err)
		}
		streams[rec.Stream]++
	}
	if streams["stdout"] != 1 || streams["stderr"] != 1 || streams[""] == 0 {
		t.Errorf("api.log streams %v: want 1 stdout, 1 stderr, herd's lines", streams)
	}
	lines := testutil.ReadLines(t, a.OutFile)
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "{") || !strings.Contains(lines[0], `"msg":"hello","app":"api","instance":0,"stream":"stdout"`) {
		t.Errorf("api.out = %q", lines)
	}
}

func TestAppFilesSharedPath(t *testing.T) {
	dir := t.TempDir()
	shared := filepath.Join(dir, "shared.log")
	var out bytes.Buffer
	logs := &logsink.Logs{Out: &out}
	one := app.App{Name: "one", Command: []string{"sh", "-c", "echo one-out; echo one-err >&2"}, Ready: app.ReadyStart, Restart: app.RestartNever,
		LogFile: shared, OutFile: shared} // the same file twice: each line once
	two := app.App{Name: "two", Command: []string{"sh", "-c", "echo two-out; echo two-err >&2"}, Ready: app.ReadyStart, Restart: app.RestartNever,
		ErrorFile: shared, OutFile: filepath.Join(dir, "two.out")}
	var rs []*Runner
	for _, a := range []app.App{one, two} {
		if err := a.Validate(); err != nil {
			t.Fatal(err)
		}
		r, err := New(a, logs)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	if n := testutil.FDsOn(t, shared); n != 1 {
		t.Errorf("%d descriptors open on the shared path, want 1", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := RunAll(ctx, rs); err != nil {
		t.Fatal(err)
	}
	if n := testutil.FDsOn(t, shared) + testutil.FDsOn(t, filepath.Join(dir, "two.out")); n != 0 {
		t.Errorf("%d descriptors still open after Run", n)
	}
	got := strings.Join(testutil.Unstamped(t, shared), "\n")
	for _, want := range []string{"one[0] | one-out", "one[0] | one-err", "two[0] | two-err"} {
		if c := strings.Count(got, want); c != 1 {
			t.Errorf("shared.log has %q %d times, want once:\n%s", want, c, got)
		}
	}
	if !strings.Contains(got, "herd one | ") {
		t.Errorf("shared.log lacks herd's lines about one:\n%s", got)
	}
	if strings.Contains(got, "two-out") || strings.Contains(got, "herd two") {
		t.Errorf("shared.log has lines of two that are not stderr:\n%s", got)
	}
	if rs[0].Close() != nil || rs[1].Close() != nil {
		t.Error("a second Close failed")
	}
}

func TestAppFileSharesGlobalFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "all.log")
	g, err := logsink.OpenRotating(p, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	logs := &logsink.Logs{File: g}
	runApp(t, app.App{Name: "web", Command: []string{"sh", "-c", "echo hi; echo oops >&2"}, OutFile: p}, logs)
	if n := testutil.FDsOn(t, p); n != 1 {
		t.Errorf("%d descriptors open on the global file, want 1", n)
	}
	b, _ := os.ReadFile(p)
	if c := strings.Count(string(b), "web[0] | hi"); c != 1 {
		t.Errorf("stdout line %d times, want once:\n%s", c, b)
	}
	if !strings.Contains(string(b), "\nweb[0] | oops\n") && !strings.HasPrefix(string(b), "web[0] | oops\n") {
		t.Errorf("stderr line not in the global file as a plain line:\n%s", b)
	}
	if _, err := g.Write([]byte("global still open\n")); err != nil {
		t.Errorf("the app closed the global file: %v", err)
	}
}

func TestAppFileOpenError(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ path, cause string }{
		{filepath.Join(dir, "no", "such", "dir.log"), "no such file or directory"},
		{dir, "is a directory"},
	} {
		good := filepath.Join(dir, "good.log")
		_, err := New(app.App{Name: "web", Command: []string{"sh"}, LogFile: good, ErrorFile: tc.path}, &logsink.Logs{})
		var le *logsink.LogFileError
		want := "app web: log file " + tc.path + ": " + tc.cause
		if !errors.As(err, &le) || err.Error() != want {
			t.Errorf("error %v, want %q", err, want)
		}
		if n := testutil.FDsOn(t, good); n != 0 {
			t.Errorf("%d descriptors left open on the file opened before the failure", n)
		}
	}
	// Relative paths are relative to the working directory.
	t.Chdir(dir)
	r, err := New(app.App{Name: "rel", Command: []string{"sh"}, LogFile: "rel.log"}, &logsink.Logs{})
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if n := testutil.FDsOn(t, filepath.Join(wd, "rel.log")); n != 1 {
		t.Errorf("relative path: %d descriptors", n)
	}
	if err := r.Close(); err != nil {
		t.Error(err)
	}
}

// An app whose stdout and stderr go to files of their own, besides the
// console.
func ExampleNew_logFiles() {
	dir, err := os.MkdirTemp("", "herd-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	a := app.App{
		Name:      "hello",
		Command:   []string{"sh", "-c", "echo hi; echo oops >&2"},
		Ready:     app.ReadyStart,
		Restart:   app.RestartNever,
		OutFile:   filepath.Join(dir, "hello.out.log"),
		ErrorFile: filepath.Join(dir, "hello.err.log"),
		LogKeep:   3, // hello.out.log.1 ... .3 once a file passes 10 MiB
	}
	if err := a.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	r, err := New(a, &logsink.Logs{}) // no console here
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	fmt.Println(r.Run(ctx))
	for _, name := range []string{"hello.out.log", "hello.err.log"} {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		_, line, _ := strings.Cut(string(b), " ") // after the timestamp
		fmt.Printf("%s: %s", name, line)
	}
	// Output:
	// <nil>
	// hello.out.log: hello[0] | hi
	// hello.err.log: hello[0] | oops
}

// New warns about the ecosystem keys herd does not act on.
func TestUnsupportedKeysWarn(t *testing.T) {
	var out testutil.SyncBuffer
	r, err := New(app.App{Name: "api", Command: []string{"sh"}, Unsupported: []string{"cron_restart", "watch"}}, &logsink.Logs{Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if want := "herd api | WARN ecosystem keys herd does not support are ignored: cron_restart, watch"; !strings.Contains(out.String(), want) {
		t.Fatalf("output %q, want %q", out.String(), want)
	}
}
