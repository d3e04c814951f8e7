package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/cmd/herd/internal/daemon"
	"github.com/herdrun/herd/cmd/herd/internal/dashboard"
	"github.com/herdrun/herd/cmd/herd/internal/jobsclient"
	"github.com/herdrun/herd/cmd/herd/internal/logsink"
	"github.com/spf13/cobra"
)

const daemonLong = `Run the daemon in the foreground: the supervisor that herd start, ls, stop and
the other commands drive over its socket ($HERD_HOME/herd.sock, default
~/.herd). herd start launches it in the background when none runs; run it
yourself under systemd (herd startup writes the unit, Type=notify) or in a
container.

SIGTERM or SIGINT stops every app gracefully, then the daemon. If the daemon
is killed (SIGKILL), its apps stop with it (each instance's guard ends its
whole process tree), so no process is left holding a port; --resurrect then
brings back the saved list (herd save) when it starts again.

--metrics 127.0.0.1:9595 (or HERD_METRICS=127.0.0.1:9595, also in the
environment of the herd start that launches the daemon) serves Prometheus
metrics at http://127.0.0.1:9595/metrics: each app's and instance's state,
restarts, CPU, memory, open files and start time, and reload outcomes. Only
a loopback address is accepted: the metrics have no authentication.

--dashboard 127.0.0.1:9596 (or HERD_DASHBOARD) serves the web dashboard
there: the apps live, with charts, actions and logs, and /metrics. herd
dashboard prints its URL with the token that every request needs.

--jobs-url URL (or HERD_JOBS_URL, the variable herd jobs reads) gives the
dashboard a jobs page: the queues and jobs of the jobs HTTP API at URL (herd
demo's port, or any server that mounts jobs/jobshttp), with cancel and
retry. Without it the dashboard has no jobs page.`

func newDaemonCmd(stderr io.Writer, getenv env) *cobra.Command {
	var resurrect, background, canAdopt bool
	var metrics, dash, jobsURL string
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run the daemon in the foreground (for systemd and containers)",
		Long:  daemonLong,
		Args:  cobra.NoArgs,
	}
	cmd.Flags().BoolVar(&resurrect, "resurrect", false, "start the saved list of apps (herd save) once listening")
	cmd.Flags().BoolVar(&background, "background", false, "log to the daemon's log file only (herd start launches the daemon so)")
	_ = cmd.Flags().MarkHidden("background")
	cmd.Flags().BoolVar(&canAdopt, strings.TrimPrefix(daemon.CanAdoptArg, "--"), false, "print the exec state format this binary takes over (herd update) and exit")
	_ = cmd.Flags().MarkHidden(strings.TrimPrefix(daemon.CanAdoptArg, "--"))
	cmd.Flags().StringVar(&dash, "dashboard", "", "serve the web dashboard on this loopback HOST:PORT (default $"+dashboardEnv+"; off if empty)")
	cmd.Flags().StringVar(&jobsURL, "jobs-url", "", "the jobs HTTP API whose jobs the dashboard shows (default $"+jobsclient.EnvURL+"; no jobs page if empty)")
	cmd.Flags().StringVar(&metrics, "metrics", "", "serve Prometheus metrics on this loopback HOST:PORT (default $"+daemon.MetricsEnv+"; off if empty)")
	cmd.RunE = runE(func(cmd *cobra.Command, _ []string) error {
		if canAdopt {
			fmt.Fprintln(cmd.OutOrStdout(), daemon.CanAdoptLine)
			return nil
		}
		if !cmd.Flags().Changed("metrics") {
			metrics = getenv(daemon.MetricsEnv)
		}
		if metrics != "" {
			if err := daemon.CheckMetricsAddr(metrics); err != nil {
				return &usageError{err}
			}
		}
		if !cmd.Flags().Changed("dashboard") {
			dash = getenv(dashboardEnv)
		}
		if dash != "" {
			if err := dashboard.CheckAddr(dash); err != nil {
				return &usageError{err}
			}
		}
		if !cmd.Flags().Changed("jobs-url") {
			jobsURL = getenv(jobsclient.EnvURL)
		}
		if jobsURL != "" {
			if err := dashboard.CheckJobsURL(jobsURL); err != nil {
				return &usageError{err}
			}
		}
		h, err := daemon.FindHome(getenv)
		if err != nil {
			return err
		}
		if err := h.Prepare(); err != nil {
			return err
		}
		rf, err := logsink.OpenRotatingFile(h.Log, logsink.RotateOptions{MaxSize: 10 << 20, Keep: 3})
		if err != nil {
			return err
		}
		defer rf.Close()
		var w io.Writer = rf
		if !background {
			w = io.MultiWriter(rf, stderr)
		}
		lg := slog.New(slog.NewTextHandler(w, nil))
		// An app gets the environment of the command that started it,
		// not the daemon's: nothing of the daemon's own environment may
		// reach it, or a variable removed with --update-env would stay.
		home, notify, execState := os.Getenv("HOME"), os.Getenv("NOTIFY_SOCKET"), os.Getenv(daemon.ExecStateEnv)
		var takeover *os.File
		if fd, err := strconv.Atoi(os.Getenv(daemon.TakeoverEnv)); err == nil && fd > 2 {
			takeover = os.NewFile(uintptr(fd), "takeover") // herd update's report channel
		}
		os.Clearenv()
		if home != "" {
			os.Setenv("HOME", home) // for the Node shim's cache directory
		}
		ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		signal.Ignore(syscall.SIGHUP, syscall.SIGPIPE)
		cfg := daemon.Config{Home: h, Version: versionString(), Log: lg, Resurrect: resurrect, NotifySocket: notify, TakeoverReady: takeover,
			MetricsAddr: metrics, ExecState: execState}
		var d *daemon.Daemon
		if metrics != "" {
			cfg.PassEnv = append(cfg.PassEnv, daemon.MetricsEnv+"="+metrics)
		}
		if dash != "" {
			cfg.OnServe = func(ctx context.Context) { serveDashboard(ctx, h, dash, jobsURL, d, lg) }
			cfg.PassEnv = append(cfg.PassEnv, dashboardEnv+"="+dash)
			if jobsURL != "" {
				cfg.PassEnv = append(cfg.PassEnv, jobsclient.EnvURL+"="+jobsURL)
			}
		}
		d = daemon.New(cfg)
		// Every instance is started from this thread, the main one, which
		// herd update's exec keeps (see child.ServeStarts).
		run := func() { err = d.Run(ctx) }
		if child.ServeStarts(run) != nil {
			run()
		}
		if errors.Is(err, daemon.ErrRunning) {
			return err
		}
		if err != nil {
			lg.Error("daemon: " + err.Error())
			return fmt.Errorf("daemon: %w", err)
		}
		return nil
	})
	return cmd
}

// dashboardEnv is the environment variable that, like herd daemon
// --dashboard ADDR, makes the daemon serve the web dashboard on ADDR.
const dashboardEnv = "HERD_DASHBOARD"

// serveDashboard serves the web dashboard on addr until ctx ends, with the
// token of the Home (made on first use), and writes its URL for herd
// dashboard; with a jobsURL, its jobs page shows that jobs API. While addr is taken (by the daemon this one replaces, during
// herd update) it tries again each second. A failure is logged: the
// daemon runs on without it.
func serveDashboard(ctx context.Context, h daemon.Home, addr, jobsURL string, d *daemon.Daemon, lg *slog.Logger) {
	tok, err := dashboard.LoadToken(filepath.Join(h.Dir, dashboard.TokenFile))
	if err != nil {
		lg.Error("dashboard: " + err.Error())
		return
	}
	var ln net.Listener
	for logged := false; ; logged = true {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		if !logged {
			lg.Warn("dashboard: " + err.Error() + "; trying again each second")
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
	url := "http://" + ln.Addr().String() + "/"
	urlFile := filepath.Join(h.Dir, dashboard.URLFile)
	if err := os.WriteFile(urlFile, []byte(url+"\n"), 0o600); err != nil {
		lg.Warn("dashboard: " + err.Error())
	}
	defer os.Remove(urlFile)
	cl := daemon.NewClient(h, versionString())
	defer cl.Close()
	lg.Info("serving the dashboard", "url", url, "jobs", jobsURL)
	dc := dashboard.Config{Client: cl, Token: tok, Metrics: d.MetricsHandler(), Log: lg}
	if jobsURL != "" {
		dc.Jobs = &jobsclient.Client{URL: jobsURL, HTTP: &http.Client{}, Timeout: 10 * time.Second}
	}
	srv := dashboard.New(dc)
	if err := srv.Serve(ctx, ln); err != nil {
		lg.Error("dashboard: " + err.Error())
	}
}
