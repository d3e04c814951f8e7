package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/herdrun/herd/cmd/herd/internal/daemon"
	"github.com/herdrun/herd/cmd/herd/internal/dashboard"
	"github.com/spf13/cobra"
)

func newDashboardCmd(stdout io.Writer, getenv env) *cobra.Command {
	return &cobra.Command{
		Use:   "dashboard",
		Short: "Print the URL of the daemon's web dashboard, with its token",
		Long: `Print the URL of the web dashboard that the daemon serves when started with
--dashboard 127.0.0.1:PORT (or HERD_DASHBOARD=127.0.0.1:PORT in the environment
of the herd start that launches it). The URL carries the token (kept in
$HERD_HOME/dashboard.token, mode 0600) that every request needs; opening it
once keeps the token in a cookie. The dashboard has a jobs page when the
daemon was given the jobs API's URL (--jobs-url, or HERD_JOBS_URL).`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			h, err := daemon.FindHome(getenv)
			if err != nil {
				return err
			}
			b, err := os.ReadFile(filepath.Join(h.Dir, dashboard.URLFile))
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("the daemon in %s serves no dashboard: start it with herd daemon --dashboard 127.0.0.1:9596, or HERD_DASHBOARD=127.0.0.1:9596 herd start ... when it is not running yet", h.Dir)
			}
			if err != nil {
				return err
			}
			tok, err := dashboard.LoadToken(filepath.Join(h.Dir, dashboard.TokenFile))
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s?token=%s\n", strings.TrimSpace(string(b)), tok)
			return nil
		}),
	}
}
