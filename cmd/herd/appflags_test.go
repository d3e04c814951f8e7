package main

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/herdrun/herd/cmd/herd/internal/app"
	"github.com/spf13/pflag"
)

// parseAppFlags parses args with the App flags of herd run.
func parseAppFlags(args ...string) (app.App, error) {
	var a app.App
	f := pflag.NewFlagSet("run", pflag.ContinueOnError)
	f.SetOutput(new(strings.Builder))
	appFlags(f, &a)
	err := f.Parse(args)
	if err != nil {
		err = flagError(nil, err)
	}
	return a, err
}

// No flag leaves the App zero, so its own defaults apply; each flag sets
// its field, with the command line's spellings (max, sizes, 0 kept files).
func TestAppFlags(t *testing.T) {
	if a, err := parseAppFlags(); err != nil || !reflect.DeepEqual(a, app.App{}) {
		t.Errorf("no flags: %+v, %v; want the zero App", a, err)
	}
	a, err := parseAppFlags("-i", "max", "-p", "3000", "-p", "3001", "--ready", "message", "--restart", "on-failure",
		"--kill-timeout", "3s", "--max-memory", "300M", "--log-max-size", "1K", "--log-keep", "0", "-e", "A=b",
		"--stop-exit-codes", "0,2", "--max-restarts", "-1", "--socket-warning", "1s")
	want := app.App{Instances: -1, Ports: []int{3000, 3001}, Ready: app.ReadyMessage, Restart: app.RestartOnFailure,
		KillTimeout: 3 * time.Second, MaxMemory: 300 << 20, LogMaxSize: 1 << 10, LogKeep: -1, Env: []string{"A=b"},
		StopExitCodes: []int{0, 2}, MaxRestarts: -1, NoSocketWarning: time.Second}
	if err != nil || !reflect.DeepEqual(a, want) {
		t.Errorf("flags set\n  %+v, %v\nwant\n  %+v", a, err, want)
	}
	if a, _ := parseAppFlags("--log-keep", "3"); a.LogKeep != 3 {
		t.Errorf("--log-keep 3: LogKeep %d", a.LogKeep)
	}
	// -p HOST:PORT sets the host; --host may repeat it.
	for _, args := range [][]string{{"-p", "127.0.0.1:3000", "-p", "3001"}, {"--host", "127.0.0.1", "-p", "127.0.0.1:3000", "-p", "3001"},
		{"-p", "127.0.0.1:3000", "--host", "127.0.0.1", "-p", "3001"}} {
		if a, err := parseAppFlags(args...); err != nil || a.Host != "127.0.0.1" || !reflect.DeepEqual(a.Ports, []int{3000, 3001}) {
			t.Errorf("%q: Host %q Ports %v, %v", args, a.Host, a.Ports, err)
		}
	}
	if a, err := parseAppFlags("-p", "[::1]:3000"); err != nil || a.Host != "::1" || !reflect.DeepEqual(a.Ports, []int{3000}) {
		t.Errorf("-p [::1]:3000: Host %q Ports %v, %v", a.Host, a.Ports, err)
	}
	if a, err := parseAppFlags("--cluster"); err != nil || !a.Cluster || !a.ClusterMode() {
		t.Errorf("--cluster: %+v, %v", a, err)
	}
}

// A value an App field cannot take is a usage error with herd's message.
func TestAppFlagErrors(t *testing.T) {
	for _, tc := range []struct{ args, want string }{
		{"-i zero", `instances must be a positive number or max, not "zero"`},
		{"--max-memory lots", `--max-memory: bad size "lots"`},
		{"--log-max-size lots", `--log-max-size: bad size "lots"`},
		{"-p 127.0.0.1:3000 --host 0.0.0.0", `host "0.0.0.0" differs from "127.0.0.1" given before`},
		{"--host 0.0.0.0 -p 127.0.0.1:3000", `host "127.0.0.1" differs from "0.0.0.0" given before`},
		{"-p 127.0.0.1:3000 -p 10.0.0.1:3001", `host "10.0.0.1" differs from "127.0.0.1" given before`},
		{"-p 3000x", `port "3000x": want a number from 1 to 65535`},
		{"-p ::1:3000", `port "::1:3000": want PORT or HOST:PORT`},
	} {
		_, err := parseAppFlags(strings.Fields(tc.args)...)
		var ue *usageError
		if !errors.As(err, &ue) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want a usage error starting %q", tc.args, err, tc.want)
		}
	}
}
