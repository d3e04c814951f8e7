// Package app defines App, the one description of a program that `herd run`
// runs: every option of `herd run` is a field of App, with its default and
// its validation here, and nowhere else.
//
// Three sources fill an App, each mapping onto the same fields: the flags
// of `herd run` (cmd/herd), the config readers (package config: herd.yaml
// and PM2 ecosystem files), and JSON (encoding/json with the field tags of
// App: the names of herd.yaml's keys, durations in nanoseconds as
// time.Duration encodes them). The zero value of every field but Command
// means its default: WithDefaults fills them in, from the Default*
// constants.
package app

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/herdrun/herd/cmd/herd/internal/logsink"
	"golang.org/x/sys/unix"
)

// Ready is how herd learns that an instance is ready to serve. The zero
// value means DefaultReady.
type Ready string

// Readiness modes.
const (
	// ReadyListen: a Node app is ready when its server takes the shared
	// socket (the preload shim reports it); any app, Node or not, when a
	// process of its tree waits for connections on a shared socket, as
	// /proc shows (a node:cluster primary, a server in a forked process);
	// in fork mode once started.
	ReadyListen Ready = "listen"
	// ReadyMessage: the app sends 'ready' (or {"herd":"ready"}) on the
	// Node IPC channel, as PM2's wait_ready.
	ReadyMessage Ready = "message"
	// ReadyNotify: the app sends READY=1 to $NOTIFY_SOCKET (sd_notify).
	ReadyNotify Ready = "notify"
	// ReadyStart: ready as soon as it started.
	ReadyStart Ready = "start"
)

// Restart is the restart policy of an instance that exited. The zero value
// means DefaultRestart.
type Restart string

// Restart policies.
const (
	// RestartAlways restarts every instance that exits.
	RestartAlways Restart = "always"
	// RestartOnFailure restarts an instance that exited with a code other
	// than 0, or was killed by a signal.
	RestartOnFailure Restart = "on-failure"
	// RestartNever leaves the slot of an exited instance empty.
	RestartNever Restart = "never"
)

// Defaults that WithDefaults gives the zero fields of an App.
const (
	DefaultInstances       = 1
	DefaultReady           = ReadyListen
	DefaultRestart         = RestartAlways
	DefaultReadyTimeout    = 30 * time.Second
	DefaultKillTimeout     = 10 * time.Second
	DefaultBackoffInitial  = 100 * time.Millisecond
	DefaultBackoffMax      = 10 * time.Second
	DefaultMinUptime       = time.Second
	DefaultMaxRestarts     = 10
	DefaultRestartWindow   = 30 * time.Second
	DefaultMemoryInterval  = time.Second
	DefaultNoSocketWarning = 10 * time.Second
	DefaultLogMaxSize      = 10 << 20 // bytes
	DefaultLogKeep         = 5
	DefaultLogFormat       = LogFormatRaw
	// DefaultStopSignal stops the instances of herd.yaml apps and of the
	// command line; an ecosystem file's apps get PM2's SIGINT (see
	// App.StopSignal).
	DefaultStopSignal = "SIGTERM"
	// InstancesPerCPU bounds Instances: more than InstancesPerCPU per CPU
	// (runtime.NumCPU) is an error unless NoInstanceLimit is set, as a
	// typo such as -i 100000 would otherwise take the machine down.
	InstancesPerCPU = 32
)

// App is one program herd runs. The zero value of every field but Command
// is usable and means the field's Default* constant (see WithDefaults).
// The json tags are App's JSON form, for callers other than the command
// line.
type App struct {
	// Name prefixes the app's log lines; "" means the command's base name
	// (for node, the script's), which Validate fills in.
	Name string `json:"name,omitempty"`
	// Command is the program and its arguments; Command[0] is looked up in
	// PATH.
	Command []string `json:"command"`
	// Instances is the number of processes; 0 means DefaultInstances, -1
	// means one per CPU. More than MaxInstances is an error unless
	// NoInstanceLimit is set.
	Instances int `json:"instances,omitempty"`
	// NoInstanceLimit lifts the bound of MaxInstances on Instances.
	NoInstanceLimit bool `json:"no_instance_limit,omitempty"`
	// Ports, if any, puts the app in cluster mode: each is opened once and
	// shared by every instance, and PORT is set to the first. A program
	// other than node gets them open before it starts, on Host; a node
	// command opens each when it listens, on the host its listen gives (or
	// Host, if set), so that herd never binds wider than the app asked.
	Ports []int `json:"ports,omitempty"`
	// Cluster puts the app in cluster mode without Ports: the instances
	// share whatever TCP ports their Node processes listen on (herd's
	// preload shim asks herd for each, which opens it on first request), as
	// Node's cluster workers and PM2's cluster mode do. herd sets no PORT.
	Cluster bool `json:"cluster,omitempty"`
	// Host is the address the ports are opened on; "" means every interface
	// (for a Node app's own listen calls: the host each one gives).
	Host string `json:"host,omitempty"`
	// Ready is the readiness mode; "" means DefaultReady.
	Ready Ready `json:"ready,omitempty"`
	// ReadyTimeout bounds how long an instance may take to be ready; 0
	// means DefaultReadyTimeout.
	ReadyTimeout time.Duration `json:"ready_timeout,omitempty"`
	// KillTimeout is how long an instance has between SIGTERM and SIGKILL
	// (sent to its whole process group); 0 means DefaultKillTimeout.
	KillTimeout time.Duration `json:"kill_timeout,omitempty"`
	// Dir is the instances' working directory; "" means herd's.
	Dir string `json:"cwd,omitempty"`
	// Env is added to every instance's environment, as KEY=VALUE.
	Env []string `json:"env,omitempty"`
	// Restart is the restart policy; "" means DefaultRestart. An instance
	// that is not restarted leaves its slot empty; when every instance has
	// exited, the runner returns (with an error if any failed).
	Restart Restart `json:"restart,omitempty"`
	// StopExitCodes are exit codes that never cause a restart, whatever
	// the policy (PM2's stop_exit_codes).
	StopExitCodes []int `json:"stop_exit_codes,omitempty"`
	// BackoffInitial and BackoffMax shape the respawn backoff; 0 means
	// DefaultBackoffInitial and DefaultBackoffMax.
	BackoffInitial time.Duration `json:"backoff,omitempty"`
	BackoffMax     time.Duration `json:"backoff_max,omitempty"`
	// MinUptime is how long an instance must have been ready for its exit
	// to count as stable: a stable exit resets the backoff and the count of
	// unstable restarts (see MaxRestarts); 0 means DefaultMinUptime.
	MinUptime time.Duration `json:"min_uptime,omitempty"`
	// MaxRestarts bounds restarts in two ways, as PM2's max_restarts and
	// min_uptime do, and whichever trips first makes the app errored (herd
	// stops it): more than MaxRestarts unstable exits of one instance in a
	// row (each before it had been ready for MinUptime), whatever the
	// backoff; and more than MaxRestarts unexpected exits of all instances
	// within RestartWindow. 0 means DefaultMaxRestarts; -1 means
	// unlimited; below -1 is an error.
	MaxRestarts int `json:"max_restarts,omitempty"`
	// RestartWindow is the sliding window of MaxRestarts; 0 means
	// DefaultRestartWindow.
	RestartWindow time.Duration `json:"restart_window,omitempty"`
	// MaxMemory, if positive, is the memory limit of one instance in
	// bytes: the resident memory of its process tree is sampled every
	// MemoryInterval from the moment it starts. A ready instance over the
	// limit is replaced gracefully (a new one starts; the old one stops
	// once the new one is ready). One that is not ready yet has nothing to
	// hand over: its process tree is killed (SIGKILL) at once and that
	// counts as a failed start (at herd's start, a boot failure; later, an
	// unstable exit, respawned after the backoff).
	MaxMemory int64 `json:"max_memory,omitempty"`
	// MemoryInterval is how often memory is sampled; 0 means
	// DefaultMemoryInterval.
	MemoryInterval time.Duration `json:"memory_interval,omitempty"`
	// NoSocketWarning is how long after start an instance in cluster mode
	// may go without taking its socket (a Node server listening, or any
	// other program waiting for connections on it) before herd warns; 0
	// means DefaultNoSocketWarning.
	NoSocketWarning time.Duration `json:"socket_warning,omitempty"`

	// LogFile, if set, is a file that receives every line of the app's
	// instances, stdout and stderr.
	//
	// Like OutFile and ErrorFile, it is a rotating file with the limits
	// below, written besides the console and never colored. What a line
	// looks like is LogFormat's: by default the app's line as written, as
	// PM2 writes it (after a timestamp only with LogDateFormat); with
	// LogFormatHerd the console's line (plain prefixed text, or JSON), each
	// plain-text one after an RFC 3339 timestamp in milliseconds and a
	// space, and herd's own lines about the app too. A relative path is
	// relative to herd's working directory (the config readers make a
	// config file's paths relative to the file's directory); a missing
	// directory is created, as PM2 does. Apps that name the same path
	// share one open file (see package logsink).
	LogFile string `json:"log_file,omitempty"`
	// OutFile, if set, is a file that receives the stdout lines of the
	// app's instances only; see LogFile.
	OutFile string `json:"out_file,omitempty"`
	// ErrorFile, if set, is a file that receives the stderr lines of the
	// app's instances only; see LogFile.
	ErrorFile string `json:"error_file,omitempty"`
	// LogMaxSize is the size in bytes a write may not take one of the
	// app's log files past: the file is rotated first (path becomes
	// path.1, path.1 becomes path.2, ...). 0 means DefaultLogMaxSize.
	LogMaxSize int64 `json:"log_max_size,omitempty"`
	// LogKeep is the number of rotated files kept per log file (path.1 to
	// path.N; older ones are deleted); 0 means DefaultLogKeep, negative
	// means none. (The flag and the config files spell none as 0.)
	LogKeep int `json:"log_keep,omitempty"`
	// LogMaxAge, if positive, also deletes rotated log files last written
	// more than LogMaxAge ago, when the file is opened and at each
	// rotation; 0 keeps them by count only.
	LogMaxAge time.Duration `json:"log_max_age,omitempty"`

	// LogFormat is the form of the lines of the app's own log files
	// (LogFile, OutFile, ErrorFile); "" means DefaultLogFormat.
	LogFormat LogFormat `json:"log_format,omitempty"`
	// LogDateFormat, if set, starts each line of the app's own log files
	// in LogFormatRaw with the time in this format (PM2's log_date_format,
	// in dayjs tokens such as YYYY-MM-DD HH:mm:ss.SSS Z) and ": ".
	LogDateFormat string `json:"log_date_format,omitempty"`

	// StopSignal is the signal that stops an instance gracefully (at
	// herd's stop, a reload, a scale-down), by name such as "SIGINT" or
	// "INT"; SIGKILL follows after KillTimeout. "" means
	// DefaultStopSignal. The config reader gives apps of a PM2 ecosystem
	// file PM2's SIGINT unless the file's kill_signal says otherwise.
	StopSignal string `json:"kill_signal,omitempty"`

	// Warnings are what the config reader noticed about the app: each
	// names a key of its file that herd ignores or reads differently from
	// PM2, and why. The runner logs each as a warning when the app starts.
	Warnings []string `json:"warnings,omitempty"`
}

// LogFormat is the form of the lines of an app's own log files. The zero
// value means DefaultLogFormat.
type LogFormat string

// Log file formats.
const (
	// LogFormatRaw writes the app's lines as it wrote them, as PM2 does:
	// no prefix, and a timestamp only when LogDateFormat asks for one.
	// herd's own lines about the app go to the terminal only.
	LogFormatRaw LogFormat = "raw"
	// LogFormatHerd writes the terminal's lines: "name[i] | line" (or
	// JSON with --json), herd's own lines included, each plain-text line
	// after an RFC 3339 timestamp.
	LogFormatHerd LogFormat = "herd"
)

// WithDefaults returns a with every zero field that has a default set to
// it: Instances, Ready, Restart, the timeouts and intervals, MaxRestarts,
// LogMaxSize and LogKeep. Fields whose zero value is meaningful (Name,
// Host, Dir, MaxMemory, LogMaxAge, ...) and negative values (Instances -1,
// MaxRestarts < 0, LogKeep < 0) are kept.
func (a App) WithDefaults() App {
	if a.Instances == 0 {
		a.Instances = DefaultInstances
	}
	if a.Ready == "" {
		a.Ready = DefaultReady
	}
	if a.Restart == "" {
		a.Restart = DefaultRestart
	}
	if a.LogFormat == "" {
		a.LogFormat = DefaultLogFormat
	}
	if a.StopSignal == "" {
		a.StopSignal = DefaultStopSignal
	}
	orDefault(&a.ReadyTimeout, DefaultReadyTimeout)
	orDefault(&a.KillTimeout, DefaultKillTimeout)
	orDefault(&a.BackoffInitial, DefaultBackoffInitial)
	orDefault(&a.BackoffMax, DefaultBackoffMax)
	orDefault(&a.MinUptime, DefaultMinUptime)
	orDefault(&a.RestartWindow, DefaultRestartWindow)
	orDefault(&a.MemoryInterval, DefaultMemoryInterval)
	orDefault(&a.NoSocketWarning, DefaultNoSocketWarning)
	orDefault(&a.MaxRestarts, DefaultMaxRestarts)
	orDefault(&a.LogMaxSize, DefaultLogMaxSize)
	orDefault(&a.LogKeep, DefaultLogKeep)
	return a
}

// orDefault sets *d to def when *d is its zero value.
func orDefault[T comparable](d *T, def T) {
	var zero T
	if *d == zero {
		*d = def
	}
}

// MaxInstances returns the largest Instances allowed without
// NoInstanceLimit: InstancesPerCPU times the number of CPUs.
func MaxInstances() int { return InstancesPerCPU * runtime.NumCPU() }

// Count returns the number of processes to start: Instances, one per CPU
// when it is negative, DefaultInstances when it is 0.
func (a *App) Count() int {
	switch {
	case a.Instances < 0:
		return runtime.NumCPU()
	case a.Instances == 0:
		return DefaultInstances
	}
	return a.Instances
}

// ClusterMode reports whether the instances share ports: Ports or
// Cluster is set.
func (a *App) ClusterMode() bool { return len(a.Ports) > 0 || a.Cluster }

// IsNode reports whether the command is node itself.
func (a *App) IsNode() bool {
	if len(a.Command) == 0 {
		return false
	}
	b := filepath.Base(a.Command[0])
	return b == "node" || b == "nodejs"
}

// Respawn reports whether the app's restart policy (Restart and
// StopExitCodes) restarts an instance that exited with code (-1 when
// killed by a signal).
func (a *App) Respawn(code int) bool {
	for _, c := range a.StopExitCodes {
		if code == c {
			return false
		}
	}
	switch a.Restart {
	case RestartNever:
		return false
	case RestartOnFailure:
		return code != 0
	}
	return true
}

// ErrNoCommand is returned for an App without a command.
var ErrNoCommand = errors.New("no command to run")

// NotExecutableError reports a command that exists but cannot be run: a
// directory, or a file without execute permission.
type NotExecutableError struct {
	Name string // the command as given
	Dir  bool   // it is a directory
}

// Error says what the command is and what to write instead.
func (e *NotExecutableError) Error() string {
	if e.Dir {
		return fmt.Sprintf("command %s is a directory, not a program: give the program in it to run, e.g. %s", e.Name, filepath.Join(e.Name, "server"))
	}
	return fmt.Sprintf("command %s is not executable: make it so (chmod +x %s) or give its interpreter first (e.g. sh %s, python3 %s, node %s)", e.Name, e.Name, e.Name, e.Name, e.Name)
}

// NotFoundError reports a command that is not in PATH or not executable.
type NotFoundError struct {
	Name string
	Err  error
}

// Error returns "command not found: <name>".
func (e *NotFoundError) Error() string { return "command not found: " + e.Name }

// Unwrap returns the lookup error.
func (e *NotFoundError) Unwrap() error { return e.Err }

// FieldError reports an App field with a bad value. Key is the field's
// name in herd.yaml (and in App's JSON form), so that a config reader can
// point at the line.
type FieldError struct {
	Key string
	Msg string
}

// Error returns Msg, which names the key.
func (e *FieldError) Error() string { return e.Msg }

// Validate checks the app and fills in its Name; it returns ErrNoCommand,
// a *NotFoundError, a *NotExecutableError, or a *FieldError (see Check).
func (a *App) Validate() error {
	if len(a.Command) == 0 || a.Command[0] == "" {
		return ErrNoCommand
	}
	look := a.Command[0]
	if a.Dir != "" && strings.Contains(look, "/") && !filepath.IsAbs(look) {
		look = filepath.Join(a.Dir, look)
	}
	if _, err := exec.LookPath(look); err != nil {
		if strings.Contains(look, "/") {
			if st, serr := os.Stat(look); serr == nil {
				return &NotExecutableError{Name: a.Command[0], Dir: st.IsDir()}
			}
		}
		return &NotFoundError{Name: a.Command[0], Err: err}
	}
	if err := a.Check(); err != nil {
		return err
	}
	a.Name = a.DefaultName()
	return nil
}

// Check validates the fields that need no look-up of the command: the
// instance count, the readiness mode, the restart policy, the ports, the
// restart limits and the log limits. It returns a *FieldError, or nil.
func (a *App) Check() error {
	if a.Instances < -1 {
		return &FieldError{"instances", fmt.Sprintf("instances must be a positive number or max, not %d", a.Instances)}
	}
	if lim := MaxInstances(); a.Instances > lim && !a.NoInstanceLimit {
		return &FieldError{"instances", fmt.Sprintf("instances: %d is more than %d (%d per CPU on this %d-CPU machine): give fewer, "+
			"or add --no-instance-limit (no_instance_limit: true in herd.yaml) to start that many", a.Instances, lim, InstancesPerCPU, runtime.NumCPU())}
	}
	switch a.Ready {
	case "", ReadyListen, ReadyMessage, ReadyNotify, ReadyStart:
	default:
		return &FieldError{"ready", fmt.Sprintf("ready must be listen, notify, message or start, not %q", string(a.Ready))}
	}
	switch a.Restart {
	case "", RestartAlways, RestartOnFailure, RestartNever:
	default:
		return &FieldError{"restart", fmt.Sprintf("restart must be always, on-failure or never, not %q", string(a.Restart))}
	}
	for _, p := range a.Ports {
		if p < 1 || p > 65535 {
			return &FieldError{"ports", fmt.Sprintf("port %d out of range 1-65535", p)}
		}
	}
	if a.MaxRestarts < -1 {
		return &FieldError{"max_restarts", fmt.Sprintf("max_restarts must be 0 or more (or -1: never give up), not %d", a.MaxRestarts)}
	}
	if a.LogKeep < -1 {
		return &FieldError{"log_keep", fmt.Sprintf("log_keep must be 0 or more, not %d", a.LogKeep)}
	}
	for _, f := range []struct {
		key string
		d   time.Duration
	}{{"ready_timeout", a.ReadyTimeout}, {"kill_timeout", a.KillTimeout}, {"backoff", a.BackoffInitial}, {"backoff_max", a.BackoffMax},
		{"min_uptime", a.MinUptime}, {"restart_window", a.RestartWindow}, {"memory_interval", a.MemoryInterval}} {
		if f.d < 0 {
			return &FieldError{f.key, fmt.Sprintf("%s must not be negative, not %v", f.key, f.d)}
		}
	}
	if a.MaxMemory < 0 {
		return &FieldError{"max_memory", fmt.Sprintf("max_memory must not be negative, not %d", a.MaxMemory)}
	}
	if a.LogMaxSize < 0 {
		return &FieldError{"log_max_size", fmt.Sprintf("log_max_size must not be negative, not %d", a.LogMaxSize)}
	}
	if a.LogMaxAge < 0 {
		return &FieldError{"log_max_age", fmt.Sprintf("log_max_age must not be negative, not %v", a.LogMaxAge)}
	}
	switch a.LogFormat {
	case "", LogFormatRaw, LogFormatHerd:
	default:
		return &FieldError{"log_format", fmt.Sprintf("log_format must be raw (the app's lines as written) or herd (name[i] | line), not %q", string(a.LogFormat))}
	}
	if a.LogDateFormat != "" {
		if _, err := logsink.ParseDateFormat(a.LogDateFormat); err != nil {
			return &FieldError{"log_date_format", "log_date_format: " + err.Error()}
		}
	}
	if a.StopSignal != "" {
		if _, err := ParseSignal(a.StopSignal); err != nil {
			return &FieldError{"kill_signal", "kill_signal: " + err.Error()}
		}
	}
	return nil
}

// ParseSignal parses a signal name: "SIGINT", "INT" or "sigint" (any
// case), or its number ("2").
func ParseSignal(s string) (syscall.Signal, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	if n, err := strconv.Atoi(t); err == nil && n > 0 && unix.SignalName(syscall.Signal(n)) != "" {
		return syscall.Signal(n), nil
	}
	if !strings.HasPrefix(t, "SIG") {
		t = "SIG" + t
	}
	if sig := unix.SignalNum(t); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q: want a name such as SIGINT, SIGTERM or SIGQUIT", s)
}

// Signal returns StopSignal as a signal: DefaultStopSignal when it is
// empty, and SIGTERM when it cannot be parsed (Check reports that).
func (a *App) Signal() syscall.Signal {
	sig, err := ParseSignal(cmp.Or(a.StopSignal, DefaultStopSignal))
	if err != nil {
		return syscall.SIGTERM
	}
	return sig
}

// DefaultName returns the name Validate gives an app without one: the
// command's base name, or for node, the script's without its extension.
func (a *App) DefaultName() string {
	if a.Name != "" || len(a.Command) == 0 {
		return a.Name
	}
	last := a.Command[len(a.Command)-1]
	if a.IsNode() && len(a.Command) > 1 {
		return strings.TrimSuffix(filepath.Base(last), filepath.Ext(last))
	}
	return filepath.Base(a.Command[0])
}

// ParseInstances parses "max" as one per CPU (-1) and a positive count as
// itself; anything else, 0 included, is an error.
func ParseInstances(s string) (int, error) {
	if s == "max" {
		return -1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("instances must be a positive number or max, not %q", s)
	}
	return n, nil
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
