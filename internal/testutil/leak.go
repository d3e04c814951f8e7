package testutil

import (
	"testing"

	"go.uber.org/goleak"
)

// IgnoreChildStarter returns the goleak option that ignores child's starter
// goroutine (github.com/herdrun/herd/child.startLoop): package child creates
// it the first time it starts a process, and by design it lives as long as
// the process does.
func IgnoreChildStarter() goleak.Option {
	return goleak.IgnoreTopFunction("github.com/herdrun/herd/child.startLoop")
}

// VerifyTestMain runs m's tests and, if they pass, fails the run when a
// goroutine other than child's starter (IgnoreChildStarter) is still
// running; then it exits the process with the result. Call it last in a
// package's TestMain.
func VerifyTestMain(m *testing.M) {
	goleak.VerifyTestMain(m, IgnoreChildStarter())
}
