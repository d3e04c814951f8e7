package daemon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/herdrun/herd/cmd/herd/internal/app"
	"github.com/herdrun/herd/cmd/herd/internal/logsink"
)

// stampFormat starts every line of an app's log files.
const stampFormat = "2006-01-02T15:04:05.000Z07:00"

// hub writes every app's lines to its rotating files under Home.Logs
// (NAME-out.log: stdout and herd's own lines about the app; NAME-error.log:
// stderr) and passes them on to the followers of `herd logs`.
type hub struct {
	dir  string
	mu   sync.Mutex
	apps map[string]*appFiles
	subs map[*follower]struct{}
}

type appFiles struct {
	out, err *logsink.RotatingFile
	rot      logsink.RotateOptions
}

// follower receives the lines of one app ("" for all) until it goes.
type follower struct {
	app     string
	ch      chan LogLine
	dropped int
}

func newHub(dir string) *hub {
	return &hub{dir: dir, apps: map[string]*appFiles{}, subs: map[*follower]struct{}{}}
}

// files returns the paths of an app's files: stdout, stderr.
func (h *hub) files(name string) (string, string) {
	return filepath.Join(h.dir, name+"-out.log"), filepath.Join(h.dir, name+"-error.log")
}

// open opens the files of the app a (its rotation limits) if they are not
// open yet.
func (h *hub) open(a app.App) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.apps[a.Name] != nil {
		return nil
	}
	a = a.WithDefaults()
	rot := logsink.RotateOptions{MaxSize: a.LogMaxSize, Keep: a.LogKeep, MaxAge: a.LogMaxAge}
	af := &appFiles{rot: rot}
	if err := af.openFiles(h, a.Name); err != nil {
		return err
	}
	h.apps[a.Name] = af
	return nil
}

func (af *appFiles) openFiles(h *hub, name string) error {
	o, e := h.files(name)
	var err error
	if af.out, err = logsink.OpenRotatingFile(o, af.rot); err != nil {
		return err
	}
	if af.err, err = logsink.OpenRotatingFile(e, af.rot); err != nil {
		af.out.Close()
		return err
	}
	return nil
}

// close closes the files of an app (deleted from the list).
func (h *hub) close(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if af := h.apps[name]; af != nil {
		af.out.Close()
		af.err.Close()
		delete(h.apps, name)
	}
}

// flush empties the log files of the named apps, rotated ones included.
func (h *hub) flush(names []string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, n := range names {
		af := h.apps[n]
		if af != nil {
			af.out.Close()
			af.err.Close()
		}
		o, e := h.files(n)
		for _, p := range []string{o, e} {
			old, _ := filepath.Glob(p + ".*")
			for _, f := range old {
				os.Remove(f)
			}
			if err := os.Truncate(p, 0); err != nil && !os.IsNotExist(err) {
				return err
			}
		}
		if af != nil {
			if err := af.openFiles(h, n); err != nil {
				delete(h.apps, n)
				return err
			}
		}
	}
	return nil
}

// writer returns the Out of an app's logsink.Logs (JSON lines, one per
// Write).
func (h *hub) writer(name string) io.Writer { return hubWriter{h: h, app: name} }

type hubWriter struct {
	h   *hub
	app string
}

// Write takes one JSON record of package logsink.
func (w hubWriter) Write(p []byte) (int, error) {
	for _, rec := range bytes.Split(bytes.TrimSpace(p), []byte("\n")) {
		w.h.record(w.app, rec)
	}
	return len(p), nil
}

// record parses a logsink JSON record into a LogLine, writes it to the
// app's file and hands it to the followers.
func (h *hub) record(name string, rec []byte) {
	var m map[string]any
	l := LogLine{Time: time.Now(), App: name, Instance: -1, Stream: "herd"}
	dec := json.NewDecoder(bytes.NewReader(rec))
	dec.UseNumber() // 4000000, not 4e+06
	if err := dec.Decode(&m); err != nil {
		l.Msg = string(rec)
	} else {
		l.Msg, _ = m["msg"].(string)
		if s, ok := m["stream"].(string); ok {
			l.Stream = s
			if n, ok := m["instance"].(json.Number); ok {
				if v, err := n.Int64(); err == nil {
					l.Instance = int(v)
				}
			}
		} else {
			// herd's own line: the level when it matters, and the
			// attributes.
			if lv, _ := m["level"].(string); lv != "" && lv != "INFO" {
				l.Msg = lv + " " + l.Msg
			}
			var keys []string
			for k := range m {
				switch k {
				case "time", "level", "msg", "app":
				default:
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
			for _, k := range keys {
				l.Msg += fmt.Sprintf(" %s=%v", k, m[k])
			}
		}
	}
	h.publish(l)
}

// publish writes l to its app's files and to every follower.
func (h *hub) publish(l LogLine) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if af := h.apps[l.App]; af != nil {
		f := af.out
		if l.Stream == logsink.StreamStderr {
			f = af.err
		}
		_, _ = f.Write([]byte(formatLine(l)))
	}
	for s := range h.subs {
		if s.app != "" && s.app != l.App {
			continue
		}
		select {
		case s.ch <- l:
		default:
			s.dropped++
		}
	}
}

// formatLine renders l as a line of a log file.
func formatLine(l LogLine) string {
	if l.Instance < 0 {
		return fmt.Sprintf("%s herd %s | %s\n", l.Time.Format(stampFormat), l.App, l.Msg)
	}
	return fmt.Sprintf("%s %s[%d] | %s\n", l.Time.Format(stampFormat), l.App, l.Instance, l.Msg)
}

// parseLine reads back a line of an app's log file of stream (stdout or
// stderr); ok is false for a line in another form.
func parseLine(s, stream string) (LogLine, bool) {
	ts, rest, ok := strings.Cut(s, " ")
	if !ok {
		return LogLine{}, false
	}
	t, err := time.Parse(stampFormat, ts)
	if err != nil {
		return LogLine{}, false
	}
	if name, msg, ok := strings.Cut(strings.TrimPrefix(rest, "herd "), " | "); ok && name != "" && strings.HasPrefix(rest, "herd ") {
		return LogLine{Time: t, App: name, Instance: -1, Stream: "herd", Msg: msg}, true
	}
	head, msg, ok := strings.Cut(rest, " | ")
	i := strings.LastIndexByte(head, '[')
	if !ok || i < 0 || !strings.HasSuffix(head, "]") {
		return LogLine{}, false
	}
	num := head[i+1 : len(head)-1]
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 || strconv.Itoa(n) != num || i == 0 {
		return LogLine{}, false
	}
	return LogLine{Time: t, App: head[:i], Instance: n, Stream: stream, Msg: msg}, true
}

// follow registers a follower of app ("" for all); the caller must call
// unfollow.
func (h *hub) follow(app string) *follower {
	f := &follower{app: app, ch: make(chan LogLine, 4096)}
	h.mu.Lock()
	h.subs[f] = struct{}{}
	h.mu.Unlock()
	return f
}

func (h *hub) unfollow(f *follower) {
	h.mu.Lock()
	delete(h.subs, f)
	h.mu.Unlock()
}

// history returns the last n lines of the apps' files (of stream
// "stdout" or "stderr" only, if set), oldest first, merged by time.
func (h *hub) history(names []string, n int, stream string) []LogLine {
	h.mu.Lock() // no write in the middle of a line
	defer h.mu.Unlock()
	var all []LogLine
	for _, name := range names {
		o, e := h.files(name)
		for _, f := range []struct{ path, stream string }{{o, logsink.StreamStdout}, {e, logsink.StreamStderr}} {
			if stream != "" && stream != f.stream {
				continue
			}
			for _, s := range tailRotated(f.path, n) {
				if l, ok := parseLine(s, f.stream); ok {
					if stream != "" && l.Stream == "herd" {
						continue
					}
					all = append(all, l)
				}
			}
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Time.Before(all[j].Time) })
	if len(all) > n {
		all = all[len(all)-n:]
	}
	return all
}

// tailRotated returns the last n lines of the file at path and, when it
// holds fewer, of its rotated files before it (path.1, then path.2, ...,
// as logsink.RotatingFile names them), oldest first.
func tailRotated(path string, n int) []string {
	lines := tailLines(path, n)
	for i := 1; len(lines) < n; i++ {
		p := path + "." + strconv.Itoa(i)
		if _, err := os.Stat(p); err != nil {
			break
		}
		lines = append(tailLines(p, n-len(lines)), lines...)
	}
	return lines
}

// tailLines returns the last n lines of the file at path, reading it
// backwards in blocks.
func tailLines(path string, n int) []string {
	if n <= 0 {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil
	}
	const block = 64 << 10
	end := st.Size()
	var buf []byte
	for end > 0 && bytes.Count(buf, []byte("\n")) <= n {
		start := max(end-block, 0)
		b := make([]byte, end-start)
		if _, err := f.ReadAt(b, start); err != nil && err != io.EOF {
			break
		}
		buf = append(b, buf...)
		end = start
	}
	lines := strings.Split(strings.TrimSuffix(string(buf), "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return nil
	}
	if end > 0 && len(lines) > 0 {
		lines = lines[1:] // a partial first line
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}
