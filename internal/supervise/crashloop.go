package supervise

import (
	"fmt"
	"time"
)

// Default crash-loop bounds, used for zero fields of CrashLoop.
const (
	DefaultCrashLoopMax    = 10
	DefaultCrashLoopWindow = 30 * time.Second
)

// CrashLoop detects a crash loop, by two rules on the same Max: more than
// Max failures within Window (Fail), or more than Max failures of one
// worker in a row, none of them after a stable run (InARow). The window
// catches many workers failing together; the run in a row catches a single
// worker whose backoff spreads its failures wider than any window.
// Failures older than Window are forgotten. The zero value uses
// DefaultCrashLoopMax and DefaultCrashLoopWindow.
type CrashLoop struct {
	// Max is how many failures within Window are tolerated; the next one is
	// a crash loop. 0 means DefaultCrashLoopMax; a negative value disables
	// detection.
	Max int
	// Window is the sliding window. 0 means DefaultCrashLoopWindow.
	Window time.Duration

	times []time.Time // failures within the window, oldest first
}

// Fail records a failure at now and reports whether the failures within the
// window, this one included, now exceed Max.
func (c *CrashLoop) Fail(now time.Time) bool {
	if c.Max < 0 {
		return false
	}
	c.times = append(c.prune(now), now)
	return len(c.times) > c.max()
}

// InARow reports whether n failures in a row of one worker (the caller
// counts them, and starts afresh after a stable run) exceed Max. It is
// always false when detection is disabled (Max < 0).
func (c *CrashLoop) InARow(n int) bool {
	return c.Max >= 0 && n > c.max()
}

// Count returns the failures recorded within the window ending at now.
func (c *CrashLoop) Count(now time.Time) int {
	c.times = c.prune(now)
	return len(c.times)
}

// String describes the limit, as in "10 failures within 30s".
func (c *CrashLoop) String() string {
	return fmt.Sprintf("%d failures within %v", c.max(), c.window())
}

func (c *CrashLoop) max() int {
	if c.Max == 0 {
		return DefaultCrashLoopMax
	}
	return c.Max
}

func (c *CrashLoop) window() time.Duration {
	if c.Window <= 0 {
		return DefaultCrashLoopWindow
	}
	return c.Window
}

func (c *CrashLoop) prune(now time.Time) []time.Time {
	cut := now.Add(-c.window())
	i := 0
	for i < len(c.times) && !c.times[i].After(cut) {
		i++
	}
	return append(c.times[:0], c.times[i:]...)
}
