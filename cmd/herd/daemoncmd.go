package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/herdrun/herd/cmd/herd/internal/daemon"
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
a loopback address is accepted: the metrics have no authentication.`

func newDaemonCmd(stderr io.Writer, getenv env) *cobra.Command {
	var resurrect, background bool
	var metrics string
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run the daemon in the foreground (for systemd and containers)",
		Long:  daemonLong,
		Args:  cobra.NoArgs,
	}
	cmd.Flags().BoolVar(&resurrect, "resurrect", false, "start the saved list of apps (herd save) once listening")
	cmd.Flags().BoolVar(&background, "background", false, "log to the daemon's log file only (herd start launches the daemon so)")
	_ = cmd.Flags().MarkHidden("background")
	cmd.Flags().StringVar(&metrics, "metrics", "", "serve Prometheus metrics on this loopback HOST:PORT (default $"+daemon.MetricsEnv+"; off if empty)")
	cmd.RunE = runE(func(cmd *cobra.Command, _ []string) error {
		if !cmd.Flags().Changed("metrics") {
			metrics = getenv(daemon.MetricsEnv)
		}
		if metrics != "" {
			if err := daemon.CheckMetricsAddr(metrics); err != nil {
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
		home, notify := os.Getenv("HOME"), os.Getenv("NOTIFY_SOCKET")
		os.Clearenv()
		if home != "" {
			os.Setenv("HOME", home) // for the Node shim's cache directory
		}
		ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		signal.Ignore(syscall.SIGHUP, syscall.SIGPIPE)
		err = daemon.New(daemon.Config{Home: h, Version: versionString(), Log: lg, Resurrect: resurrect, NotifySocket: notify, MetricsAddr: metrics}).Run(ctx)
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
