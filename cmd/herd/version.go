package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is herd's release version, set at build time with
// -ldflags "-X main.version=v0.1.0". When empty, the module version from the
// build information is used ("devel" for a build from a checkout).
var version = ""

// versionString returns the version, the source revision when the build
// recorded one, the Go version and the platform, as in
// "devel (rev 1a2b3c4d5e6f, modified) go1.26.0 linux/amd64".
func versionString() string {
	v := version
	rev, modified := "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if modified {
			rev += ", modified"
		}
		v += " (rev " + rev + ")"
	}
	return fmt.Sprintf("%s %s %s/%s", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func newVersionCmd(getenv env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print herd's version (and the running daemon's), the Go version and the platform",
		Args:  cobra.NoArgs,
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON: {\"cli\": VERSION, \"daemon\": VERSION or null, \"daemon_pid\": PID}")
	cmd.RunE = runE(func(cmd *cobra.Command, _ []string) error {
		out := struct {
			CLI       string  `json:"cli"`
			Daemon    *string `json:"daemon"`
			DaemonPID int     `json:"daemon_pid,omitempty"`
		}{CLI: versionString()}
		c := &ctl{stdout: cmd.OutOrStdout(), getenv: getenv}
		if cl, err := c.client(); err == nil {
			if v, err := cl.Version(cmd.Context()); err == nil {
				out.Daemon, out.DaemonPID = &v.Version, v.PID
			}
			cl.Close()
		}
		if asJSON {
			return c.printJSON(out)
		}
		w := cmd.OutOrStdout()
		fmt.Fprintf(w, "herd %s\n", out.CLI)
		switch {
		case out.Daemon == nil:
			fmt.Fprintln(w, "daemon: not running")
		case *out.Daemon == out.CLI:
			fmt.Fprintf(w, "daemon: the same (pid %d)\n", out.DaemonPID)
		default:
			fmt.Fprintf(w, "daemon: herd %s (pid %d): another version; herd update replaces it with this one\n", *out.Daemon, out.DaemonPID)
		}
		return nil
	})
	return cmd
}
