package main

import (
	"bytes"
	"fmt"
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

// fileStamp matches the timestamp that starts a plain-text line of an app's
// log file.
var fileStamp = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d) `)

// fileLines returns the lines of the log file p without their timestamps;
// a line without one fails the test.
func fileLines(t *testing.T, p string) []string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.IndexByte(b, 0x1b) >= 0 {
		t.Errorf("%s has color codes", filepath.Base(p))
	}
	var out []string
	for l := range strings.Lines(string(b)) {
		l = strings.TrimSuffix(l, "\n")
		loc := fileStamp.FindStringIndex(l)
		if loc == nil {
			t.Errorf("%s: line without timestamp: %q", filepath.Base(p), l)
			continue
		}
		out = append(out, l[loc[1]:])
	}
	return out
}

// rotatedOf returns the indices n of the files p.n that exist.
func rotatedOf(t *testing.T, p string) []int {
	t.Helper()
	ms, err := filepath.Glob(p + ".*")
	if err != nil {
		t.Fatal(err)
	}
	var ns []int
	for _, m := range ms {
		if n, err := strconv.Atoi(strings.TrimPrefix(m, p+".")); err == nil {
			ns = append(ns, n)
		}
	}
	return ns
}

func TestRunConfigPerAppLogFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := `apps:
  - name: alpha
    command: [sh, -c, 'echo alpha-out; echo alpha-err >&2; exec sleep 30']
    ready: start
    log_format: herd
    log_file: logs/alpha.log
    out_file: logs/alpha.out
    error_file: logs/alpha.err
  - name: beta
    command: [sh, -c, 'echo beta-out; echo beta-err >&2; exec sleep 30']
    ready: start
    out_file: logs/beta.out
    error_file: logs/beta.err
`
	p := filepath.Join(dir, "herd.yaml")
	os.WriteFile(p, []byte(cfg), 0o644)
	global := filepath.Join(dir, "all.log")
	// herd runs in this package's directory: the relative paths must
	// resolve against the config file's.
	h := startHerd(t, []string{"NO_COLOR=1"}, "run", "-c", p, "--log-file", global)
	for _, s := range []string{"alpha[0] | alpha-out", "alpha[0] | alpha-err", "beta[0] | beta-out", "beta[0] | beta-err"} {
		waitOut(t, h, s, 1)
	}
	syscall.Kill(h.p.Pid, syscall.SIGTERM)
	if code := h.wait(t); code != 0 {
		t.Fatalf("exit %d\n%s", code, h.stderr.String())
	}
	logs := filepath.Join(dir, "logs")
	for name, want := range map[string][]string{
		"alpha.out": {"alpha[0] | alpha-out"},
		"alpha.err": {"alpha[0] | alpha-err"},
	} {
		if got := fileLines(t, filepath.Join(logs, name)); !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	// beta's files are raw, as PM2's.
	for name, want := range map[string]string{"beta.out": "beta-out\n", "beta.err": "beta-err\n"} {
		if b, err := os.ReadFile(filepath.Join(logs, name)); err != nil || string(b) != want {
			t.Errorf("%s = %q %v, want %q", name, b, err, want)
		}
	}
	all := fileLines(t, filepath.Join(logs, "alpha.log"))
	joined := strings.Join(all, "\n")
	for _, want := range []string{"alpha[0] | alpha-out", "alpha[0] | alpha-err", "herd alpha | starting 1 instance(s)"} {
		if !strings.Contains(joined, want) {
			t.Errorf("alpha.log lacks %q:\n%s", want, joined)
		}
	}
	if strings.Contains(joined, "beta") {
		t.Errorf("alpha.log has beta's lines:\n%s", joined)
	}
	// The global --log-file still has every app's lines, as before.
	b, err := os.ReadFile(global)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\nalpha[0] | alpha-out\n", "\nbeta[0] | beta-err\n", "herd beta | "} {
		if !strings.Contains("\n"+string(b), want) {
			t.Errorf("global log file lacks %q:\n%s", want, b)
		}
	}
	if _, err := os.Stat("logs"); err == nil {
		t.Error("a logs directory appeared in herd's working directory")
	}
}

func TestRunConfigLogRotation(t *testing.T) {
	dir := t.TempDir()
	const keep, maxSize, lines = 3, 400, 300
	cfg := fmt.Sprintf(`apps:
  - name: count
    command: [sh, -c, 'i=0; while [ $i -lt %d ]; do echo "line $i"; i=$((i+1)); done; exec sleep 30']
    ready: start
    log_format: herd
    out_file: count.log
    log_max_size: "%d"
    log_keep: %d
`, lines, maxSize, keep)
	p := filepath.Join(dir, "herd.yaml")
	os.WriteFile(p, []byte(cfg), 0o644)
	out := filepath.Join(dir, "count.log")
	h := startHerd(t, []string{"NO_COLOR=1"}, "run", "-c", p)
	// Watch the rotated files while the app writes.
	most := 0
	end := time.Now().Add(30 * time.Second)
	for !strings.Contains(h.stdout.String(), fmt.Sprintf("count[0] | line %d\n", lines-1)) {
		if time.Now().After(end) {
			t.Fatalf("timed out\nstdout:\n%s\nstderr:\n%s", h.stdout.String(), h.stderr.String())
		}
		most = max(most, len(rotatedOf(t, out)))
		time.Sleep(time.Millisecond)
	}
	syscall.Kill(h.p.Pid, syscall.SIGTERM)
	if code := h.wait(t); code != 0 {
		t.Fatalf("exit %d\n%s", code, h.stderr.String())
	}
	if most > keep {
		t.Errorf("saw %d rotated files while running, more than log_keep %d", most, keep)
	}
	if got := rotatedOf(t, out); len(got) != keep {
		t.Fatalf("rotated files %v, want %d", got, keep)
	}
	// Oldest first: count.log.3, .2, .1, count.log hold the last lines in
	// order, each file within log_max_size.
	var got []string
	for n := keep; n >= 0; n-- {
		name := out
		if n > 0 {
			name = out + "." + strconv.Itoa(n)
		}
		if st, err := os.Stat(name); err != nil || st.Size() > maxSize {
			t.Errorf("%s: %v, size over %d", name, err, maxSize)
		}
		got = append(got, fileLines(t, name)...)
	}
	if len(got) < keep+1 {
		t.Fatalf("only %d lines in the files", len(got))
	}
	first := lines - len(got)
	for i, l := range got {
		if want := fmt.Sprintf("count[0] | line %d", first+i); l != want {
			t.Fatalf("line %d of the files is %q, want %q", i, l, want)
		}
	}
}

func TestRunSingleAppLogFlags(t *testing.T) {
	dir := t.TempDir()
	all, out, errf := filepath.Join(dir, "solo.log"), filepath.Join(dir, "solo.out"), filepath.Join(dir, "solo.err")
	// stdout and stderr are separate pipes: the app writes to stderr only
	// once the test has seen its last stdout line (it waits at most 20s).
	trigger := filepath.Join(dir, "go")
	h := startHerd(t, []string{"NO_COLOR=1"}, "run", "--name", "solo", "--ready", "start", "--log-format", "herd",
		"--log-file", all, "--out-file", out, "--error-file", errf, "--log-max-size", "1K", "--log-keep", "2", "--",
		"sh", "-c", `i=0; while [ $i -lt 100 ]; do echo "out $i"; i=$((i+1)); done; `+
			`i=0; while [ ! -e '`+trigger+`' ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; echo bad >&2; exec sleep 30`)
	waitOut(t, h, "solo[0] | out 99", 1)
	os.WriteFile(trigger, nil, 0o644)
	waitOut(t, h, "solo[0] | bad", 1)
	syscall.Kill(h.p.Pid, syscall.SIGTERM)
	if code := h.wait(t); code != 0 {
		t.Fatalf("exit %d\n%s", code, h.stderr.String())
	}
	if got := fileLines(t, errf); !reflect.DeepEqual(got, []string{"solo[0] | bad"}) {
		t.Errorf("solo.err = %q", got)
	}
	if got := fileLines(t, out); len(got) == 0 || got[len(got)-1] != "solo[0] | out 99" {
		t.Errorf("solo.out = %q", got)
	}
	for _, p := range []string{out, all} {
		if got := rotatedOf(t, p); len(got) != 2 {
			t.Errorf("%s: rotated files %v, want 2 (--log-keep 2)", filepath.Base(p), got)
		}
	}
	joined := strings.Join(fileLines(t, all), "\n")
	for _, want := range []string{"solo[0] | bad", "solo[0] | out 99", "herd solo | "} {
		if !strings.Contains(joined, want) {
			t.Errorf("solo.log lacks %q:\n%s", want, joined)
		}
	}
}

func TestRunLogFileErrors(t *testing.T) {
	dir := t.TempDir()
	// A missing folder is created, as PM2 does.
	fresh := filepath.Join(dir, "new", "logs", "out.log")
	code, out, errOut := runHerd(t, []string{"NO_COLOR=1"}, "run", "--name", "web", "--restart", "never", "--out-file", fresh, "--", "echo", "hi")
	if b, err := os.ReadFile(fresh); code != 0 || err != nil || string(b) != "hi\n" || !strings.Contains(out, "herd web | created the log folder "+filepath.Dir(fresh)) {
		t.Errorf("missing folder: exit %d, %s = %q %v\nstdout %s\nstderr %s", code, fresh, b, err, out, errOut)
	}
	// One that cannot be created stops the start.
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	missing := filepath.Join(file, "such.log")
	code, _, errOut = runHerd(t, nil, "run", "--name", "web", "--out-file", missing, "--", "true")
	if want := "herd: app web: log file " + missing + ": not a directory"; code != 1 || !strings.Contains(errOut, want) {
		t.Errorf("folder not creatable: exit %d, stderr %q; want 1 and %q", code, errOut, want)
	}
	p := filepath.Join(dir, "herd.yaml")
	os.WriteFile(p, []byte("apps:\n  - name: x\n    command: [true]\n    error_file: "+missing+"\n"), 0o644)
	code, _, errOut = runHerd(t, nil, "run", "-c", p)
	if want := "herd: app x: log file " + missing + ": not a directory"; code != 1 || !strings.Contains(errOut, want) {
		t.Errorf("config: exit %d, stderr %q; want 1 and %q", code, errOut, want)
	}
	os.WriteFile(p, []byte("apps:\n  - name: x\n    command: [true]\n    log_max_size: huge\n"), 0o644)
	code, _, errOut = runHerd(t, nil, "run", "-c", p)
	if want := p + `:4: log_max_size: bad size "huge"`; code != 1 || !strings.Contains(errOut, want) {
		t.Errorf("bad log_max_size: exit %d, stderr %q; want 1 and %q", code, errOut, want)
	}
	code, _, errOut = runHerd(t, nil, "run", "-c", p, "--out-file", filepath.Join(dir, "x.out"))
	if code != 2 || !strings.Contains(errOut, "--out-file and --error-file are for a single app") {
		t.Errorf("--out-file with --config: exit %d, stderr %q; want 2", code, errOut)
	}
	code, _, errOut = runHerd(t, nil, "run", "--log-max-size", "lots", "--", "true")
	if code != 2 || !strings.Contains(errOut, "--log-max-size") {
		t.Errorf("bad --log-max-size: exit %d, stderr %q; want 2", code, errOut)
	}
	code, out, _ = runHerd(t, nil, "run", "--help")
	for _, want := range []string{"--out-file", "--error-file", "--log-max-age", "out_file"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("herd run --help lacks %q", want)
		}
	}
}
