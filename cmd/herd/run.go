package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/herdrun/herd/cluster"
	"github.com/herdrun/herd/cmd/herd/internal/app"
	"github.com/herdrun/herd/cmd/herd/internal/config"
	"github.com/herdrun/herd/cmd/herd/internal/logsink"
	"github.com/herdrun/herd/cmd/herd/internal/runner"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// Exit statuses of herd run, beyond exitOK, exitError and exitUsage.
const (
	exitErrored  = 3   // the app kept crashing and was stopped (errored)
	exitNotExec  = 126 // the command is a directory or not executable
	exitNotFound = 127 // the command was not found
)

const runLong = `Run any program as N supervised instances in the foreground, like
pm2-runtime or gunicorn -w N, for programs in any language.

Cluster mode (one or more -p, or --cluster): the instances share their ports.
A Node app needs no change: herd starts node with a preload shim (also through
NODE_OPTIONS for npm start, yarn start or a script) that makes every TCP
listen(port, host) ask herd for that exact address; herd opens it once, on the
host the app gave (never a wider one), and hands the same socket to every
instance, as Node's cluster does. -p HOST:PORT or --host binds the ports to
HOST. Other programs get the -p ports open before they start, inherited as fds
3, 4, ... (LISTEN_FDS, LISTEN_FDNAMES "port-<n>", LISTEN_PID; systemd socket
activation), on --host or every interface. PORT is set to the first port. With
--cluster and no -p, herd sets no PORT and shares whatever ports the app's node
processes listen on. With -c, a cluster app's port comes from -p, then
-e PORT=, then the file's env, then herd's own PORT.

Fork mode (no -p): N independent instances.

Every instance gets HERD_INSTANCE and NODE_APP_INSTANCE (0..N-1) and HERD_APP.

Readiness (--ready): listen (Node: the app's server takes its socket; other
programs: they wait for connections on it, in an epoll set or in accept, as
/proc shows; fork mode: once started), notify (the app sends READY=1 to $NOTIFY_SOCKET,
systemd's sd_notify; herd gives each instance its own socket), message (the app sends 'ready' on the Node IPC
channel, PM2's wait_ready: process.send('ready')), or start.

Signals to herd: SIGHUP rolling reload (each new instance must be ready before
the old one stops; a failing new instance aborts the reload and the old ones
stay), SIGTERM/SIGINT graceful stop (--kill-signal to every instance, SIGKILL
to its whole process group after --kill-timeout), SIGTTIN/SIGTTOU one instance more
or less. Each instance runs under a small guard process (herd itself), the
subreaper of what it starts: a process the instance abandons (setsid, a
double fork) is stopped when the instance exits, and the whole tree is
stopped when herd dies, even of kill -9, so nothing outlives herd.

Logs: every line goes to stdout, prefixed with the app and instance
("web[0] | ..."; colored on a terminal unless NO_COLOR is set), or as JSON
with --json. --log-file also writes the app's stdout and stderr lines to a
file, --out-file its stdout lines and --error-file its stderr lines. File
lines are the app's own, as it wrote them (as PM2's files), after the time
only with --log-date-format (dayjs tokens, e.g. "YYYY-MM-DD HH:mm:ss");
--log-format herd writes the console's lines instead, uncolored, timestamped
(RFC 3339), herd's own lines included. A missing folder is created. A file
is rotated before it would pass --log-max-size (file.1, file.2, ...),
keeping --log-keep rotated files and none older than --log-max-age. With
--config, --log-file receives the console lines of every app (without
timestamps) and each app can have its own files: log_file, out_file,
error_file, log_format, log_date_format, log_max_size, log_keep and
log_max_age in herd.yaml (PM2's keys and aliases in an ecosystem file);
apps naming the same file share it.

Stopping: an instance gets --kill-signal (SIGTERM; kill_signal in a config
file; apps of a PM2 ecosystem file get PM2's SIGINT and 1.6s kill timeout
unless the file says otherwise), then SIGKILL to its whole process group
after --kill-timeout.

Config files (-c): herd.yaml, or a PM2 ecosystem file, JSON or JavaScript
(ecosystem.config.js, evaluated by node), read as PM2 7 reads it, with a
warning for each key herd ignores or reads differently; --env NAME selects
each app's env_NAME block and --only NAME[,NAME] some of the apps.

Exit status: 0 clean stop; 1 failure (port in use, an instance crashed at boot
- its last stderr lines are printed - or not ready in time); 2 bad command
line; 3 errored: the app kept crashing (more than --max-restarts unexpected
exits within --restart-window, or more than --max-restarts restarts of one
instance in a row, each up less than --min-uptime), or with --restart
on-failure or never every instance exited and one failed (1); 126 the command
is a directory or not executable; 127 command not found. With --restart
on-failure or never herd exits once every instance has exited.`

// runOptions are the options of herd run that are not an App's: the App's
// own options are flags bound to the fields of app (see appFlags).
type runOptions struct {
	app     app.App // the app of a command line; with --config, the log file options
	json    bool
	config  string
	envName string
	only    []string
}

func newRunCmd(stdout, stderr io.Writer, getenv env) *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run [flags] -- CMD [ARGS...]",
		Short: "Run any program as N supervised instances, sharing ports (cluster mode) or not (fork mode)",
		Long:  runLong,
		Example: `  herd run -i 2 -p 3000 -- node app.js
  herd run -i max -p 8080 --ready message -- node server.js
  herd run -i 4 -- python worker.py
  kill -HUP <herd pid>     # rolling reload`,
	}
	cmd.RunE = runE(func(cmd *cobra.Command, args []string) error {
		return runRun(cmd, o, args, stdout, stderr, getenv)
	})
	f := cmd.Flags()
	// Everything from the command on is the command's: herd run node app.js --port 1
	// passes --port to the app, with or without "--".
	f.SetInterspersed(false)
	appFlags(f, &o.app)
	f.StringVarP(&o.config, "config", "c", "", "run the apps of a herd YAML file or a PM2 ecosystem file (.json or .js)")
	f.StringVar(&o.envName, "env", "", "with --config, merge each app's env_<NAME> block over its env")
	f.StringSliceVar(&o.only, "only", nil, "with --config, run only the apps of these names (PM2's --only NAME[,NAME])")
	f.BoolVar(&o.json, "json", false, "write logs as JSON lines")
	cmd.SetFlagErrorFunc(flagError)
	return cmd
}

func runRun(cmd *cobra.Command, o runOptions, args []string, stdout, stderr io.Writer, getenv env) error {
	if o.config != "" {
		if len(args) > 0 {
			return &usageError{errors.New("give --config or a command, not both")}
		}
		return runConfig(cmd, o, stdout, stderr, getenv)
	}
	if o.envName != "" {
		return &usageError{errors.New("--env needs --config (use -e KEY=VALUE to set a variable)")}
	}
	if len(o.only) > 0 {
		return &usageError{errors.New("--only needs --config: it picks apps of the file")}
	}
	if len(args) == 0 {
		return &usageError{errors.New("no command to run: give it after --, e.g. herd run -i 2 -p 3000 -- node app.js")}
	}
	for _, kv := range o.app.Env {
		if !strings.Contains(kv, "=") {
			return &usageError{fmt.Errorf("--env-var %q: want KEY=VALUE", kv)}
		}
	}
	a := o.app
	a.Command = args
	if err := a.Validate(); err != nil {
		if code := commandErrorCode(err); code != 0 {
			return &exitCodeError{code: code, err: err}
		}
		return &usageError{err}
	}
	// A single app's --log-file is its own (App.LogFile, with timestamps
	// and its rotation limits), not a global file.
	logs, closeLogs, err := newLogs(o.json, "", a, stdout, getenv)
	if err != nil {
		return err
	}
	defer closeLogs()
	r, err := runner.New(a, logs)
	if err != nil {
		return err
	}
	ctx, release := holdStopSignals(cmd.Context())
	defer release()
	return withOrphans(stderr, a.WithDefaults().KillTimeout, func() error { return runErr(r.Run(ctx), []app.App{a}) })
}

// commandErrorCode returns the exit status of an error about the command
// (127 not found, 126 not executable, as a shell does), or 0.
func commandErrorCode(err error) int {
	var nf *app.NotFoundError
	var ne *app.NotExecutableError
	switch {
	case errors.As(err, &nf):
		return exitNotFound
	case errors.As(err, &ne):
		return exitNotExec
	}
	return 0
}

// runErr maps a runner error to herd's exit statuses; apps are the apps
// that ran, for the hints.
func runErr(err error, apps []app.App) error {
	var be *runner.BootError
	var ee *runner.ErroredError
	var le *cluster.ListenError
	var xe *runner.ExitedError
	fork := func(name string) bool {
		for _, a := range apps {
			if a.Name == name {
				return !a.ClusterMode()
			}
		}
		return false
	}
	switch {
	case errors.As(err, &xe):
		return withTail(err, xe.Tail, fork(xe.App))
	case errors.As(err, &be):
		return &exitCodeError{code: exitError, err: withTail(err, be.Tail, fork(be.App))}
	case errors.As(err, &ee):
		return &exitCodeError{code: exitErrored, err: withTail(err, ee.Tail, fork(ee.App))}
	case errors.As(err, &le):
		return err
	}
	return err
}

// withTail adds the app's last stderr lines to err's message, and a hint
// when they show the app failing to bind a port: in cluster mode, one that
// herd holds for it; in fork mode (fork), one another process holds.
func withTail(err error, tail []string, fork bool) error {
	if len(tail) == 0 {
		return fmt.Errorf("%w (no output on stderr)", err)
	}
	msg := "%w\nlast lines on stderr:\n  %s"
	for _, l := range tail {
		// Node says EADDRINUSE, Go "address already in use", Python
		// "Address already in use".
		if fork && (strings.Contains(l, "EADDRINUSE") || strings.Contains(strings.ToLower(l), "address already in use")) {
			msg += "\nhint: another process holds the port the app binds: another app of the config file (run one" +
				" with --only NAME, or give each its own PORT), another instance of this one (in fork mode each binds" +
				" the port itself: share it in cluster mode, -p PORT or exec_mode: 'cluster'), or a program outside" +
				" herd (ss -ltnp shows which)."
			break
		}
		if strings.Contains(l, "EADDRINUSE") || strings.Contains(strings.ToLower(l), "address already in use") {
			msg += "\nhint: the app bound a port that herd already holds for it. It must serve on the socket herd" +
				" passes (fd 3, LISTEN_FDS); a Node app does so unchanged, also under npm, yarn or a script, as herd's" +
				" preload shim asks herd for its ports. Or another program holds the port: ss -ltnp shows which."
			break
		}
	}
	return fmt.Errorf(msg, err, strings.Join(tail, "\n  "))
}

// exitCodeError is a failure with its own exit status.
type exitCodeError struct {
	code int
	err  error
}

func (e *exitCodeError) Error() string { return e.err.Error() }
func (e *exitCodeError) Unwrap() error { return e.err }

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// newLogs builds the log sinks: stdout, and the global log file if path
// is set, rotated with the limits of lim (LogMaxSize, LogKeep, LogMaxAge).
func newLogs(json bool, path string, lim app.App, stdout io.Writer, getenv env) (*logsink.Logs, func(), error) {
	logs := &logsink.Logs{Out: stdout, JSON: json, Color: isTerminal(stdout) && getenv("NO_COLOR") == ""}
	if path == "" {
		return logs, func() {}, nil
	}
	lim = lim.WithDefaults()
	rf, err := logsink.OpenRotatingFile(path, logsink.RotateOptions{MaxSize: lim.LogMaxSize, Keep: lim.LogKeep, MaxAge: lim.LogMaxAge})
	if err != nil {
		return nil, nil, err
	}
	logs.File = rf
	return logs, func() { rf.Close() }, nil
}

// onlyApps returns the apps named in only (all when it is empty), in the
// file's order; a name no app has is an error that lists the names there
// are.
func onlyApps(file string, apps []app.App, only []string) ([]app.App, error) {
	if len(only) == 0 {
		return apps, nil
	}
	want := map[string]bool{}
	for _, n := range only {
		if n = strings.TrimSpace(n); n != "" {
			want[n] = true
		}
	}
	var out []app.App
	var names []string
	for _, a := range apps {
		n := a.DefaultName()
		names = append(names, n)
		if want[n] {
			out = append(out, a)
			delete(want, n)
		}
	}
	if len(want) > 0 {
		var missing []string
		for n := range want {
			missing = append(missing, n)
		}
		slices.Sort(missing)
		return nil, fmt.Errorf("--only %s: no such app in %s (its apps: %s)", strings.Join(missing, ","), file, strings.Join(names, ", "))
	}
	return out, nil
}

// runConfig runs the apps of a config file. Of the app flags only the log
// file ones apply: --log-file is the file of every app's lines.
func runConfig(cmd *cobra.Command, o runOptions, stdout, stderr io.Writer, getenv env) error {
	if o.app.OutFile != "" || o.app.ErrorFile != "" {
		return &usageError{errors.New("--out-file and --error-file are for a single app: with --config, give each app out_file and error_file")}
	}
	apps, err := config.Load(o.config, o.envName)
	if err != nil {
		return err
	}
	if apps, err = onlyApps(o.config, apps, o.only); err != nil {
		return &usageError{err}
	}
	if err := portsOverConfig(o, apps, getenv); err != nil {
		return &usageError{err}
	}
	logs, closeLogs, err := newLogs(o.json, o.app.LogFile, o.app, stdout, getenv)
	if err != nil {
		return err
	}
	defer closeLogs()
	var rs []*runner.Runner
	defer func() {
		for _, r := range rs {
			r.Close() // for runners never run; Run closes the others
		}
	}()
	for i := range apps {
		if err := apps[i].Validate(); err != nil {
			err = fmt.Errorf("%s: app %s: %w", o.config, apps[i].Name, err)
			if code := commandErrorCode(err); code != 0 {
				return &exitCodeError{code: code, err: err}
			}
			return err
		}
		r, err := runner.New(apps[i], logs)
		if err != nil {
			return err
		}
		rs = append(rs, r)
	}
	var grace time.Duration // the longest kill timeout of the apps
	for _, a := range apps {
		grace = max(grace, a.WithDefaults().KillTimeout)
	}
	ctx, release := holdStopSignals(cmd.Context())
	defer release()
	return withOrphans(stderr, grace, func() error { return runErr(runner.RunAll(ctx, rs), apps) })
}

// portsOverConfig applies the command line's -p, --host and -e to the apps
// of a config file, and gives a cluster-mode app without a port the one
// the environment names. An app's port comes from, first to last:
//
//  1. -p (one app only: with several, pick it with --only);
//  2. -e PORT=N;
//  3. the file's env (env_<name> over env, or PM2's port key);
//  4. PORT in herd's own environment (PORT=3200 herd run -c ...), for an
//     app in cluster mode;
//  5. none: a cluster-mode app's instances share whatever port they
//     listen on, which herd opens when the first one asks.
//
// -e's other variables are added to every app's environment, over the
// file's.
func portsOverConfig(o runOptions, apps []app.App, getenv env) error {
	for _, kv := range o.app.Env {
		if !strings.Contains(kv, "=") {
			return fmt.Errorf("--env-var %q: want KEY=VALUE", kv)
		}
	}
	if len(o.app.Ports) > 0 && len(apps) > 1 {
		return fmt.Errorf("-p with --config sets the port of one app, and %s has %d: add --only NAME", o.config, len(apps))
	}
	envPort := func(kvs []string) (int, bool, error) {
		port, ok := 0, false
		for _, kv := range kvs {
			if v, found := strings.CutPrefix(kv, "PORT="); found {
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 || n > 65535 {
					return 0, true, fmt.Errorf("PORT=%s: want a port number from 1 to 65535", v)
				}
				port, ok = n, true
			}
		}
		return port, ok, nil
	}
	flagPort, hasFlagPort, err := envPort(o.app.Env)
	if err != nil {
		return fmt.Errorf("-e %w", err)
	}
	callerPort, hasCallerPort, err := envPort([]string{"PORT=" + getenv("PORT")})
	if getenv("PORT") == "" {
		hasCallerPort, err = false, nil
	}
	for i := range apps {
		a := &apps[i]
		a.Env = append(a.Env, o.app.Env...)
		switch {
		case len(o.app.Ports) > 0:
			a.Ports = append([]int(nil), o.app.Ports...)
		case hasFlagPort && a.ClusterMode():
			a.Ports = []int{flagPort}
		case len(a.Ports) == 0 && a.Cluster && hasCallerPort:
			a.Ports = []int{callerPort}
		case len(a.Ports) == 0 && a.Cluster && err != nil:
			return fmt.Errorf("app %s: the environment's %w", a.Name, err)
		}
		if o.app.Host != "" {
			a.Host = o.app.Host
		}
	}
	return nil
}
