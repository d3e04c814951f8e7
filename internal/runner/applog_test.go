package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stamp matches the timestamp that starts a plain-text line of an app file.
var stamp = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d) `)

// readLines returns the lines of file p.
func readLines(t *testing.T, p string) []string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// unstamped returns the lines of p without their timestamps, failing the
// test for a line without one.
func unstamped(t *testing.T, p string) []string {
	t.Helper()
	var out []string
	for _, l := range readLines(t, p) {
		loc := stamp.FindStringIndex(l)
		if loc == nil {
			t.Errorf("%s: line without timestamp: %q", filepath.Base(p), l)
			continue
		}
		out = append(out, l[loc[1]:])
	}
	return out
}

// fdsOn counts this process's open descriptors on path p.
func fdsOn(t *testing.T, p string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && target == p {
			n++
		}
	}
	return n
}

// runApp runs app (restart never, ready at start) with logs until its
// instances exit.
func runApp(t *testing.T, app App, logs *Logs) {
	t.Helper()
	app.Ready, app.Restart = ReadyStart, "never"
	if err := app.Validate(); err != nil {
		t.Fatal(err)
	}
	r, err := New(app, logs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

// writeLines writes lines "line 000\n" ... (9 bytes each) to w.
func writeLines(t *testing.T, w *RotatingFile, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if _, err := fmt.Fprintf(w, "line %03d\n", i); err != nil {
			t.Fatal(err)
		}
	}
}

// rotatedFiles returns the sorted indices of the existing files p.N.
func rotatedFiles(p string) []int {
	r := &RotatingFile{path: p}
	ns := r.rotated()
	for i, j := 0, len(ns)-1; i < j; i, j = i+1, j-1 {
		ns[i], ns[j] = ns[j], ns[i]
	}
	return ns
}

func TestRotateKeepsExactlyN(t *testing.T) {
	p := filepath.Join(t.TempDir(), "app.log")
	// Leftovers of an earlier, larger Keep go at open.
	for _, n := range []int{4, 9} {
		os.WriteFile(p+"."+strconv.Itoa(n), []byte("old\n"), 0o644)
	}
	os.WriteFile(p+".x", []byte("not ours\n"), 0o644)
	r, err := OpenRotatingFile(p, RotateOptions{MaxSize: 20, Keep: 3}) // two 9-byte lines a file
	if err != nil {
		t.Fatal(err)
	}
	if got := rotatedFiles(p); len(got) != 0 {
		t.Errorf("at open: rotated files %v, want none", got)
	}
	for i := range 20 {
		writeLines(t, r, i, i+1)
		if got := rotatedFiles(p); len(got) > 3 {
			t.Fatalf("after line %d: rotated files %v, more than 3", i, got)
		}
	}
	r.Close()
	if got := rotatedFiles(p); !reflect.DeepEqual(got, []int{1, 2, 3}) {
		t.Errorf("rotated files %v, want [1 2 3]", got)
	}
	// The newest 8 lines, in order, oldest in app.log.3.
	var all []string
	for _, name := range []string{p + ".3", p + ".2", p + ".1", p} {
		all = append(all, readLines(t, name)...)
	}
	var want []string
	for i := 12; i < 20; i++ {
		want = append(want, fmt.Sprintf("line %03d", i))
	}
	if !reflect.DeepEqual(all, want) {
		t.Errorf("lines %q, want %q", all, want)
	}
	if _, err := os.Stat(p + ".x"); err != nil {
		t.Errorf("a file not named path.N was touched: %v", err)
	}
	if _, err := r.Write([]byte("x\n")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("write after Close: %v, want os.ErrClosed", err)
	}
}

func TestRotateKeepNone(t *testing.T) {
	p := filepath.Join(t.TempDir(), "app.log")
	r, err := OpenRotatingFile(p, RotateOptions{MaxSize: 20, Keep: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	writeLines(t, r, 0, 7)
	if got := rotatedFiles(p); len(got) != 0 {
		t.Errorf("rotated files %v with Keep -1", got)
	}
	if got := readLines(t, p); !reflect.DeepEqual(got, []string{"line 006"}) {
		t.Errorf("app.log = %q", got)
	}
}

func TestRotateHugeKeepIsCheap(t *testing.T) {
	p := filepath.Join(t.TempDir(), "app.log")
	r, err := OpenRotatingFile(p, RotateOptions{MaxSize: 10, Keep: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		writeLines(t, r, 0, 5)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("rotation with a huge Keep did not finish: it walks every index")
	}
	if got := rotatedFiles(p); !reflect.DeepEqual(got, []int{1, 2, 3, 4}) {
		t.Errorf("rotated files %v", got)
	}
}

func TestRotateMaxAge(t *testing.T) {
	p := filepath.Join(t.TempDir(), "app.log")
	old := time.Now().Add(-48 * time.Hour)
	for n := 1; n <= 3; n++ {
		name := p + "." + strconv.Itoa(n)
		os.WriteFile(name, []byte("rotated "+strconv.Itoa(n)+"\n"), 0o644)
		if n >= 2 {
			if err := os.Chtimes(name, old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	r, err := OpenRotatingFile(p, RotateOptions{MaxSize: 10, Keep: 5, MaxAge: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// At open: .2 and .3 are too old; .1 stays.
	if got := rotatedFiles(p); !reflect.DeepEqual(got, []int{1}) {
		t.Fatalf("after open: rotated files %v, want [1]", got)
	}
	// Age .1; the next rotation moves it to .2 and deletes it there.
	if err := os.Chtimes(p+".1", old, old); err != nil {
		t.Fatal(err)
	}
	writeLines(t, r, 0, 2) // the second line rotates
	if got := rotatedFiles(p); !reflect.DeepEqual(got, []int{1}) {
		t.Fatalf("after rotation: rotated files %v, want [1]", got)
	}
	if got := readLines(t, p+".1"); !reflect.DeepEqual(got, []string{"line 000"}) {
		t.Errorf("app.log.1 = %q", got)
	}
	// Without MaxAge, age does not matter.
	q := filepath.Join(t.TempDir(), "keep.log")
	os.WriteFile(q+".1", nil, 0o644)
	os.Chtimes(q+".1", old, old)
	r2, err := OpenRotatingFile(q, RotateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r2.Close()
	if _, err := os.Stat(q + ".1"); err != nil {
		t.Errorf("old file deleted without MaxAge: %v", err)
	}
}

func TestRotateNotRegularFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
	rd, err := os.OpenFile(p, os.O_RDWR, 0) // a reader, so opening for writing does not block
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	r, err := OpenRotatingFile(p, RotateOptions{MaxSize: 10, Keep: 2})
	if err != nil {
		t.Fatal(err)
	}
	writeLines(t, r, 0, 5)
	r.Close()
	if st, err := os.Lstat(p); err != nil || st.Mode()&fs.ModeNamedPipe == 0 {
		t.Fatalf("the fifo was moved: %v %v", st, err)
	}
	if got := rotatedFiles(p); len(got) != 0 {
		t.Errorf("a fifo was rotated: %v", got)
	}
	buf := make([]byte, 100)
	n, _ := rd.Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "line 000\nline 001\n") {
		t.Errorf("fifo got %q", buf[:n])
	}
}

func TestAppFilesSplitTimestampNoColor(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	logs := &Logs{Out: &out, Color: true}
	app := App{
		Name:      "web",
		Command:   []string{"sh", "-c", `echo out 1; printf '\033[31mred\033[0m\n'; echo err 1 >&2`},
		LogFile:   filepath.Join(dir, "web.log"),
		OutFile:   filepath.Join(dir, "web.out"),
		ErrorFile: filepath.Join(dir, "web.err"),
	}
	runApp(t, app, logs)
	if !strings.Contains(out.String(), "\x1b[") {
		t.Errorf("console not colored: %q", out.String())
	}
	for _, name := range []string{"web.log", "web.out", "web.err"} {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		if bytes.IndexByte(b, 0x1b) >= 0 {
			t.Errorf("%s has color codes: %q", name, b)
		}
	}
	if got, want := unstamped(t, app.OutFile), []string{"web[0] | out 1", "web[0] | red"}; !reflect.DeepEqual(got, want) {
		t.Errorf("web.out = %q, want %q", got, want)
	}
	if got, want := unstamped(t, app.ErrorFile), []string{"web[0] | err 1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("web.err = %q, want %q", got, want)
	}
	all := strings.Join(unstamped(t, app.LogFile), "\n")
	for _, want := range []string{"web[0] | out 1", "web[0] | red", "web[0] | err 1", "herd web | starting 1 instance(s)"} {
		if !strings.Contains(all, want) {
			t.Errorf("web.log lacks %q:\n%s", want, all)
		}
	}
	// A timestamp is the time of the line.
	first := readLines(t, app.LogFile)[0]
	ts, err := time.Parse(stampFormat, first[:stamp.FindStringIndex(first)[1]-1])
	if err != nil || time.Since(ts) > time.Minute || time.Since(ts) < -time.Second {
		t.Errorf("timestamp of %q: %v %v", first, ts, err)
	}
}

func TestAppFilesJSON(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	logs := &Logs{Out: &out, JSON: true, Color: true}
	app := App{
		Name:    "api",
		Command: []string{"sh", "-c", "echo hello; echo oops >&2"},
		LogFile: filepath.Join(dir, "api.log"),
		OutFile: filepath.Join(dir, "api.out"),
	}
	runApp(t, app, logs)
	streams := map[string]int{}
	for _, l := range readLines(t, app.LogFile) {
		var rec struct{ Time, Msg, App, Stream string }
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec.App != "api" || rec.Time == "" {
			t.Errorf("api.log line %q: %+v %v", l, rec, err)
		}
		streams[rec.Stream]++
	}
	if streams["stdout"] != 1 || streams["stderr"] != 1 || streams[""] == 0 {
		t.Errorf("api.log streams %v: want 1 stdout, 1 stderr, herd's lines", streams)
	}
	lines := readLines(t, app.OutFile)
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "{") || !strings.Contains(lines[0], `"msg":"hello","app":"api","instance":0,"stream":"stdout"`) {
		t.Errorf("api.out = %q", lines)
	}
}

func TestAppFilesSharedPath(t *testing.T) {
	dir := t.TempDir()
	shared := filepath.Join(dir, "shared.log")
	var out bytes.Buffer
	logs := &Logs{Out: &out}
	one := App{Name: "one", Command: []string{"sh", "-c", "echo one-out; echo one-err >&2"}, Ready: ReadyStart, Restart: "never",
		LogFile: shared, OutFile: shared} // the same file twice: each line once
	two := App{Name: "two", Command: []string{"sh", "-c", "echo two-out; echo two-err >&2"}, Ready: ReadyStart, Restart: "never",
		ErrorFile: shared, OutFile: filepath.Join(dir, "two.out")}
	var rs []*Runner
	for _, a := range []App{one, two} {
		if err := a.Validate(); err != nil {
			t.Fatal(err)
		}
		r, err := New(a, logs)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	if rs[0].logs.app.out[0] != rs[1].logs.app.err[0] {
		t.Error("the apps have different files for the same path")
	}
	if n := fdsOn(t, shared); n != 1 {
		t.Errorf("%d descriptors open on the shared path, want 1", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := RunAll(ctx, rs); err != nil {
		t.Fatal(err)
	}
	if n := fdsOn(t, shared) + fdsOn(t, filepath.Join(dir, "two.out")); n != 0 {
		t.Errorf("%d descriptors still open after Run", n)
	}
	got := strings.Join(unstamped(t, shared), "\n")
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

func TestAppFilesReleaseKeepsSharedOpen(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.log")
	logs := &Logs{}
	a, err := logs.forApp(&App{Name: "a", LogFile: p})
	if err != nil {
		t.Fatal(err)
	}
	b, err := logs.forApp(&App{Name: "b", OutFile: p})
	if err != nil {
		t.Fatal(err)
	}
	a.app.close()
	(&lineWriter{l: b, app: "b", stream: "stdout"}).Write([]byte("still open\n"))
	if got := unstamped(t, p); !reflect.DeepEqual(got, []string{"b[0] | still open"}) {
		t.Errorf("x.log = %q after the other app released it", got)
	}
	b.app.close()
	if n := fdsOn(t, p); n != 0 {
		t.Errorf("%d descriptors open after the last release", n)
	}
	if len(logs.files.files) != 0 {
		t.Errorf("file set still holds %v", logs.files.files)
	}
}

func TestAppFileSharesGlobalFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "all.log")
	g, err := OpenRotating(p, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	logs := &Logs{File: g}
	runApp(t, App{Name: "web", Command: []string{"sh", "-c", "echo hi; echo oops >&2"}, OutFile: p}, logs)
	if n := fdsOn(t, p); n != 1 {
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
		_, err := New(App{Name: "web", Command: []string{"sh"}, LogFile: good, ErrorFile: tc.path}, &Logs{})
		var le *LogFileError
		want := "app web: log file " + tc.path + ": " + tc.cause
		if !errors.As(err, &le) || err.Error() != want {
			t.Errorf("error %v, want %q", err, want)
		}
		if n := fdsOn(t, good); n != 0 {
			t.Errorf("%d descriptors left open on the file opened before the failure", n)
		}
	}
	// Relative paths are relative to the working directory.
	t.Chdir(dir)
	r, err := New(App{Name: "rel", Command: []string{"sh"}, LogFile: "rel.log"}, &Logs{})
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if n := fdsOn(t, filepath.Join(wd, "rel.log")); n != 1 {
		t.Errorf("relative path: %d descriptors", n)
	}
	if err := r.Close(); err != nil {
		t.Error(err)
	}
}

func TestConfigLogKeys(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "herd.yaml")
	os.WriteFile(p, []byte(`apps:
  - name: web
    command: [sh]
    log_file: logs/web.log
    out_file: /var/log/web.out
    error_file: web.err
    log_max_size: 2M
    log_keep: 0
    log_max_age: 1d12h
  - name: jobs
    command: [sh]
    log_keep: 3
    log_max_age: 90m
`), 0o644)
	apps, err := LoadConfig(p, "")
	if err != nil {
		t.Fatal(err)
	}
	w := apps[0]
	if w.LogFile != filepath.Join(dir, "logs/web.log") || w.OutFile != "/var/log/web.out" || w.ErrorFile != filepath.Join(dir, "web.err") ||
		w.LogMaxSize != 2<<20 || w.LogKeep != -1 || w.LogMaxAge != 36*time.Hour {
		t.Errorf("web = %+v", w)
	}
	if j := apps[1]; j.LogFile != "" || j.LogKeep != 3 || j.LogMaxAge != 90*time.Minute || j.LogMaxSize != 0 {
		t.Errorf("jobs = %+v", j)
	}

	eco := filepath.Join(dir, "ecosystem.config.json")
	os.WriteFile(eco, []byte(`{"apps": [
  {"name": "api", "script": "server.js", "log_file": "logs/api.log", "out_file": "/tmp/api.out", "error_file": "api.err", "max_size": "10M"},
  {"name": "old", "script": "old.js", "output": "old.out", "error": "/dev/null"}
]}`), 0o644)
	apps, err = LoadConfig(eco, "")
	if err != nil {
		t.Fatal(err)
	}
	if a := apps[0]; a.LogFile != filepath.Join(dir, "logs/api.log") || a.OutFile != "/tmp/api.out" || a.ErrorFile != filepath.Join(dir, "api.err") || a.LogMaxSize != 0 {
		t.Errorf("api = %+v", a)
	}
	if o := apps[1]; o.OutFile != filepath.Join(dir, "old.out") || o.ErrorFile != "/dev/null" {
		t.Errorf("old = %+v", o)
	}
}

func TestConfigBadLogKeys(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"log_max_size: lots", `:4: log_max_size: bad size "lots"`},
		{"log_max_age: soon", `:4: log_max_age: bad duration "soon"`},
		{"log_max_age: -3h", `:4: log_max_age: bad duration "-3h"`},
		{"log_keep: many", `:4: `},
		{"log_files: x.log", `:4: unknown key "log_files"`},
	} {
		p := writeFile(t, "herd.yaml", "apps:\n  - name: web\n    command: [sh]\n    "+tc.line+"\n")
		_, err := LoadConfig(p, "")
		var ce *ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), p+tc.want) {
			t.Errorf("%s: error %v, want %q", tc.line, err, p+tc.want)
		}
	}
	a := App{Command: []string{"sh"}, LogMaxSize: -1}
	if err := a.Validate(); err == nil || !strings.Contains(err.Error(), "log_max_size must not be negative") {
		t.Errorf("negative LogMaxSize: %v", err)
	}
}

// An app whose stdout and stderr go to files of their own, besides the
// console.
func ExampleApp_logFiles() {
	dir, err := os.MkdirTemp("", "herd-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	app := App{
		Name:      "hello",
		Command:   []string{"sh", "-c", "echo hi; echo oops >&2"},
		Ready:     ReadyStart,
		Restart:   "never",
		OutFile:   filepath.Join(dir, "hello.out.log"),
		ErrorFile: filepath.Join(dir, "hello.err.log"),
		LogKeep:   3, // hello.out.log.1 ... .3 once a file passes 10 MiB
	}
	if err := app.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	r, err := New(app, &Logs{}) // no console here
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
