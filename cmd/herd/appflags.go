package main

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/herdrun/herd/cmd/herd/internal/app"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// appFlags defines the flags of herd run that set an App's fields, each
// bound to its field of a. A flag left out leaves its field zero, so the
// App's own default applies (app.App.WithDefaults); the help shows that
// default, taken from app's Default* constants.
func appFlags(f *pflag.FlagSet, a *app.App) {
	f.VarP(instancesFlag{&a.Instances}, "instances", "i", "number of instances, or max for one per CPU; at most "+strconv.Itoa(app.InstancesPerCPU)+" per CPU unless --no-instance-limit")
	f.BoolVar(&a.NoInstanceLimit, "no-instance-limit", false, "allow more than "+strconv.Itoa(app.InstancesPerCPU)+" instances per CPU")
	hp := &hostPorts{a: a}
	f.VarP(portFlag{hp}, "port", "p", "port to share among the instances (cluster mode), PORT or HOST:PORT; repeatable")
	f.Var(hostFlag{hp}, "host", "address to open the ports on (default: every interface, or for a node app's own listen, the host it gives)")
	f.BoolVar(&a.Cluster, "cluster", false, "cluster mode without -p: the instances share every port their node processes listen on")
	f.StringVar(&a.Name, "name", "", "app name for log prefixes (default from the command)")
	f.Var(textFlag[app.Ready]{&a.Ready}, "ready", "readiness signal: listen, notify, message or start")
	f.Var(textFlag[app.Restart]{&a.Restart}, "restart", "restart policy: always, on-failure or never")
	f.IntSliceVar(&a.StopExitCodes, "stop-exit-codes", nil, "exit codes that never cause a restart; repeatable or comma-separated")
	f.DurationVar(&a.KillTimeout, "kill-timeout", 0, "time between SIGTERM and SIGKILL when stopping an instance")
	f.DurationVar(&a.ReadyTimeout, "ready-timeout", 0, "how long a new instance may take to be ready")
	f.DurationVar(&a.BackoffInitial, "backoff", 0, "first restart delay after repeated crashes; doubles each time")
	f.DurationVar(&a.BackoffMax, "backoff-max", 0, "cap of the restart delay")
	f.DurationVar(&a.MinUptime, "min-uptime", 0, "time an instance must have been ready for its exit to count as stable (resets the backoff and the --max-restarts count)")
	f.IntVar(&a.MaxRestarts, "max-restarts", 0, "unstable restarts of one instance in a row (each up less than --min-uptime), and unexpected exits of all within --restart-window, tolerated before the app is errored (-1: unlimited)")
	f.DurationVar(&a.RestartWindow, "restart-window", 0, "window of --max-restarts")
	f.StringArrayVarP(&a.Env, "env-var", "e", nil, "KEY=VALUE added to the instances' environment; repeatable")
	f.Var(sizeFlag{&a.MaxMemory, "max-memory"}, "max-memory", "memory limit of one instance and its children, e.g. 300M, from its start: a ready instance over it is replaced gracefully, one not ready yet is killed (a failed start)")
	f.DurationVar(&a.MemoryInterval, "memory-interval", 0, "how often memory is sampled for --max-memory")
	f.StringVar(&a.LogFile, "log-file", "", "also write the app's stdout and stderr lines to this file, as --log-format says (with --config: the console lines of every app, herd's included, not timestamped)")
	f.StringVar(&a.OutFile, "out-file", "", "also write the app's stdout lines to this file (not with --config: use out_file)")
	f.StringVar(&a.ErrorFile, "error-file", "", "also write the app's stderr lines to this file (not with --config: use error_file)")
	f.Var(sizeFlag{&a.LogMaxSize, "log-max-size"}, "log-max-size", "rotate a log file when a line would take it past this size")
	f.Var(keepFlag{&a.LogKeep}, "log-keep", "rotated log files to keep (file.1 ... file.N; 0: none)")
	f.DurationVar(&a.LogMaxAge, "log-max-age", 0, "also delete rotated log files older than this (0: keep by count only)")
	f.Var(textFlag[app.LogFormat]{&a.LogFormat}, "log-format", "lines of the log files: raw (as the app wrote them, as PM2's) or herd (the console's, timestamped)")
	f.StringVar(&a.LogDateFormat, "log-date-format", "", "start each raw log file line with the time in this format (PM2's log_date_format, e.g. YYYY-MM-DD HH:mm:ss)")
	f.StringVar(&a.StopSignal, "kill-signal", "", "signal that stops an instance gracefully (SIGKILL follows after --kill-timeout)")
	f.DurationVar(&a.NoSocketWarning, "socket-warning", 0, "warn when an instance has not taken its socket after this long")
	_ = f.MarkHidden("socket-warning")

	// The defaults the help shows are the App's, not the flags' zeros.
	for name, def := range map[string]string{
		"instances":       strconv.Itoa(app.DefaultInstances),
		"ready":           string(app.DefaultReady),
		"restart":         string(app.DefaultRestart),
		"kill-timeout":    app.DefaultKillTimeout.String(),
		"ready-timeout":   app.DefaultReadyTimeout.String(),
		"backoff":         app.DefaultBackoffInitial.String(),
		"backoff-max":     app.DefaultBackoffMax.String(),
		"min-uptime":      app.DefaultMinUptime.String(),
		"max-restarts":    strconv.Itoa(app.DefaultMaxRestarts),
		"restart-window":  app.DefaultRestartWindow.String(),
		"memory-interval": app.DefaultMemoryInterval.String(),
		"log-max-size":    strconv.Itoa(app.DefaultLogMaxSize>>20) + "M",
		"log-keep":        strconv.Itoa(app.DefaultLogKeep),
		"log-format":      string(app.DefaultLogFormat),
		"kill-signal":     app.DefaultStopSignal,
		"socket-warning":  app.DefaultNoSocketWarning.String(),
	} {
		f.Lookup(name).DefValue = def
	}
}

// flagValueError is a flag value that an App field cannot take; its
// message is herd's own, without pflag's "invalid argument" wrapping.
type flagValueError struct{ err error }

func (e *flagValueError) Error() string { return e.err.Error() }
func (e *flagValueError) Unwrap() error { return e.err }

// flagError is herd run's cobra FlagErrorFunc: a bad value of an App flag
// is a usage error with the App's message; other errors stay cobra's.
func flagError(_ *cobra.Command, err error) error {
	var fe *flagValueError
	if errors.As(err, &fe) {
		return &usageError{fe.err}
	}
	return err
}

// instancesFlag sets App.Instances from a count or "max".
// hostPorts is what -p and --host set: App.Ports and App.Host, where a host
// given with -p HOST:PORT and one given with --host must agree.
type hostPorts struct {
	a      *app.App
	byPort bool // Host came from -p HOST:PORT
	byFlag bool // Host came from --host
}

func (h *hostPorts) setHost(host string, byPort bool) error {
	if (h.byPort || h.byFlag) && host != h.a.Host && (h.byPort || byPort) {
		return &flagValueError{fmt.Errorf("host %q differs from %q given before: ports of one app share one host", host, h.a.Host)}
	}
	h.a.Host = host
	if byPort {
		h.byPort = true
	} else {
		h.byFlag = true
	}
	return nil
}

// portFlag adds a port to App.Ports from PORT or HOST:PORT ([::1]:3000).
type portFlag struct{ h *hostPorts }

func (v portFlag) String() string {
	if v.h == nil || len(v.h.a.Ports) == 0 {
		return ""
	}
	return fmt.Sprint(v.h.a.Ports)
}

func (v portFlag) Set(s string) error {
	host, ps, hasHost := "", s, false
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		h, p, err := net.SplitHostPort(s)
		if err != nil {
			return &flagValueError{fmt.Errorf("port %q: want PORT or HOST:PORT (an IPv6 host in brackets: [::1]:3000)", s)}
		}
		host, ps, hasHost = h, p, true
	}
	n, err := strconv.Atoi(ps)
	if err != nil {
		return &flagValueError{fmt.Errorf("port %q: want a number from 1 to 65535, or HOST:PORT", s)}
	}
	if n < 1 || n > 65535 {
		return &flagValueError{fmt.Errorf("port %d out of range 1-65535", n)}
	}
	if hasHost {
		if err := v.h.setHost(host, true); err != nil {
			return err
		}
	}
	v.h.a.Ports = append(v.h.a.Ports, n)
	return nil
}

func (portFlag) Type() string { return "[host:]port" }

// hostFlag sets App.Host.
type hostFlag struct{ h *hostPorts }

func (v hostFlag) String() string {
	if v.h == nil {
		return ""
	}
	return v.h.a.Host
}

func (v hostFlag) Set(s string) error { return v.h.setHost(s, false) }

func (hostFlag) Type() string { return "string" }

type instancesFlag struct{ p *int }

func (v instancesFlag) String() string {
	if v.p == nil || *v.p == 0 {
		return ""
	}
	if *v.p < 0 {
		return "max"
	}
	return strconv.Itoa(*v.p)
}

func (v instancesFlag) Set(s string) error {
	n, err := app.ParseInstances(s)
	if err != nil {
		return &flagValueError{err}
	}
	*v.p = n
	return nil
}

func (instancesFlag) Type() string { return "string" }

// sizeFlag sets a byte size field from "300M" and the like; name is the
// flag's, for the error message.
type sizeFlag struct {
	p    *int64
	name string
}

func (v sizeFlag) String() string {
	if v.p == nil || *v.p == 0 {
		return ""
	}
	return strconv.FormatInt(*v.p, 10)
}

func (v sizeFlag) Set(s string) error {
	n, err := app.ParseSize(s)
	if err != nil {
		return &flagValueError{fmt.Errorf("--%s: %w", v.name, err)}
	}
	*v.p = n
	return nil
}

func (sizeFlag) Type() string { return "string" }

// keepFlag sets App.LogKeep: on the command line 0 keeps no rotated file,
// which App spells -1 (its 0 is the default).
type keepFlag struct{ p *int }

func (v keepFlag) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.Itoa(max(*v.p, 0))
}

func (v keepFlag) Set(s string) error {
	n, err := strconv.ParseInt(s, 0, 64) // as pflag's int flags
	if err != nil {
		return err
	}
	if n < 0 {
		return &flagValueError{fmt.Errorf("--log-keep must be 0 or more (0 keeps no rotated file), not %d", n)}
	}
	if n == 0 {
		n = -1
	}
	*v.p = int(n)
	return nil
}

func (keepFlag) Type() string { return "int" }

// textFlag sets a string-typed App field (app.Ready, app.Restart) as
// given; App.Validate checks it.
type textFlag[T ~string] struct{ p *T }

func (v textFlag[T]) String() string {
	if v.p == nil {
		return ""
	}
	return string(*v.p)
}

func (v textFlag[T]) Set(s string) error { *v.p = T(s); return nil }

func (textFlag[T]) Type() string { return "string" }
