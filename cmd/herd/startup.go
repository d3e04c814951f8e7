package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"

	"github.com/herdrun/herd/cmd/herd/internal/daemon"
	"github.com/spf13/cobra"
)

// defaultUnitDir is where herd startup writes its systemd unit.
const defaultUnitDir = "/etc/systemd/system"

// startupOptions are the flags of herd startup and unstartup.
type startupOptions struct {
	dryRun  bool
	user    string // the user whose daemon the unit runs
	home    string // that user's home directory
	unitDir string
}

// unitName returns the unit's file name for user.
func unitName(user string) string { return "herd-" + user + ".service" }

// systemdUnit returns the text of the unit that runs exe's daemon for user,
// with its state in herdHome.
func systemdUnit(exe, user, herdHome string) string {
	return fmt.Sprintf(`[Unit]
Description=herd daemon of %[1]s: the apps of herd start, restored from herd save
Documentation=https://github.com/herdrun/herd
After=network.target

[Service]
Type=notify
NotifyAccess=main
User=%[1]s
Environment=HERD_HOME=%[2]s
ExecStart=%[3]s daemon --resurrect
# SIGTERM to the daemon alone: it stops every app gracefully. Whatever is
# left when the timeout passes is killed.
KillMode=mixed
TimeoutStopSec=120
Restart=always
RestartSec=100ms

[Install]
WantedBy=multi-user.target
`, user, herdHome, exe)
}

// startupTarget fills in the user, home and executable of o.
func (o *startupOptions) resolve(getenv env) (exe, herdHome string, err error) {
	exe, err = os.Executable()
	if err != nil {
		return "", "", err
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return "", "", err
	}
	if o.user == "" {
		u, err := user.Current()
		if err != nil {
			return "", "", err
		}
		o.user = u.Username
		if o.home == "" {
			o.home = u.HomeDir
		}
	}
	if o.home == "" {
		u, err := user.Lookup(o.user)
		if err != nil {
			return "", "", fmt.Errorf("--user-name %s: %w", o.user, err)
		}
		o.home = u.HomeDir
	}
	herdHome = filepath.Join(o.home, daemon.DefaultHomeDir)
	if d := getenv(daemon.HomeEnv); d != "" && o.user == currentUser() {
		if herdHome, err = filepath.Abs(d); err != nil {
			return "", "", err
		}
	}
	return exe, herdHome, nil
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return ""
}

func startupFlags(cmd *cobra.Command, o *startupOptions) {
	f := cmd.Flags()
	f.StringVar(&o.user, "user-name", "", "the user whose daemon the unit runs (default: you)")
	f.StringVar(&o.home, "home", "", "that user's home directory (default: from the user database)")
	f.StringVar(&o.unitDir, "unit-dir", defaultUnitDir, "directory of the unit file")
	_ = f.MarkHidden("unit-dir")
}

// systemctl runs systemctl with args when systemd runs this machine, and
// returns whether it did.
func systemctl(stdout io.Writer, args ...string) (bool, error) {
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		return false, nil
	}
	path, err := exec.LookPath("systemctl")
	if err != nil {
		return false, nil
	}
	out, err := exec.Command(path, args...).CombinedOutput()
	stdout.Write(out)
	if err != nil {
		return true, fmt.Errorf("systemctl %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return true, nil
}

func newStartupCmd(stdout, stderr io.Writer, getenv env) *cobra.Command {
	var o startupOptions
	cmd := &cobra.Command{
		Use:   "startup [systemd]",
		Short: "Write a systemd unit that starts the daemon at boot and restores the saved apps",
		Long: `Write a systemd unit (Type=notify) that runs "herd daemon --resurrect" as you at
boot, and restarts it within 100ms if it dies: it brings back the list that herd
save recorded. The unit goes to /etc/systemd/system/herd-USER.service, which
needs root: a user other than root gets the exact sudo line to run. herd
unstartup removes it. --dry-run prints the unit and writes nothing.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 1 || len(args) == 1 && args[0] != "systemd" {
				return &usageError{errors.New("herd startup knows systemd only: herd startup [systemd]")}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "print the unit and where it would go; write nothing")
	startupFlags(cmd, &o)
	cmd.RunE = runE(func(cmd *cobra.Command, _ []string) error {
		exe, herdHome, err := o.resolve(getenv)
		if err != nil {
			return err
		}
		unit := systemdUnit(exe, o.user, herdHome)
		path := filepath.Join(o.unitDir, unitName(o.user))
		if o.dryRun {
			fmt.Fprintf(stdout, "# %s\n%s", path, unit)
			return nil
		}
		if os.Getuid() != 0 && o.unitDir == defaultUnitDir {
			fmt.Fprintf(stderr, "herd: writing %s needs root; run:\n", path)
			fmt.Fprintf(stdout, "sudo %s startup systemd --user-name %s --home %s\n", exe, o.user, o.home)
			return &reportedError{1}
		}
		if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
			return fmt.Errorf("writing the unit: %w", err)
		}
		fmt.Fprintf(stdout, "wrote %s\n", path)
		if sa, err := exec.LookPath("systemd-analyze"); err == nil {
			if out, err := exec.Command(sa, "verify", path).CombinedOutput(); err != nil {
				fmt.Fprintf(stderr, "herd: systemd-analyze verify %s: %v: %s\n", path, err, bytes.TrimSpace(out))
			} else {
				fmt.Fprintf(stdout, "systemd-analyze verify: ok\n")
			}
		}
		ran, err := systemctl(stdout, "daemon-reload")
		if err == nil && ran {
			_, err = systemctl(stdout, "enable", unitName(o.user))
		}
		if err != nil {
			return err
		}
		if ran {
			fmt.Fprintf(stdout, "enabled %s: the daemon starts at boot and restores what herd save recorded; systemctl start %s starts it now\n",
				unitName(o.user), unitName(o.user))
		} else {
			fmt.Fprintf(stdout, "systemd does not run here: enable it where it does with systemctl enable --now %s\n", unitName(o.user))
		}
		fmt.Fprintln(stdout, "run herd save after you change the apps: the unit restores the saved list")
		return nil
	})
	return cmd
}

func newUnstartupCmd(stdout, stderr io.Writer, getenv env) *cobra.Command {
	var o startupOptions
	cmd := &cobra.Command{
		Use:   "unstartup [systemd]",
		Short: "Remove the unit of herd startup",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 1 || len(args) == 1 && args[0] != "systemd" {
				return &usageError{errors.New("herd unstartup knows systemd only: herd unstartup [systemd]")}
			}
			return nil
		},
	}
	startupFlags(cmd, &o)
	cmd.RunE = runE(func(cmd *cobra.Command, _ []string) error {
		exe, _, err := o.resolve(getenv)
		if err != nil {
			return err
		}
		path := filepath.Join(o.unitDir, unitName(o.user))
		if _, err := os.Stat(path); os.IsNotExist(err) {
			return fmt.Errorf("no unit at %s: nothing to remove", path)
		}
		if os.Getuid() != 0 && o.unitDir == defaultUnitDir {
			fmt.Fprintf(stderr, "herd: removing %s needs root; run:\n", path)
			fmt.Fprintf(stdout, "sudo %s unstartup systemd --user-name %s --home %s\n", exe, o.user, o.home)
			return &reportedError{1}
		}
		if _, err := systemctl(stdout, "disable", unitName(o.user)); err != nil {
			return err
		}
		if err := os.Remove(path); err != nil {
			return err
		}
		_, _ = systemctl(stdout, "daemon-reload")
		fmt.Fprintf(stdout, "removed %s\n", path)
		return nil
	})
	return cmd
}
