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
