package logsink

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// streamHerd is the stream of herd's own lines about an app; an app's
// instances write "stdout" and "stderr".
const streamHerd = ""

// stampFormat is the timestamp that starts each plain-text line of an
// app's log files: RFC 3339 with milliseconds.
const stampFormat = "2006-01-02T15:04:05.000Z07:00"

// LogFileError reports a log file of an app that could not be opened.
type LogFileError struct {
	App  string // the app's name
	Path string // the file's absolute path
	Err  error  // the cause, e.g. fs.ErrPermission
}

// Error returns "app <name>: log file <path>: <cause>".
func (e *LogFileError) Error() string {
	return fmt.Sprintf("app %s: log file %s: %v", e.App, e.Path, e.Err)
}

// Unwrap returns the cause.
func (e *LogFileError) Unwrap() error { return e.Err }

// fileSet holds the app log files of one root Logs by absolute path: each
// path is opened once, shared by every app (and stream) that names it, and
// closed when the last of them releases it. The zero value is empty.
type fileSet struct {
	mu    sync.Mutex
	files map[string]*sharedFile
}

type sharedFile struct {
	f    *RotatingFile
	refs int
}

// acquire returns the file at the absolute path, opening it with o when no
// app holds it yet (the first opener's limits apply to all).
func (s *fileSet) acquire(path string, o RotateOptions) (*RotatingFile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sf, ok := s.files[path]; ok {
		sf.refs++
		return sf.f, nil
	}
	f, err := OpenRotatingFile(path, o)
	if err != nil {
		return nil, err
	}
	if s.files == nil {
		s.files = map[string]*sharedFile{}
	}
	s.files[path] = &sharedFile{f: f, refs: 1}
	return f, nil
}

// release drops one hold on path and closes the file after the last.
func (s *fileSet) release(path string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sf, ok := s.files[path]
	if !ok {
		return nil
	}
	if sf.refs--; sf.refs > 0 {
		return nil
	}
	delete(s.files, path)
	return sf.f.Close()
}

// appFiles are one app's log files per stream: herd's own lines go to
// LogFile, stdout to LogFile and OutFile, stderr to LogFile and ErrorFile,
// each distinct file once.
type appFiles struct {
	herd, out, err []*RotatingFile
	prefixed       bool        // Files.Prefixed
	date           *DateFormat // Files.Date
	set            *fileSet
	held           []string // paths acquired from set, released by close
	created        []string // folders ForApp created
	once           sync.Once
}

// Files are one app's own log files and their limits; see ForApp.
type Files struct {
	// App is the app's name, for errors.
	App string
	// Log receives every line of the app (its instances' stdout and
	// stderr, and herd's own lines about it); Out its stdout lines; Error
	// its stderr lines. "" means no such file; a relative path is relative
	// to the working directory.
	Log, Out, Error string
	// Rotate are the limits of files this app opens first.
	Rotate RotateOptions
	// Prefixed writes the console's lines to the files (herd's format:
	// "app[i] | line" or JSON, herd's own lines included), each plain-text
	// line after an RFC 3339 timestamp. Without it the files get the app's
	// lines as it wrote them, as PM2's do, and nothing of herd's.
	Prefixed bool
	// Date, if set and not Prefixed, starts each line with the time in
	// this format and ": " (PM2's log_date_format).
	Date *DateFormat
}

// ForApp returns the Logs for one app: l itself when f names no file, else
// a Logs derived from l that also writes the app's lines to its files,
// never colored, as they were written (see Files.Date), or with
// Files.Prefixed as the console shows them, each plain-text line starting
// with a timestamp (RFC 3339, milliseconds). A file's missing folder is
// created (mode 0755), as PM2 does; CreatedDirs lists them. Files are opened in (or shared through) the file set of
// l's root: each distinct path once, with the limits of the first app
// that opened it; l's own File, when it is a *RotatingFile, counts as
// open, and an app naming its path shares it. It fails with a
// *LogFileError if a file cannot be opened, having released the others.
// Release the files with Release.
func (l *Logs) ForApp(f Files) (*Logs, error) {
	if f.Log == "" && f.Out == "" && f.Error == "" {
		return l, nil
	}
	root := l.root()
	af := &appFiles{set: &root.files, prefixed: f.Prefixed, date: f.Date}
	o := f.Rotate
	open := func(p string) (*RotatingFile, error) {
		if p == "" {
			return nil, nil
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, &LogFileError{App: f.App, Path: p, Err: err}
		}
		if g, ok := root.File.(*RotatingFile); ok && absPath(g.path) == abs {
			return g, nil
		}
		if dir := filepath.Dir(abs); !exists(dir) {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, &LogFileError{App: f.App, Path: abs, Err: fmt.Errorf("creating its folder %s: %w", dir, err)}
			}
			af.created = append(af.created, dir)
		}
		rf, err := root.files.acquire(abs, o)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, &LogFileError{App: f.App, Path: abs, Err: err}
		}
		af.held = append(af.held, abs)
		return rf, nil
	}
	all, err := open(f.Log)
	var out, stderr *RotatingFile
	if err == nil {
		out, err = open(f.Out)
	}
	if err == nil {
		stderr, err = open(f.Error)
	}
	if err != nil {
		af.close()
		return nil, err
	}
	af.herd = addFile(nil, all)
	af.out = addFile(addFile(nil, all), out)
	af.err = addFile(addFile(nil, all), stderr)
	return &Logs{Out: root.Out, Color: root.Color, JSON: root.JSON, File: root.File, parent: root, app: af}, nil
}

// CreatedDirs returns the folders that ForApp created for the app's log
// files, or nil.
func (l *Logs) CreatedDirs() []string {
	if l.app == nil {
		return nil
	}
	return l.app.created
}

// exists reports whether path names something (a broken link too).
func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// root returns the Logs that l was derived from, or l.
func (l *Logs) root() *Logs {
	if l.parent != nil {
		return l.parent
	}
	return l
}

// absPath returns p made absolute, or p when that fails.
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// addFile appends f to fs unless it is nil or already there.
func addFile(fs []*RotatingFile, f *RotatingFile) []*RotatingFile {
	if f == nil {
		return fs
	}
	for _, g := range fs {
		if g == f {
			return fs
		}
	}
	return append(fs, f)
}

// write writes a line of stream to the app's files for that stream: the
// console line p, uncolored and with a timestamp first unless it is JSON,
// when the files are prefixed; else raw, the app's line as written
// (without its newline; herd's own lines have none and are left out), after
// the date if the files have a format for it. It reports whether one of
// those files is global (which then has the line).
func (a *appFiles) write(stream string, p, raw []byte, json bool, global io.Writer) (wroteGlobal bool) {
	if !a.prefixed && stream == streamHerd {
		return false
	}
	fs := a.herd
	switch stream {
	case StreamStdout:
		fs = a.out
	case StreamStderr:
		fs = a.err
	}
	if len(fs) == 0 {
		return false
	}
	line := p
	switch {
	case !a.prefixed:
		line = make([]byte, 0, len(raw)+40)
		if a.date != nil {
			line = append(append(line, a.date.Format(time.Now())...), ": "...)
		}
		line = append(append(line, raw...), '\n')
	case !json:
		line = append([]byte(time.Now().Format(stampFormat)+" "), stripColor(p)...)
	}
	for _, f := range fs {
		_, _ = f.Write(line)
		if global != nil && global == io.Writer(f) {
			wroteGlobal = true
		}
	}
	return wroteGlobal
}

// close releases the app's files once.
func (a *appFiles) close() error {
	var err error
	a.once.Do(func() {
		for _, p := range a.held {
			err = errors.Join(err, a.set.release(p))
		}
	})
	return err
}

// Release releases the app's own files of a Logs from ForApp: each is
// closed once no other app of the same root Logs still uses it. Lines
// written after it are dropped from those files. On any other Logs, and
// when called again, it does nothing.
func (l *Logs) Release() error {
	if l.app == nil {
		return nil
	}
	return l.app.close()
}
