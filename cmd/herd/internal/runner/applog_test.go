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
	"slices"
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
		LogFormat: app.LogFormatHerd,
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
		LogFormat: app.LogFormatHerd,
		Name:      "api",
		Command:   []string{"sh", "-c", "echo hello; echo oops >&2"},
		LogFile:   filepath.Join(dir, "api.log"),
		OutFile:   filepath.Join(dir, "api.out"),
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
	one := app.App{Name: "one", Command: []string{"sh", "-c", "echo one-out; echo one-err >&2"}, Ready: app.ReadyStart, Restart: app.RestartNever, LogFormat: app.LogFormatHerd,
		LogFile: shared, OutFile: shared} // the same file twice: each line once
	two := app.App{Name: "two", Command: []string{"sh", "-c", "echo two-out; echo two-err >&2"}, Ready: app.ReadyStart, Restart: app.RestartNever, LogFormat: app.LogFormatHerd,
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
	runApp(t, app.App{Name: "web", Command: []string{"sh", "-c", "echo hi; echo oops >&2"}, OutFile: p, LogFormat: app.LogFormatHerd}, logs)
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
	good := filepath.Join(dir, "good.log")
	os.WriteFile(good, nil, 0o644)
	for _, tc := range []struct{ path, cause string }{
		{filepath.Join(good, "sub", "x.log"), "creating its folder " + filepath.Join(good, "sub") + ": mkdir " + good + ": not a directory"},
		{dir, "is a directory"},
	} {
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
	// A missing folder is created, as PM2 does, and herd says so.
	var out testutil.SyncBuffer
	deep := filepath.Join(dir, "logs", "web", "out.log")
	runApp(t, app.App{Name: "web", Command: []string{"sh", "-c", "echo hi"}, OutFile: deep}, &logsink.Logs{Out: &out})
	if b, err := os.ReadFile(deep); err != nil || string(b) != "hi\n" {
		t.Errorf("%s: %q %v", deep, b, err)
	}
	if want := "herd web | created the log folder " + filepath.Dir(deep); !strings.Contains(out.String(), want) {
		t.Errorf("output %q, want %q", out.String(), want)
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
// console: the app's lines as it wrote them, as PM2 writes its files.
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
		fmt.Printf("%s: %s", name, b)
	}
	// Output:
	// <nil>
	// hello.out.log: hi
	// hello.err.log: oops
}

// New logs the config reader's warnings about the app, one a line.
func TestWarningsLogged(t *testing.T) {
	var out testutil.SyncBuffer
	r, err := New(app.App{Name: "api", Command: []string{"sh"}, Warnings: []string{"cron_restart: ignored: no cron", "watch: ignored: no watching"}}, &logsink.Logs{Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, want := range []string{"herd api | WARN cron_restart: ignored: no cron\n", "herd api | WARN watch: ignored: no watching\n"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output %q, want %q", out.String(), want)
		}
	}
}

// By default an app's files hold its lines as it wrote them, as PM2's do:
// no prefix, no herd lines, and a time only with LogDateFormat.
func TestAppFilesRaw(t *testing.T) {
	dir := t.TempDir()
	var out testutil.SyncBuffer
	a := app.App{Name: "web", Command: []string{"sh", "-c", `echo "out 1"; echo "  spaced | x"; echo err 1 >&2`},
		LogFile: filepath.Join(dir, "all.log"), OutFile: filepath.Join(dir, "out.log")}
	runApp(t, a, &logsink.Logs{Out: &out})
	if b, _ := os.ReadFile(filepath.Join(dir, "out.log")); string(b) != "out 1\n  spaced | x\n" {
		t.Errorf("out.log = %q", b)
	}
	lines := testutil.ReadLines(t, filepath.Join(dir, "all.log"))
	slices.Sort(lines)
	if want := []string{"  spaced | x", "err 1", "out 1"}; !reflect.DeepEqual(lines, want) {
		t.Errorf("all.log = %q, want %q (no herd lines)", lines, want)
	}
	if !strings.Contains(out.String(), "web[0] | out 1") {
		t.Errorf("the console lost its prefix: %q", out.String())
	}

	a.LogFile, a.OutFile = "", filepath.Join(dir, "dated.log")
	a.LogDateFormat = "YYYY-MM-DD HH:mm:ss.SSS"
	runApp(t, a, &logsink.Logs{})
	for _, l := range testutil.ReadLines(t, a.OutFile) {
		stamp, text, ok := strings.Cut(l, ": ")
		if _, err := time.ParseInLocation("2006-01-02 15:04:05.000", stamp, time.Local); !ok || err != nil || !strings.HasPrefix(text, "out 1") && !strings.HasPrefix(text, "  spaced") {
			t.Errorf("dated line %q: want YYYY-MM-DD HH:mm:ss.SSS: line (%v)", l, err)
		}
	}
}
