package logsink

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herdrun/herd/internal/testutil"
)

func TestMain(m *testing.M) {
	testutil.VerifyTestMain(m)
}

func TestLinePrefixes(t *testing.T) {
	var out bytes.Buffer
	l := &Logs{Out: &out}
	tl := NewTail(2)
	w := l.Writer("web", 1, StreamStderr, tl)
	fmt.Fprint(w, "one\ntw")
	fmt.Fprint(w, "o\nthree\n")
	if got, want := out.String(), "web[1] | one\nweb[1] | two\nweb[1] | three\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := tl.Lines(); len(got) != 2 || got[0] != "web[1] two" || got[1] != "web[1] three" {
		t.Errorf("tail %q", got)
	}
}

func TestColorAndFile(t *testing.T) {
	var out, file bytes.Buffer
	l := &Logs{Out: &out, Color: true, File: &file}
	w := l.Writer("web", 0, StreamStdout, nil)
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
	w := l.Writer("api", 2, StreamStdout, nil)
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

// herd's own lines quote a value that would not read back as one token.
func TestLogValuesQuoted(t *testing.T) {
	var out testutil.SyncBuffer
	(&Logs{Out: &out}).Logger("web").Info("starting", "command", "node app.js", "n", 2, "empty", "")
	if want := `herd web | starting command="node app.js" n=2 empty=""` + "\n"; out.String() != want {
		t.Fatalf("got %q, want %q", out.String(), want)
	}
}

// Flush writes a last line without a newline, to every sink and the tail;
// a second Flush writes nothing.
func TestFlushLastLine(t *testing.T) {
	for _, js := range []bool{false, true} {
		var out, file bytes.Buffer
		l := &Logs{Out: &out, File: &file, JSON: js}
		tl := NewTail(2)
		w := l.Writer("web", 0, StreamStderr, tl)
		fmt.Fprint(w, "first\nFatal: ")
		fmt.Fprint(w, "boom")
		if strings.Contains(out.String(), "boom") {
			t.Fatalf("json=%v: a partial line was written before Flush: %q", js, out.String())
		}
		w.Flush()
		w.Flush()
		if n := strings.Count(out.String(), "Fatal: boom"); n != 1 {
			t.Errorf("json=%v: %d× the last line on Out: %q", js, n, out.String())
		}
		if !strings.Contains(file.String(), "Fatal: boom") {
			t.Errorf("json=%v: file lacks the last line: %q", js, file.String())
		}
		if got := tl.Lines(); len(got) != 2 || got[1] != "web[0] Fatal: boom" {
			t.Errorf("json=%v: tail %q", js, got)
		}
	}
}
