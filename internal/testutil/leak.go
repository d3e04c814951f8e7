package testutil

import (
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// LeakSettle is how long VerifyTestMain lets goroutines end after the
// tests pass before it calls them leaked. Some end a moment after the
// Close that stops them (an embedded nats-server's file store flushes
// and exits on its own goroutine), and a loaded machine stretches that
// moment well past goleak's own retries.
const LeakSettle = 10 * time.Second

// IgnoreChildStarter returns the goleak option that ignores child's starter
// goroutine (github.com/herdrun/herd/child.startLoop): package child creates
// it the first time it starts a process, and by design it lives as long as
// the process does.
func IgnoreChildStarter() goleak.Option {
	return goleak.IgnoreTopFunction("github.com/herdrun/herd/child.startLoop")
}

// VerifyTestMain runs m's tests and, if they pass, fails the run when a
// goroutine other than child's starter (IgnoreChildStarter) is still
// running LeakSettle after they ended; then it exits the process with the
// result. Call it last in a package's TestMain.
func VerifyTestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(LeakSettle)
		err := goleak.Find(IgnoreChildStarter())
		for err != nil && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			err = goleak.Find(IgnoreChildStarter())
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on successful test run: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
