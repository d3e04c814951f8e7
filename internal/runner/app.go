package runner

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Readiness modes for App.Ready.
const (
	ReadyListen  = "listen"
	ReadyMessage = "message"
	ReadyNotify  = "notify"
	ReadyStart   = "start"
)

// App is one program herd runs. The zero value of every field but Command
// is usable.
type App struct {
	// Name prefixes the app's log lines; "" means the command's base name.
	Name string
	// Command is the program and its arguments; Command[0] is looked up in
	// PATH.
	Command []string
	// Instances is the number of processes; 0 means 1, -1 means one per CPU.
	Instances int
	// Ports, if any, puts the app in cluster mode: each is opened once on
	// Host and shared by every instance.
	Ports []int
	// Host is the address the ports are opened on; "" means every interface.
	Host string
	// Ready is ReadyListen (""), ReadyNotify, ReadyMessage or ReadyStart.
	Ready string
	// ReadyTimeout bounds how long an instance may take to be ready; 0
	// means 30s.
	ReadyTimeout time.Duration
	// KillTimeout is how long an instance has between SIGTERM and SIGKILL
	// (sent to its whole process group); 0 means 10s.
	KillTimeout time.Duration
	// Dir is the instances' working directory; "" means herd's.
	Dir string
	// Env is added to every instance's environment, as KEY=VALUE.
	Env []string
	// Restart is the restart policy: "always" (""), "on-failure" (exit code
	// not 0, or killed by a signal) or "never". An instance that is not
	// restarted leaves its slot empty; when every instance has exited, Run
	// returns (an *ExitedError if any failed).
	Restart string
	// StopExitCodes are exit codes that never cause a restart, whatever
	// the policy (PM2's stop_exit_codes).
	StopExitCodes []int
	// BackoffInitial and BackoffMax shape the respawn backoff; 0 means
	// 100ms and 10s.
	BackoffInitial, BackoffMax time.Duration
	// MinUptime is how long an instance must have been up for its exit to
	// reset the backoff; 0 means 1s.
	MinUptime time.Duration
	// MaxRestarts is how many unexpected exits within RestartWindow are
	// tolerated; the next makes the app errored and Run return a
	// *ErroredError. 0 means 10; negative means unlimited.
	MaxRestarts int
	// RestartWindow is the sliding window of MaxRestarts; 0 means 30s.
	RestartWindow time.Duration
	// MaxMemory, if positive, is the memory limit of one instance in
	// bytes: the resident memory of its process tree is sampled every
	// MemoryInterval, and an instance over the limit is replaced gracefully
	// (a new one starts; the old one stops once the new one is ready).
	MaxMemory int64
	// MemoryInterval is how often memory is sampled; 0 means 1s.
	MemoryInterval time.Duration
	// NoSocketWarning is how long after start an instance in cluster mode
	// may go without taking its socket (a Node server listening, or any
	// other program waiting for connections on it) before herd warns; 0
	// means 10s.
	NoSocketWarning time.Duration

	// LogFile, if set, is a file that receives every line of the app: its
	// instances' stdout and stderr, and herd's own lines about the app.
	//
	// Like OutFile and ErrorFile, it is a RotatingFile with the limits
	// below, written besides Logs.Out and Logs.File: never colored, in the
	// console's format (plain prefixed text, or JSON when Logs.JSON), each
	// plain-text line starting with an RFC 3339 timestamp in milliseconds
	// and a space. A relative path is relative to herd's working directory
	// (LoadConfig makes a config file's paths relative to the file's
	// directory); the directory must exist. Apps of the same Logs that name
	// the same path (or one app naming it twice) share one open file, with
	// the limits of the first app that opened it; a path equal to that of
	// Logs.File, when it is a *RotatingFile, shares that file. New opens
	// the files and fails with a *LogFileError if one cannot be opened.
	LogFile string
	// OutFile, if set, is a file that receives the stdout lines of the
	// app's instances only; see LogFile.
	OutFile string
	// ErrorFile, if set, is a file that receives the stderr lines of the
	// app's instances only; see LogFile.
	ErrorFile string
	// LogMaxSize is the size a write may not take one of the app's log
	// files past: the file is rotated first (path becomes path.1, path.1
	// becomes path.2, ...). 0 means 10 MiB.
	LogMaxSize int64
	// LogKeep is the number of rotated files kept per log file (path.1 to
	// path.N; older ones are deleted); 0 means 5, negative means none.
	LogKeep int
	// LogMaxAge, if positive, also deletes rotated log files last written
	// more than LogMaxAge ago, when the file is opened and at each
	// rotation; 0 keeps them by count only.
	LogMaxAge time.Duration

	// Unsupported lists the keys of the app's PM2 ecosystem entry that herd
	// does not act on (LoadConfig fills it); New logs a warning naming them.
	Unsupported []string
}

// ErrNoCommand is returned for an App without a command.
var ErrNoCommand = errors.New("no command to run")

// NotFoundError reports a command that is not in PATH or not executable.
type NotFoundError struct {
	Name string
	Err  error
}

// Error returns "command not found: <name>".
func (e *NotFoundError) Error() string { return "command not found: " + e.Name }

// Unwrap returns the lookup error.
func (e *NotFoundError) Unwrap() error { return e.Err }

// ParseInstances parses "max" (or "0") as one per CPU and a positive count as
// itself.
func ParseInstances(s string) (int, error) {
	if s == "max" || s == "0" || s == "-1" {
		return -1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("instances must be a positive number or max, not %q", s)
	}
	return n, nil
}

// Validate checks the app and fills in its Name; it returns ErrNoCommand,
// a *NotFoundError, or an error naming the field at fault.
func (a *App) Validate() error {
	if len(a.Command) == 0 || a.Command[0] == "" {
		return ErrNoCommand
	}
	look := a.Command[0]
	if a.Dir != "" && strings.Contains(look, "/") && !filepath.IsAbs(look) {
		look = filepath.Join(a.Dir, look)
	}
	if _, err := exec.LookPath(look); err != nil {
		return &NotFoundError{Name: a.Command[0], Err: err}
	}
	if fe := a.check(); fe != nil {
		return errors.New(fe.msg)
	}
	if a.Name == "" {
		a.Name = filepath.Base(a.Command[0])
		if a.isNode() && len(a.Command) > 1 {
			a.Name = strings.TrimSuffix(filepath.Base(a.Command[len(a.Command)-1]), filepath.Ext(a.Command[len(a.Command)-1]))
		}
	}
	return nil
}

// instances returns the number of processes to start.
func (a *App) instances() int {
	switch {
	case a.Instances < 0:
		return runtime.NumCPU()
	case a.Instances == 0:
		return 1
	}
	return a.Instances
}

// isNode reports whether the command is node itself.
func (a *App) isNode() bool {
	b := filepath.Base(a.Command[0])
	return b == "node" || b == "nodejs"
}

// ParseSize parses a byte size such as "512", "200K", "300M", "1G" or
// "1.5GB" (powers of 1024).
func ParseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			mult, t = 1<<10, t[:n-1]
		case 'M':
			mult, t = 1<<20, t[:n-1]
		case 'G':
			mult, t = 1<<30, t[:n-1]
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("bad size %q: want a number with an optional K, M or G suffix", s)
	}
	return int64(f * float64(mult)), nil
}

// respawn is the App's restart policy for an instance that exited with
// code (-1 when killed by a signal).
func (a *App) respawn(code int) bool {
	for _, c := range a.StopExitCodes {
		if code == c {
			return false
		}
	}
	switch a.Restart {
	case "never":
		return false
	case "on-failure":
		return code != 0
	}
	return true
}
