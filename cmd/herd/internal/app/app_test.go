package app

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
)

func TestMain(m *testing.M) {
	testutil.VerifyTestMain(m)
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"512": 512, "2K": 2048, "300M": 300 << 20, "1G": 1 << 30, "1.5GB": 3 << 29, "10MiB": 10 << 20} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "M", "-1", "12X"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) succeeded", bad)
		}
	}
}

func TestParseInstances(t *testing.T) {
	if n, err := ParseInstances("max"); err != nil || n != -1 {
		t.Errorf("max = %d, %v", n, err)
	}
	if n, err := ParseInstances("3"); err != nil || n != 3 {
		t.Errorf("3 = %d, %v", n, err)
	}
	if _, err := ParseInstances("-2"); err == nil {
		t.Error("-2 accepted")
	}
}

func TestValidate(t *testing.T) {
	a := App{}
	if err := a.Validate(); err != ErrNoCommand {
		t.Errorf("no command: %v", err)
	}
	a = App{Command: []string{"/no/such/thing"}}
	var nf *NotFoundError
	if err := a.Validate(); !errors.As(err, &nf) {
		t.Errorf("missing command: %v", err)
	}
	a = App{Command: []string{"node", "/srv/app/server.js"}}
	if err := a.Validate(); err == nil && a.Name != "server" {
		t.Errorf("name %q, want server", a.Name)
	}
	a = App{Command: []string{"sh", "-c", "true"}}
	if err := a.Validate(); err != nil || a.Name != "sh" {
		t.Errorf("sh: name %q, %v; want sh", a.Name, err)
	}
	for _, bad := range []App{
		{Command: []string{"sh"}, Ready: "soon"},
		{Command: []string{"sh"}, Restart: "sometimes"},
		{Command: []string{"sh"}, Ports: []int{70000}},
		{Command: []string{"sh"}, LogMaxSize: -1},
		{Command: []string{"sh"}, LogMaxAge: -time.Second},
		{Command: []string{"sh"}, LogFormat: "pm2"},
		{Command: []string{"sh"}, LogDateFormat: "Y-MM"},
		{Command: []string{"sh"}, StopSignal: "SIGNOPE"},
	} {
		var fe *FieldError
		if err := bad.Validate(); !errors.As(err, &fe) || fe.Key == "" {
			t.Errorf("%+v: error %v, want a *FieldError naming its key", bad, err)
		}
	}
}

// WithDefaults fills exactly the zero fields that have a default, and
// keeps the meaningful negative values.
func TestWithDefaults(t *testing.T) {
	got := App{Command: []string{"sh"}}.WithDefaults()
	want := App{Command: []string{"sh"}, Instances: DefaultInstances, Ready: DefaultReady, Restart: DefaultRestart,
		ReadyTimeout: DefaultReadyTimeout, KillTimeout: DefaultKillTimeout, BackoffInitial: DefaultBackoffInitial,
		BackoffMax: DefaultBackoffMax, MinUptime: DefaultMinUptime, MaxRestarts: DefaultMaxRestarts,
		RestartWindow: DefaultRestartWindow, MemoryInterval: DefaultMemoryInterval, NoSocketWarning: DefaultNoSocketWarning,
		LogMaxSize: DefaultLogMaxSize, LogKeep: DefaultLogKeep, LogFormat: DefaultLogFormat, StopSignal: DefaultStopSignal}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("WithDefaults of the zero App =\n  %+v\nwant\n  %+v", got, want)
	}
	if again := got.WithDefaults(); !reflect.DeepEqual(again, got) {
		t.Error("WithDefaults is not idempotent")
	}
	neg := App{Instances: -1, MaxRestarts: -1, LogKeep: -1, KillTimeout: time.Second}.WithDefaults()
	if neg.Instances != -1 || neg.MaxRestarts != -1 || neg.LogKeep != -1 || neg.KillTimeout != time.Second {
		t.Errorf("WithDefaults changed set values: %+v", neg)
	}
	if x := (App{Instances: -1}); x.Count() < 1 {
		t.Errorf("Count of max = %d", x.Count())
	}
}

// An App survives its JSON form unchanged.
func TestJSONRoundTrip(t *testing.T) {
	a := App{Name: "web", Command: []string{"node", "a.js"}, Instances: -1, Ports: []int{3000}, Ready: ReadyMessage,
		Restart: RestartOnFailure, KillTimeout: 3 * time.Second, Env: []string{"A=b"}, StopExitCodes: []int{0},
		MaxMemory: 300 << 20, LogFile: "/tmp/web.log", LogKeep: -1, Dir: "/srv"}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var back App
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, a) {
		t.Errorf("round trip of %s =\n  %+v\nwant\n  %+v", b, back, a)
	}
}

func TestRespawn(t *testing.T) {
	for _, tc := range []struct {
		a    App
		code int
		want bool
	}{
		{App{}, 0, true},
		{App{Restart: RestartOnFailure}, 0, false},
		{App{Restart: RestartOnFailure}, -1, true},
		{App{Restart: RestartNever}, 1, false},
		{App{StopExitCodes: []int{4}}, 4, false},
	} {
		if got := tc.a.Respawn(tc.code); got != tc.want {
			t.Errorf("%+v Respawn(%d) = %v", tc.a, tc.code, got)
		}
	}
}

func TestCheckBounds(t *testing.T) {
	for _, tc := range []struct {
		a   App
		key string
	}{
		{App{Instances: MaxInstances() + 1}, "instances"},
		{App{Instances: -2}, "instances"},
		{App{MaxRestarts: -2}, "max_restarts"},
		{App{LogKeep: -2}, "log_keep"},
		{App{KillTimeout: -time.Second}, "kill_timeout"},
		{App{MinUptime: -time.Second}, "min_uptime"},
		{App{MaxMemory: -1}, "max_memory"},
	} {
		var fe *FieldError
		if err := tc.a.Check(); !errors.As(err, &fe) || fe.Key != tc.key {
			t.Errorf("%+v: Check = %v, want a *FieldError for %s", tc.a, err, tc.key)
		}
	}
	for _, a := range []App{{Instances: MaxInstances()}, {Instances: MaxInstances() * 10, NoInstanceLimit: true}, {Instances: -1}, {MaxRestarts: -1}, {LogKeep: -1}} {
		if err := a.Check(); err != nil {
			t.Errorf("%+v: %v", a, err)
		}
	}
	if _, err := ParseInstances("0"); err == nil {
		t.Error(`ParseInstances("0") succeeded`)
	}
}

func TestValidateNotExecutable(t *testing.T) {
	dir := t.TempDir()
	a := App{Command: []string{dir}}
	var ne *NotExecutableError
	if err := a.Validate(); !errors.As(err, &ne) || !ne.Dir {
		t.Errorf("directory: %v", err)
	}
}
