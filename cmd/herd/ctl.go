package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/herdrun/herd/cmd/herd/internal/app"
	"github.com/herdrun/herd/cmd/herd/internal/config"
	"github.com/herdrun/herd/cmd/herd/internal/daemon"
	"github.com/herdrun/herd/cmd/herd/internal/monit"
	"github.com/spf13/cobra"
)

// reportedError is a failure whose lines a command has already printed:
// execute prints nothing more and exits 1.
type reportedError struct{ n int }

func (e *reportedError) Error() string { return fmt.Sprintf("%d failure(s)", e.n) }

// ctl is what the commands that drive the daemon share.
type ctl struct {
	stdout, stderr io.Writer
	getenv         env
	json           bool
}

// client returns a client of the daemon of this user (or $HERD_HOME).
func (c *ctl) client() (*daemon.Client, error) {
	h, err := daemon.FindHome(c.getenv)
	if err != nil {
		return nil, err
	}
	return daemon.NewClient(h, versionString()), nil
}

// connect returns a client of a running daemon of this version, launching
// one in the background first when launch is set and none runs.
func (c *ctl) connect(ctx context.Context, launch bool) (*daemon.Client, error) {
	cl, err := c.client()
	if err != nil {
		return nil, err
	}
	_, err = cl.Ping(ctx)
	if err == nil {
		return cl, nil
	}
	if !launch || !errors.Is(err, daemon.ErrNoDaemon) {
		return nil, err
	}
	if err := launchDaemon(ctx, cl.Home()); err != nil {
		return nil, err
	}
	return cl, nil
}

// onDaemon returns a command's RunE that runs f with a client of the
// running daemon of this version (it launches none) and closes it after.
func (c *ctl) onDaemon(f func(cmd *cobra.Command, args []string, cl *daemon.Client) error) func(*cobra.Command, []string) error {
	return runE(func(cmd *cobra.Command, args []string) error {
		cl, err := c.connect(cmd.Context(), false)
		if err != nil {
			return err
		}
		defer cl.Close()
		return f(cmd, args, cl)
	})
}

// act runs action on target and reports the results with verb.
func (c *ctl) act(ctx context.Context, cl *daemon.Client, target, action string, req daemon.ActionRequest, verb string) error {
	rs, err := cl.Action(ctx, target, action, req)
	if err != nil {
		return err
	}
	return c.report(rs, verb)
}

// launchDaemon starts `herd daemon` in the background, in a session of its
// own, with its output appended to the daemon's log, and waits until it
// answers (or another daemon that won the race does).
func launchDaemon(ctx context.Context, h daemon.Home) error {
	if err := h.Prepare(); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(h.Log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(exe, "daemon", "--background")
	cmd.Env = append(os.Environ(), daemon.HomeEnv+"="+h.Dir)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Dir = "/"
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the daemon: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	cl := daemon.NewClient(h, versionString())
	defer cl.Close()
	deadline := time.Now().Add(30 * time.Second)
	for wait := 5 * time.Millisecond; ; wait = min(wait*2, 100*time.Millisecond) {
		if _, err := cl.Ping(ctx); err == nil || !errors.Is(err, daemon.ErrNoDaemon) {
			return err
		}
		select {
		case err := <-exited:
			// Another daemon may hold the Home: it answers soon.
			if _, perr := cl.Ping(ctx); perr == nil {
				return nil
			}
			exited <- err
			if time.Now().After(deadline) {
				return fmt.Errorf("the daemon exited at start (%v): %s says why", err, h.Log)
			}
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the daemon did not answer on %s within 30s: %s says why", h.Sock, h.Log)
		}
	}
}

// printJSON writes v as indented JSON.
func (c *ctl) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// report prints each result of a command on apps: "verb NAME (id N)" or,
// for a failure, one line on stderr; it returns a *reportedError if any
// failed.
func (c *ctl) report(rs daemon.Results, verb string) error {
	if c.json {
		if err := c.printJSON(rs); err != nil {
			return err
		}
	}
	if rs.Note != "" {
		fmt.Fprintf(c.stderr, "herd: note: %s\n", rs.Note)
	}
	failed := 0
	for _, r := range rs.Results {
		switch {
		case !r.OK:
			failed++
			msg := r.Error
			if !strings.Contains(msg, r.Name) {
				msg = "app " + r.Name + ": " + msg
			}
			fmt.Fprintf(c.stderr, "herd: %s\n", msg)
		case c.json:
		case r.Note != "":
			fmt.Fprintf(c.stdout, "%s (id %d): %s\n", r.Name, r.ID, r.Note)
		default:
			fmt.Fprintf(c.stdout, "%s %s (id %d)\n", verb, r.Name, r.ID)
		}
	}
	if failed > 0 {
		return &reportedError{failed}
	}
	return nil
}

// newCtlCmds returns the commands that drive the daemon.
func newCtlCmds(stdout, stderr io.Writer, getenv env) []*cobra.Command {
	c := &ctl{stdout: stdout, stderr: stderr, getenv: getenv}
	jsonFlag := func(cmd *cobra.Command) *cobra.Command {
		cmd.Flags().BoolVar(&c.json, "json", false, "print JSON (schema in the README)")
		return cmd
	}
	cmds := []*cobra.Command{
		c.startCmd(), jsonFlag(c.lsCmd()), jsonFlag(c.describeCmd()), jsonFlag(c.envCmd()),
		jsonFlag(c.actionCmd("stop", "Stop apps (they stay in the list, stopped)", "stopped")),
		jsonFlag(c.actionCmd("restart", "Stop and start apps again, with the environment they were started with (or, with --update-env, yours)", "restarted")),
		jsonFlag(c.actionCmd("reload", "Rolling reload: replace each instance by a new one, ready before the old one stops", "reloaded")),
		jsonFlag(c.actionCmd("delete", "Stop apps and remove them from the list", "deleted")),
		jsonFlag(c.scaleCmd()), jsonFlag(c.signalCmd()), c.logsCmd(), jsonFlag(c.flushCmd()),
		jsonFlag(c.saveCmd()), jsonFlag(c.resurrectCmd()), jsonFlag(c.pingCmd()), jsonFlag(c.killCmd()),
		newDaemonCmd(stderr, getenv), newStartupCmd(stdout, stderr, getenv), newUnstartupCmd(stdout, stderr, getenv), jsonFlag(c.updateCmd()),
	}
	for _, cmd := range cmds {
		cmd.SetFlagErrorFunc(flagError)
	}
	return cmds
}

// isConfigFile reports whether path names a config file of apps rather than
// a program: herd.yaml and PM2 ecosystem files.
func isConfigFile(path string) bool {
	b := filepath.Base(path)
	switch {
	case strings.HasSuffix(b, ".yaml"), strings.HasSuffix(b, ".yml"):
		return true
	case strings.HasSuffix(b, ".json"):
		return true
	case strings.Contains(b, ".config.") && (strings.HasSuffix(b, ".js") || strings.HasSuffix(b, ".cjs") || strings.HasSuffix(b, ".mjs")):
		return true
	}
	return false
}

// commandFor returns the command that runs file with args: .js, .mjs and
// .cjs under node, .py under python3, anything else directly; the program
// is made absolute (looked up in PATH, or relative to the working
// directory) so that the daemon runs exactly it.
func commandFor(args []string, cwd string) ([]string, error) {
	first := args[0]
	var interp string
	switch filepath.Ext(first) {
	case ".js", ".mjs", ".cjs":
		interp = "node"
	case ".py":
		interp = "python3"
	}
	if interp != "" {
		if !filepath.IsAbs(first) {
			first = filepath.Join(cwd, first)
		}
		if _, err := os.Stat(first); err != nil {
			return nil, fmt.Errorf("%s: no such file", args[0])
		}
		ip, err := exec.LookPath(interp)
		if err != nil {
			return nil, fmt.Errorf("%s needs %s, which is not in PATH: install it, or give the interpreter after --", args[0], interp)
		}
		return append([]string{ip, first}, args[1:]...), nil
	}
	look := first
	if strings.Contains(first, "/") && !filepath.IsAbs(first) {
		look = filepath.Join(cwd, first)
	}
	p, err := exec.LookPath(look)
	if err != nil {
		a := app.App{Command: []string{look}}
		if verr := a.Validate(); verr != nil {
			return nil, verr
		}
		return nil, err
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(cwd, p)
	}
	return append([]string{p}, args[1:]...), nil
}

// absolutize makes an App's relative paths (working directory, log files)
// absolute against cwd, and resolves its program, for the daemon, which
// runs elsewhere.
func absolutize(a *app.App, cwd string) error {
	if a.Dir == "" {
		a.Dir = cwd
	} else if !filepath.IsAbs(a.Dir) {
		a.Dir = filepath.Join(cwd, a.Dir)
	}
	for _, p := range []*string{&a.LogFile, &a.OutFile, &a.ErrorFile} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(cwd, *p)
		}
	}
	if len(a.Command) > 0 && !filepath.IsAbs(a.Command[0]) {
		look := a.Command[0]
		if strings.Contains(look, "/") {
			look = filepath.Join(a.Dir, look)
		}
		if p, err := exec.LookPath(look); err == nil {
			if !filepath.IsAbs(p) {
				p = filepath.Join(a.Dir, p)
			}
			a.Command[0] = p
		}
	}
	return nil
}

func (c *ctl) startCmd() *cobra.Command {
	var a app.App
	var envName string
	var only []string
	cmd := &cobra.Command{
		Use:   "start [flags] <file | config | -- CMD [ARGS...]>",
		Short: "Start apps in the background daemon (launched if needed)",
		Long: `Start an app, or every app of a config file, in the daemon, which keeps
them running after you log out; the first herd start launches the daemon.

A .js, .mjs or .cjs file runs under node, a .py file under python3, anything
else directly (after --, a command and its arguments). A herd.yaml file or a PM2
ecosystem file (ecosystem.config.js, .cjs or .json) starts every app in it
(--only NAME,... some of them; --env NAME selects each app's env_NAME block).
The app gets your environment, kept for its restarts. herd start NAME starts
a stopped app of the list again. It takes herd run's flags; see herd run --help.

Its output is one line per app; a failure is one line on stderr naming the
app, and the exit status is 1.`,
		Example: `  herd start app.js -i max -p 3000
  herd start --name worker -- python3 worker.py
  herd start ecosystem.config.js --only api
  herd start herd.yaml --env production`,
	}
	f := cmd.Flags()
	// herd start app.js -i max: flags after the file are herd's; after
	// -- everything is the command's.
	appFlags(f, &a)
	f.StringVar(&envName, "env", "", "with a config file, merge each app's env_<NAME> block over its env")
	f.StringSliceVar(&only, "only", nil, "with a config file, start only these apps (comma-separated)")
	f.BoolVar(&c.json, "json", false, "print the results as JSON")
	cmd.RunE = runE(func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return &usageError{errors.New("nothing to start: give a file (app.js, server.py, ./bin), a config file (herd.yaml, ecosystem.config.js) or -- CMD ARGS")}
		}
		for _, kv := range a.Env {
			if !strings.Contains(kv, "=") {
				return &usageError{fmt.Errorf("--env-var %q: want KEY=VALUE", kv)}
			}
		}
		cwd, err := os.Getwd()
		if err != nil {
			return err
		}
		environ := os.Environ()
		var specs []daemon.Spec
		dash := cmd.ArgsLenAtDash() == 0
		switch {
		case !dash && len(args) == 1 && isConfigFile(args[0]):
			apps, err := config.Load(args[0], envName)
			if err != nil {
				return err
			}
			keep, missing := map[string]bool{}, map[string]bool{}
			for _, n := range only {
				keep[n], missing[n] = true, true
			}
			for _, ca := range apps {
				if len(keep) > 0 && !keep[ca.Name] {
					continue
				}
				delete(missing, ca.Name)
				if err := absolutize(&ca, cwd); err != nil {
					return err
				}
				if err := ca.Validate(); err != nil {
					return fmt.Errorf("%s: app %s: %w", args[0], ca.Name, err)
				}
				specs = append(specs, daemon.Spec{App: ca, Env: environ})
			}
			for n := range missing {
				return &usageError{fmt.Errorf("--only %s: %s has no app of that name", n, args[0])}
			}
		default:
			if envName != "" || len(only) > 0 {
				return &usageError{errors.New("--env and --only are for a config file (use -e KEY=VALUE to set a variable)")}
			}
			if !dash && len(args) == 1 {
				if _, serr := os.Stat(args[0]); serr != nil {
					if _, lerr := exec.LookPath(args[0]); lerr != nil {
						return c.startExisting(cmd.Context(), args[0])
					}
				}
			}
			command, err := commandFor(args, cwd)
			if err != nil {
				if code := commandErrorCode(err); code != 0 {
					return &exitCodeError{code: code, err: err}
				}
				return err
			}
			a.Command = command
			if a.Name == "" && len(command) > 1 && filepath.Base(command[0]) != filepath.Base(args[0]) {
				// node app.js, python3 worker.py: the script's name
				s := command[1]
				a.Name = strings.TrimSuffix(filepath.Base(s), filepath.Ext(s))
			}
			if err := absolutize(&a, cwd); err != nil {
				return err
			}
			if err := a.Validate(); err != nil {
				return &usageError{err}
			}
			specs = []daemon.Spec{{App: a, Env: environ}}
		}
		cl, err := c.connect(cmd.Context(), true)
		if err != nil {
			return err
		}
		defer cl.Close()
		rs, err := cl.Start(cmd.Context(), specs)
		if err != nil {
			return err
		}
		return c.report(rs, "started")
	})
	return cmd
}

// startExisting starts again the app of the list named target (herd start
// NAME, as pm2 start NAME).
func (c *ctl) startExisting(ctx context.Context, target string) error {
	cl, err := c.connect(ctx, false)
	if err != nil {
		if errors.Is(err, daemon.ErrNoDaemon) {
			return fmt.Errorf("%s: no such file, command or app: give a file, a config file or -- CMD ARGS", target)
		}
		return err
	}
	defer cl.Close()
	if _, err := cl.Describe(ctx, target); err != nil {
		return fmt.Errorf("%s: no such file, command or app: give a file, a config file or -- CMD ARGS", target)
	}
	return c.act(ctx, cl, target, "restart", daemon.ActionRequest{}, "started")
}

func (c *ctl) lsCmd() *cobra.Command {
	var watch bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list", "status"},
		Short:   "List the daemon's apps: id, name, mode, instances, pids, status, uptime, restarts, CPU and memory",
		Args:    cobra.NoArgs,
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "refresh the table until interrupted")
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "with --watch, time between refreshes")
	cmd.RunE = runE(func(cmd *cobra.Command, _ []string) error {
		cl, err := c.client()
		if err != nil {
			return err
		}
		defer cl.Close()
		for {
			l, err := cl.List(cmd.Context())
			if errors.Is(err, daemon.ErrNoDaemon) {
				l, err = daemon.List{Apps: []daemon.AppInfo{}}, nil
				if !c.json && !watch {
					fmt.Fprintln(c.stderr, "herd: no daemon is running (herd start launches it)")
				}
			}
			if err != nil {
				return err
			}
			switch {
			case c.json:
				if err := c.printJSON(l); err != nil {
					return err
				}
			default:
				if watch {
					fmt.Fprint(c.stdout, "\x1b[H\x1b[2J")
				}
				printTable(c.stdout, l)
			}
			if !watch {
				return nil
			}
			select {
			case <-cmd.Context().Done():
				return nil
			case <-time.After(interval):
			}
		}
	})
	return cmd
}

// printTable prints the ls table.
func printTable(w io.Writer, l daemon.List) {
	rows := [][]string{{"ID", "NAME", "MODE", "INST", "PIDS", "STATUS", "UPTIME", "RESTARTS", "CPU", "MEMORY"}}
	for _, a := range l.Apps {
		pids := make([]string, len(a.Pids))
		for i, p := range a.Pids {
			pids[i] = fmt.Sprint(p)
		}
		ps := strings.Join(pids, ",")
		if ps == "" {
			ps = "-"
		}
		up := "-"
		if a.UptimeMS > 0 {
			up = shortDuration(time.Duration(a.UptimeMS) * time.Millisecond)
		}
		inst := fmt.Sprintf("%d/%d", len(a.Live), a.Instances)
		rows = append(rows, []string{fmt.Sprint(a.ID), a.Name, a.Mode, inst, ps, a.Status, up, fmt.Sprint(a.Restarts),
			fmt.Sprintf("%.1f%%", a.CPU), monit.HumanBytes(a.Memory)})
	}
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, s := range r {
			widths[i] = max(widths[i], len(s))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i, s := range r {
			if i == len(r)-1 {
				b.WriteString(s)
				break
			}
			fmt.Fprintf(&b, "%-*s  ", widths[i], s)
		}
		fmt.Fprintln(w, b.String())
	}
}

func shortDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func (c *ctl) describeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "describe NAME|ID",
		Short: "Print an app's effective settings and state",
		Args:  exactArgs(1, "give one app: herd describe NAME"),
		RunE: c.onDaemon(func(cmd *cobra.Command, args []string, cl *daemon.Client) error {
			a, err := cl.Describe(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if c.json {
				return c.printJSON(a)
			}
			s := a.Spec.App.WithDefaults()
			kv := [][2]string{
				{"id", fmt.Sprint(a.ID)}, {"name", a.Name}, {"status", a.Status}, {"mode", a.Mode},
				{"command", strings.Join(s.Command, " ")}, {"cwd", s.Dir},
				{"instances", fmt.Sprintf("%d (live: %d)", a.Instances, len(a.Live))},
				{"pids", fmt.Sprint(a.Pids)}, {"ports", fmt.Sprint(s.Ports)}, {"host", s.Host},
				{"ready", string(s.Ready)}, {"ready_timeout", s.ReadyTimeout.String()},
				{"restart", string(s.Restart)}, {"max_restarts", fmt.Sprint(s.MaxRestarts)},
				{"min_uptime", s.MinUptime.String()}, {"kill_timeout", s.KillTimeout.String()},
				{"max_memory", monit.HumanBytes(s.MaxMemory)}, {"restarts", fmt.Sprint(a.Restarts)},
				{"uptime", shortDuration(time.Duration(a.UptimeMS) * time.Millisecond)},
				{"cpu", fmt.Sprintf("%.1f%%", a.CPU)}, {"memory", monit.HumanBytes(a.Memory)},
				{"log_max_size", monit.HumanBytes(s.LogMaxSize)}, {"log_keep", fmt.Sprint(s.LogKeep)},
				{"out log", filepath.Join(cl.Home().Logs, a.Name+"-out.log")},
				{"error log", filepath.Join(cl.Home().Logs, a.Name+"-error.log")},
			}
			if a.Error != "" {
				kv = append(kv, [2]string{"error", a.Error})
			}
			for _, p := range kv {
				fmt.Fprintf(c.stdout, "%-14s %s\n", p[0], p[1])
			}
			return nil
		}),
	}
}

// exactArgs is cobra.ExactArgs with herd's message.
func exactArgs(n int, msg string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return &usageError{errors.New(msg)}
		}
		return nil
	}
}

// effectiveEnv returns the environment an app's instances get: the start
// environment with the App's Env over it, sorted by name.
func effectiveEnv(s daemon.Spec) map[string]string {
	m := map[string]string{}
	for _, kv := range append(append([]string(nil), s.Env...), s.App.Env...) {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

func (c *ctl) envCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "env NAME|ID",
		Short: "Print the environment an app's instances get (herd adds HERD_APP, HERD_INSTANCE, PORT, ...)",
		Args:  exactArgs(1, "give one app: herd env NAME"),
		RunE: c.onDaemon(func(cmd *cobra.Command, args []string, cl *daemon.Client) error {
			a, err := cl.Describe(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			m := effectiveEnv(*a.Spec)
			if c.json {
				return c.printJSON(map[string]any{"name": a.Name, "env": m})
			}
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(c.stdout, "%s=%s\n", k, m[k])
			}
			return nil
		}),
	}
}

func (c *ctl) actionCmd(action, short, verb string) *cobra.Command {
	var updateEnv bool
	cmd := &cobra.Command{
		Use:   action + " NAME|ID|all...",
		Short: short,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return &usageError{fmt.Errorf("give an app: herd %s NAME, ID or all", action)}
			}
			return nil
		},
	}
	if action == "restart" || action == "reload" {
		cmd.Flags().BoolVar(&updateEnv, "update-env", false, "take your environment as the app's: variables you removed disappear from it")
	}
	cmd.RunE = c.onDaemon(func(cmd *cobra.Command, args []string, cl *daemon.Client) error {
		req := daemon.ActionRequest{UpdateEnv: updateEnv}
		if updateEnv {
			req.Env = os.Environ()
		}
		var all daemon.Results
		for _, t := range args {
			rs, err := cl.Action(cmd.Context(), t, action, req)
			if err != nil {
				var ce *daemon.CallError
				if errors.As(err, &ce) {
					all.Results = append(all.Results, daemon.Result{Name: t, ID: -1, Error: err.Error()})
					continue
				}
				return err
			}
			all.Results = append(all.Results, rs.Results...)
		}
		return c.report(all, verb)
	})
	return cmd
}

func (c *ctl) scaleCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scale NAME|ID N|+N|-N",
		Short: "Set an app's number of instances, or add or remove some",
		Args:  exactArgs(2, "give an app and a number: herd scale NAME 4, +1 or -1"),
		RunE: c.onDaemon(func(cmd *cobra.Command, args []string, cl *daemon.Client) error {
			return c.act(cmd.Context(), cl, args[0], "scale", daemon.ActionRequest{Instances: args[1]}, "scaled")
		}),
	}
	// herd scale web -1: after the app, -1 is the count, not a flag.
	cmd.Flags().SetInterspersed(false)
	return cmd
}

func (c *ctl) signalCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "signal SIG NAME|ID|all",
		Short: "Send a signal to every instance of an app",
		Args: func(cmd *cobra.Command, args []string) error {
			if err := exactArgs(2, "give a signal and an app: herd signal SIGUSR2 NAME")(cmd, args); err != nil {
				return err
			}
			if _, err := daemon.ParseSignal(args[0]); err != nil {
				return &usageError{err}
			}
			return nil
		},
		RunE: c.onDaemon(func(cmd *cobra.Command, args []string, cl *daemon.Client) error {
			return c.act(cmd.Context(), cl, args[1], "signal", daemon.ActionRequest{Signal: args[0]}, "signalled")
		}),
	}
}

func (c *ctl) logsCmd() *cobra.Command {
	var lines int
	var nostream, errOnly, outOnly, asJSON, stamp bool
	cmd := &cobra.Command{
		Use:   "logs [NAME|ID]",
		Short: "Print the last lines of the apps' logs, then follow them",
		Args: func(_ *cobra.Command, args []string) error {
			switch {
			case len(args) > 1:
				return &usageError{errors.New("give one app, or none for all")}
			case errOnly && outOnly:
				return &usageError{errors.New("give --err or --out, not both")}
			case lines < 0:
				return &usageError{errors.New("--lines must be 0 or more")}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&lines, "lines", 15, "lines of history to print first (read from the rotated files too when the current one holds fewer)")
	f.BoolVar(&nostream, "nostream", false, "print the history and exit")
	f.BoolVar(&errOnly, "err", false, "stderr lines only")
	f.BoolVar(&outOnly, "out", false, "stdout lines only")
	f.BoolVar(&asJSON, "json", false, "one JSON object per line: time, app, instance, stream, msg")
	f.BoolVar(&stamp, "timestamp", false, "start each line with its time")
	cmd.RunE = c.onDaemon(func(cmd *cobra.Command, args []string, cl *daemon.Client) error {
		stream := ""
		if errOnly {
			stream = "stderr"
		}
		if outOnly {
			stream = "stdout"
		}
		target := ""
		if len(args) == 1 {
			target = args[0]
		}
		enc := json.NewEncoder(c.stdout)
		return cl.Logs(cmd.Context(), target, lines, stream, !nostream, func(l daemon.LogLine) error {
			if asJSON {
				return enc.Encode(l)
			}
			var b strings.Builder
			if stamp {
				b.WriteString(l.Time.Format("2006-01-02T15:04:05.000Z07:00 "))
			}
			if l.Instance < 0 {
				fmt.Fprintf(&b, "herd %s | %s\n", l.App, l.Msg)
			} else {
				fmt.Fprintf(&b, "%s[%d] | %s\n", l.App, l.Instance, l.Msg)
			}
			_, err := io.WriteString(c.stdout, b.String())
			return err
		})
	})
	return cmd
}

func (c *ctl) flushCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "flush [NAME|ID|all]",
		Short: "Empty the apps' log files (all apps by default)",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 1 {
				return &usageError{errors.New("give one app, or none for all")}
			}
			return nil
		},
		RunE: c.onDaemon(func(cmd *cobra.Command, args []string, cl *daemon.Client) error {
			target := "all"
			if len(args) == 1 {
				target = args[0]
			}
			return c.act(cmd.Context(), cl, target, "flush", daemon.ActionRequest{}, "flushed the logs of")
		}),
	}
}

func (c *ctl) saveCmd() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "save",
		Short: "Save the list of apps (stopped ones as stopped) for herd resurrect",
		Args:  cobra.NoArgs,
	}
	cmd.Flags().BoolVar(&force, "force", false, "save even an empty list")
	cmd.RunE = c.onDaemon(func(cmd *cobra.Command, _ []string, cl *daemon.Client) error {
		s, err := cl.Save(cmd.Context(), force)
		if err != nil {
			return err
		}
		if c.json {
			return c.printJSON(s)
		}
		fmt.Fprintf(c.stdout, "saved %d app(s) to %s\n", s.Apps, s.Path)
		return nil
	})
	return cmd
}

func (c *ctl) resurrectCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "resurrect",
		Short: "Start the saved list of apps: each with its saved environment, stopped ones stopped",
		Args:  cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			cl, err := c.connect(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer cl.Close()
			rs, err := cl.Resurrect(cmd.Context())
			if err != nil {
				return err
			}
			return c.report(rs, "resurrected")
		}),
	}
}

func (c *ctl) pingCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "ping",
		Short: "Check that the daemon answers (exit 1 if it does not)",
		Args:  cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			v, err := cl.Ping(cmd.Context())
			if err != nil {
				return err
			}
			if c.json {
				return c.printJSON(v)
			}
			fmt.Fprintf(c.stdout, "pong: daemon pid %d, herd %s\n", v.PID, v.Version)
			return nil
		}),
	}
}

func (c *ctl) killCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "kill",
		Short: "Stop every app, then the daemon",
		Args:  cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			pid, err := cl.Kill(cmd.Context())
			if errors.Is(err, daemon.ErrNoDaemon) {
				fmt.Fprintln(c.stderr, "herd: no daemon is running")
				return nil
			}
			if err != nil {
				return err
			}
			// Wait for the daemon to be gone, its socket with it.
			for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
				if syscall.Kill(pid, 0) != nil {
					break
				}
			}
			if c.json {
				return c.printJSON(map[string]any{"killed": pid})
			}
			fmt.Fprintf(c.stdout, "stopped every app and the daemon (pid %d)\n", pid)
			return nil
		}),
	}
}

func (c *ctl) updateCmd() *cobra.Command {
	var takeover bool
	cmd := &cobra.Command{
		Use:   "update",
		Short: "Replace the running daemon by this binary's, keeping its pid and its apps' processes",
		Long: `Replace the running daemon by this binary's daemon, without restarting the apps.

In place (the default, when the running daemon and this binary both can): the
daemon replaces its own image with this binary (exec). It keeps its pid (under
systemd, nothing changes) and its apps' processes, their listening sockets and
their output pipes: no request fails, no line of output is lost, and the apps'
pids stay the same. herd logs followers go on following; event streams
(herd monit, the dashboard) reconnect.

By takeover (--takeover, or a daemon of an older herd): the old daemon writes its
list and hands its apps' listening sockets to a new daemon process, which starts
every app that ran on those same sockets; once they are ready, the old instances
drain and the old daemon exits. No connection is refused meanwhile, but the
daemon and the apps get new pids.

If the new daemon fails, the old one keeps running and this command says why.`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx := cmd.Context()
			old, err := cl.Version(ctx)
			if errors.Is(err, daemon.ErrNoDaemon) {
				return errors.New("no daemon is running: nothing to update (herd start launches one of this version)")
			}
			if err != nil {
				return err
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			res, err := cl.UpdateWith(ctx, daemon.UpdateRequest{Exe: exe, Takeover: takeover})
			if err != nil {
				return err
			}
			cl.Close()
			for end := time.Now().Add(60 * time.Second); !res.InPlace && syscall.Kill(res.OldPID, 0) == nil; time.Sleep(10 * time.Millisecond) {
				if time.Now().After(end) {
					return fmt.Errorf("the old daemon (pid %d) did not exit within 60s after handing over: %s says why", res.OldPID, cl.Home().Log)
				}
			}
			v, err := cl.Version(ctx)
			if err != nil {
				return err
			}
			if c.json {
				return c.printJSON(map[string]any{"from": old.Version, "from_pid": res.OldPID, "to": v.Version, "to_pid": v.PID,
					"apps": res.Apps, "sockets": res.Sockets, "in_place": res.InPlace, "instances": res.Instances})
			}
			if res.InPlace {
				fmt.Fprintf(c.stdout, "updated the daemon in place: herd %s -> herd %s (pid %d kept); %d app(s), %d instance(s) kept\n",
					old.Version, v.Version, v.PID, res.Apps, res.Instances)
				return nil
			}
			fmt.Fprintf(c.stdout, "updated the daemon: herd %s (pid %d) -> herd %s (pid %d); %d app(s), %d socket(s) handed over\n",
				old.Version, res.OldPID, v.Version, v.PID, res.Apps, res.Sockets)
			return nil
		}),
	}
	cmd.Flags().BoolVar(&takeover, "takeover", false, "replace the daemon by a new process (new pids for the daemon and the apps) even if it could be updated in place")
	return cmd
}
