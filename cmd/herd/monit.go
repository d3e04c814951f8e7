package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/herdrun/herd/cmd/herd/internal/monit"
	"github.com/spf13/cobra"
)

const monitLong = `Show the daemon's apps full screen, live: one row per app, expandable into
one row per instance, with status, uptime, restarts, CPU, resident memory
and a sparkline of the memory of the last minutes, over a pane that streams
the selected app's logs.

Keys: ↑/↓ select, enter expands an app, r restart, R rolling reload,
s stop/start, +/- scale by one, / filter, l logs on/off, ? help, q quit.
Every action asks first (y or enter does it).

NO_COLOR=1 (or --no-color) draws without colour. The view redraws at most
a few times a second and restores the terminal when it ends, also on
SIGINT or SIGTERM.`

func newMonitCmd(stdout io.Writer, getenv env) *cobra.Command {
	var interval time.Duration
	var noColor, noLogs bool
	cmd := &cobra.Command{
		Use:   "monit",
		Short: "Watch and drive the daemon's apps in a full-screen terminal view",
		Long:  monitLong,
		Args:  cobra.NoArgs,
	}
	cmd.Flags().DurationVar(&interval, "interval", monit.DefaultInterval, "time between two samples of the apps")
	cmd.Flags().BoolVar(&noColor, "no-color", false, "draw without colour (as NO_COLOR=1)")
	cmd.Flags().BoolVar(&noLogs, "no-logs", false, "start with the log pane hidden (l shows it)")
	cmd.RunE = runE(func(cmd *cobra.Command, _ []string) error {
		if interval < 100*time.Millisecond {
			return &usageError{fmt.Errorf("--interval %v: give 100ms or more", interval)}
		}
		if !isTerminal(stdout) || !isTerminal(os.Stdin) {
			return errors.New("herd monit needs a terminal on stdin and stdout: herd ls --json (or herd ls --watch) serves scripts and pipes")
		}
		c := &ctl{stdout: stdout, getenv: getenv}
		cl, err := c.connect(cmd.Context(), false)
		if err != nil {
			return err
		}
		defer cl.Close()
		err = monit.Run(cmd.Context(), monit.Options{Client: cl, Interval: interval, NoColor: noColor || getenv("NO_COLOR") != "",
			NoLogs: noLogs, Output: stdout})
		if errors.Is(err, monit.ErrInterrupted) {
			return &exitCodeError{code: 130, err: err}
		}
		return err
	})
	return cmd
}
