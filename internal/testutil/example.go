package testutil

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// StopTimeout bounds how long the stop of StartRun waits for run to return
// once its context is cancelled.
const StopTimeout = time.Minute

// StartRun runs run, an example's serving function, with env as its
// environment until the test ends, and waits (as WaitFor does) for its first
// line of output, which must start with prefix (such as "Server listening on
// "). It returns the rest of that line (the URL, say), run's output, and stop,
// which cancels run's context and returns run's error, or an error if run has
// not returned within StopTimeout. stop may be called more than once; the
// test's cleanup calls it. The test fails if run returns before its first
// line, or if that line does not start with prefix.
func StartRun(t testing.TB, run func(ctx context.Context, stdout io.Writer, getenv func(string) string) error,
	env map[string]string, prefix string) (rest string, out *SyncBuffer, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out = &SyncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, out, func(k string) string { return env[k] }) }()
	var (
		once sync.Once
		err  error
	)
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(StopTimeout):
				err = fmt.Errorf("run did not return within %v of its context's end", StopTimeout)
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	var line string
	WaitFor(t, "the first line of output", func() bool {
		select {
		case err := <-done:
			done <- err // for stop
			t.Fatalf("run returned before its first line: %v\n%s", err, out.String())
		default:
		}
		var ok bool
		line, _, ok = strings.Cut(out.String(), "\n")
		return ok
	})
	rest, ok := strings.CutPrefix(line, prefix)
	if !ok {
		t.Fatalf("first line %q, want %s...", line, prefix)
	}
	return rest, out, stop
}
