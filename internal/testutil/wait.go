package testutil

import (
	"testing"
	"time"
)

// WaitTimeout is how long WaitFor waits for its condition: generous, because
// other test runs share the machine and may slow this one down a lot.
const WaitTimeout = 20 * time.Second

// pollInterval is how often WaitFor and WaitGone look again.
const pollInterval = 5 * time.Millisecond

// WaitFor calls cond every 5ms until it returns true, and fails t with
// "timed out waiting for <what>" if it has not after WaitTimeout. cond runs
// on the calling goroutine and may itself call t.Fatal.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(WaitTimeout)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(pollInterval)
	}
}
