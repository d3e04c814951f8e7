package chaos

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/loadgen"
	"github.com/herdrun/herd/internal/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

func TestInFlightAtKill(t *testing.T) {
	t0 := time.Now()
	s := loadgen.Sample{Start: t0, End: t0.Add(10 * time.Millisecond), Err: errors.New("reset")}
	for _, tc := range []struct {
		kill time.Duration
		want bool
	}{{-time.Millisecond, false}, {0, true}, {5 * time.Millisecond, true}, {10 * time.Millisecond, true}, {11 * time.Millisecond, false}} {
		if got := inFlightAtKill(s, []window{{t0.Add(tc.kill), t0.Add(tc.kill)}}); got != tc.want {
			t.Errorf("kill at %v: %v, want %v", tc.kill, got, tc.want)
		}
	}
	if inFlightAtKill(s, nil) {
		t.Error("excused with no kill")
	}
	// A request that starts after the signal but before the victim is gone.
	if !inFlightAtKill(s, []window{{t0.Add(-5 * time.Millisecond), t0.Add(time.Millisecond)}}) {
		t.Error("a request begun while the victim died is not excused")
	}
}

func TestReportErr(t *testing.T) {
	clean := Report{OK: 10, FDsStart: 10, FDsEnd: 12, RSSMax: 10 << 20}
	if err := clean.Err(2, 20<<20); err != nil {
		t.Fatalf("clean run: %v", err)
	}
	for name, r := range map[string]Report{
		"failed request": {OK: 10, UnexcusedN: 1, Unexcused: []Failure{{Err: "reset"}}},
		"descriptors":    {OK: 10, FDsStart: 10, FDsEnd: 13},
		"leftover":       {OK: 10, Leftover: []int{42}},
		"rss":            {OK: 10, RSSMax: 30 << 20},
		"exit":           {OK: 10, ExitErr: errors.New("exit status 1")},
		"no request":     {},
	} {
		if err := r.Err(2, 20<<20); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestRunNeedsOptions(t *testing.T) {
	if _, err := Run(context.Background(), Options{}); err == nil || !strings.Contains(err.Error(), "required") {
		t.Fatalf("got %v", err)
	}
}

// A supervisor that exits at once is reported, not waited for forever.
func TestRunSupervisorThatNeverGetsReady(t *testing.T) {
	_, err := Run(context.Background(), Options{Command: []string{"sh", "-c", "exit 3"}, Addr: "127.0.0.1:1", Instances: 1, Duration: time.Second})
	if err == nil {
		t.Fatal("no error")
	}
}
