package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/herdrun/herd/child"
)

// withSignals returns a context that is cancelled at the first SIGINT or
// SIGTERM, after a note on stderr. Then the signals get their default
// action back, so a second Ctrl-C ends the process at once (its workers die
// with it: the kernel sends them SIGKILL). stop releases the signals.
func withSignals(parent context.Context, stderr io.Writer, grace time.Duration) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(parent)
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case sig := <-sigc:
			signal.Stop(sigc)
			fmt.Fprintf(stderr, "herd: got %s, stopping; requests in flight get %v (Ctrl-C again to stop at once)\n", signalName(sig), grace)
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(sigc)
		cancel()
		<-done
	}
}

// signalName returns "SIGINT" for syscall.SIGINT and so on.
func signalName(sig os.Signal) string {
	if s, ok := sig.(syscall.Signal); ok {
		return child.SignalName(s)
	}
	return sig.String()
}

// stopSignalSettle is how long holdStopSignals waits before it turns a
// SIGTERM or SIGINT into the end of the run's context: long enough for the
// cluster's own handler, when it runs, to begin the stop with the signal's
// name first.
const stopSignalSettle = 100 * time.Millisecond

// holdStopSignals keeps SIGTERM and SIGINT from ending herd by their
// default action while `herd run` runs and stops. The cluster handles both
// while it runs and gives them back their default action when it returns;
// a duplicate that arrives after that, as when GNU timeout or systemd
// signal herd and its process group at once, would otherwise kill herd
// before it has flushed its logs and reported how the apps ended. A signal
// that arrives before the cluster handles signals ends the returned
// context after stopSignalSettle, so the run stops gracefully all the
// same. release ends the watch; the signals stay caught (and dropped)
// until the process exits, which follows the run.
func holdStopSignals(parent context.Context) (ctx context.Context, release func()) {
	ctx, cancel := context.WithCancel(parent)
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-sigc:
		case <-quit:
			return
		}
		t := time.NewTimer(stopSignalSettle)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-quit:
		}
	}()
	return ctx, func() {
		close(quit)
		<-done
		cancel()
	}
}
