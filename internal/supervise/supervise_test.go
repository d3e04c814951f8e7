package supervise

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestBackoff(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: time.Second}
	want := []time.Duration{0, 0, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, time.Second, time.Second}
	for n, w := range want {
		if got := b.Delay(n); got != w {
			t.Errorf("Delay(%d) = %v, want %v", n, got, w)
		}
	}
	if got := (Backoff{}).Delay(3); got != 2*DefaultBackoffInitial {
		t.Errorf("zero Backoff Delay(3) = %v, want %v", got, 2*DefaultBackoffInitial)
	}
	if got := (Backoff{}).Delay(1000); got != DefaultBackoffMax {
		t.Errorf("zero Backoff Delay(1000) = %v, want %v", got, DefaultBackoffMax)
	}
}

func TestJitter(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 1000 {
		d := Jitter(time.Second, 0.1)
		if d < 900*time.Millisecond || d > 1100*time.Millisecond {
			t.Fatalf("Jitter(1s, 0.1) = %v, out of [0.9s, 1.1s]", d)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Fatalf("Jitter gave only %d distinct values in 1000 draws", len(seen))
	}
	if d := Jitter(time.Second, 0); d != time.Second {
		t.Fatalf("Jitter(1s, 0) = %v", d)
	}
	if n := JitterInt(1000, 0.5); n < 500 || n > 1500 {
		t.Fatalf("JitterInt(1000, .5) = %d", n)
	}
}

func TestCrashLoop(t *testing.T) {
	c := CrashLoop{Max: 3, Window: 10 * time.Second}
	t0 := time.Unix(1000, 0)
	for i := range 3 {
		if c.Fail(t0.Add(time.Duration(i) * time.Second)) {
			t.Fatalf("crash loop after %d failures, max 3", i+1)
		}
	}
	// The failures at 0s and 1s leave the window (1s, 11s]: not a loop.
	if c.Fail(t0.Add(11 * time.Second)) {
		t.Fatal("failure outside the window was counted")
	}
	if n := c.Count(t0.Add(11 * time.Second)); n != 2 {
		t.Fatalf("Count = %d, want 2", n)
	}
	if c.Fail(t0.Add(11500 * time.Millisecond)) {
		t.Fatal("3 failures within 10s reported as a loop, max 3")
	}
	if !c.Fail(t0.Add(11600 * time.Millisecond)) {
		t.Fatal("4 failures within 10s not reported as a loop")
	}
	off := CrashLoop{Max: -1}
	for range 100 {
		if off.Fail(t0) {
			t.Fatal("disabled CrashLoop reported a loop")
		}
	}
	if s := (&CrashLoop{}).String(); s != "10 failures within 30s" {
		t.Fatalf("String = %q", s)
	}
}

func TestCrashLoopInARow(t *testing.T) {
	for _, tc := range []struct {
		max, n int
		want   bool
	}{
		{3, 3, false}, {3, 4, true}, {0, 10, false}, {0, 11, true}, {-1, 1000, false},
	} {
		c := CrashLoop{Max: tc.max}
		if got := c.InARow(tc.n); got != tc.want {
			t.Errorf("CrashLoop{Max: %d}.InARow(%d) = %v, want %v", tc.max, tc.n, got, tc.want)
		}
	}
}
