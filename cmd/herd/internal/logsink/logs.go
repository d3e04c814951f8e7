package logsink

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
)

// Logs is where an app's output and herd's own lines go. The zero value
// writes plain prefixed lines to nowhere; set Out. One Logs may serve many
// apps: ForApp derives a per-app Logs from it for an app with log files of
// its own, and the apps of one Logs share every file they name, each
// distinct path opened once.
type Logs struct {
	// Out receives every line (stdout and stderr of the instances, and
	// herd's own lines).
	Out io.Writer
	// Color adds ANSI colors to the prefixes (set it only for a terminal
	// and when NO_COLOR is unset).
	Color bool
	// JSON writes one JSON object per line instead: {"time","level","msg",
	// "app","instance","stream"}.
	JSON bool
	// File, if set, also receives every line, never colored (for example a
	// *RotatingFile).
	File io.Writer

	mu sync.Mutex // serializes writes to Out

	// parent is the Logs a per-app Logs was derived from (its mu, Out and
	// File are used), and app the app's own files; both nil on a root.
	parent *Logs
	app    *appFiles
	files  fileSet // the per-app files of a root, by absolute path
}

var palette = []string{"36", "33", "35", "32", "34", "31"}

// Logger returns the slog.Logger for herd's own lines about app.
func (l *Logs) Logger(app string) *slog.Logger {
	w := &lockedWriter{l: l, stream: streamHerd}
	if l.JSON {
		return slog.New(slog.NewJSONHandler(w, nil)).With("app", app)
	}
	return slog.New(&textHandler{l: l, app: app})
}

// lockedWriter writes one console line of stream (streamHerd, "stdout" or
// "stderr") to Out, File and the app's own files; raw is the app's line as
// it wrote it, for files in the raw format.
type lockedWriter struct {
	l      *Logs
	stream string
	raw    []byte
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	root := w.l.root()
	root.mu.Lock()
	defer root.mu.Unlock()
	file := root.File
	if w.l.app != nil && w.l.app.write(w.stream, p, w.raw, root.JSON, file) {
		file = nil // the app already wrote the line to that same file
	}
	if file != nil {
		_, _ = file.Write(stripColor(p))
	}
	if root.Out == nil {
		return len(p), nil
	}
	return root.Out.Write(p)
}

// textHandler writes "herd   | msg k=v ..." lines.
type textHandler struct {
	l     *Logs
	app   string
	attrs []slog.Attr
}

func (h *textHandler) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelInfo }
func (h *textHandler) WithGroup(string) slog.Handler                 { return h }
func (h *textHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &textHandler{l: h.l, app: h.app, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}
func (h *textHandler) Handle(_ context.Context, r slog.Record) error {
	var b bytes.Buffer
	prefix := "herd " + h.app
	if h.l.Color {
		fmt.Fprintf(&b, "\x1b[1m%s\x1b[0m | ", prefix)
	} else {
		fmt.Fprintf(&b, "%s | ", prefix)
	}
	if r.Level >= slog.LevelWarn {
		b.WriteString(r.Level.String() + " ")
	}
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%s", a.Key, quoteValue(a.Value.String())); return true }
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	b.WriteByte('\n')
	_, err := (&lockedWriter{l: h.l, stream: streamHerd}).Write(b.Bytes())
	return err
}

// Streams of an instance, as Writer takes them and JSON lines name them.
const (
	StreamStdout = "stdout"
	StreamStderr = "stderr"
)

// Writer returns a writer that splits what one instance of app writes on
// stream (StreamStdout or StreamStderr) into lines and writes each with
// its prefix ("app[instance] | line", or a JSON record) to l's sinks. A
// line without a newline waits for the rest, up to 64 KiB, or for Flush,
// which the owner calls once the stream has ended (a program's last line
// often has no newline: "Fatal: boom" before exit). With a tail, the last
// stderr lines are kept there too. Each instance stream needs its own
// Writer; one Writer is not safe for concurrent use.
func (l *Logs) Writer(app string, instance int, stream string, tail *Tail) *LineWriter {
	return &LineWriter{l: l, app: app, instance: instance, stream: stream, tail: tail}
}

// LineWriter splits one instance's stream into lines and writes each with
// its prefix to the sinks of a Logs; it keeps the last lines of stderr in
// its Tail. Logs.Writer returns one.
type LineWriter struct {
	l        *Logs
	app      string
	instance int
	stream   string
	tail     *Tail
	buf      []byte
}

// Write writes every complete line of p, after what earlier writes left
// without a newline; it keeps the rest for the next Write or Flush. It
// never fails.
func (w *LineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.line(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 64<<10 { // a very long line without newline
		w.line(w.buf)
		w.buf = w.buf[:0]
	}
	return len(p), nil
}

// Flush writes what is left without a newline as a line of its own, as
// if the stream had ended with one; it does nothing when nothing is left.
// Call it at the end of the stream, so that the last line, and the last
// line of stderr in the Tail, is not lost.
func (w *LineWriter) Flush() {
	if len(w.buf) > 0 {
		w.line(w.buf)
		w.buf = w.buf[:0]
	}
}

// Take returns what is left without a newline and forgets it, so that
// another Writer can go on with the stream (herd update hands an
// instance's output to the daemon's next image): Write it there first.
func (w *LineWriter) Take() []byte {
	b := append([]byte(nil), w.buf...)
	w.buf = w.buf[:0]
	return b
}

func (w *LineWriter) line(b []byte) {
	s := string(bytes.TrimSuffix(b, []byte("\r")))
	if w.tail != nil && w.stream == "stderr" {
		w.tail.Add(fmt.Sprintf("%s[%d] %s", w.app, w.instance, s))
	}
	var out bytes.Buffer
	switch {
	case w.l.JSON:
		slog.New(slog.NewJSONHandler(&out, nil)).Info(s, "app", w.app, "instance", w.instance, "stream", w.stream)
	case w.l.Color:
		fmt.Fprintf(&out, "\x1b[%sm%s[%d]\x1b[0m | %s\n", palette[w.instance%len(palette)], w.app, w.instance, s)
	default:
		fmt.Fprintf(&out, "%s[%d] | %s\n", w.app, w.instance, s)
	}
	_, _ = (&lockedWriter{l: w.l, stream: w.stream, raw: []byte(s)}).Write(out.Bytes())
}

// Tail keeps the last lines added: an app's last stderr lines, for an
// error message. It is safe for concurrent use.
type Tail struct {
	mu    sync.Mutex
	n     int
	lines []string
}

// NewTail returns a Tail that keeps the last n lines.
func NewTail(n int) *Tail { return &Tail{n: n} }

// Add adds a line, dropping the oldest beyond the limit.
func (t *Tail) Add(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, s)
	if len(t.lines) > t.n {
		t.lines = t.lines[len(t.lines)-t.n:]
	}
}

// Lines returns a copy of the lines kept, oldest first.
func (t *Tail) Lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.lines...)
}

// stripColor removes ANSI color sequences (ESC [ ... m) from p.
func stripColor(p []byte) []byte {
	if bytes.IndexByte(p, 0x1b) < 0 {
		return p
	}
	out := make([]byte, 0, len(p))
	for i := 0; i < len(p); i++ {
		if p[i] == 0x1b && i+1 < len(p) && p[i+1] == '[' {
			j := i + 2
			for j < len(p) && p[j] != 'm' {
				j++
			}
			i = j
			continue
		}
		out = append(out, p[i])
	}
	return out
}

// quoteValue quotes a log value that would not read back as one token:
// empty, or holding a space, '=', a quote or a control character.
func quoteValue(v string) string {
	if v == "" || strings.ContainsAny(v, " =\"\t\n\r") {
		return strconv.Quote(v)
	}
	return v
}
