package cluster

import (
	"context"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
)

// Config.StopSignal is what a draining Command worker gets first; 0
// means SIGTERM.
func TestStopSignal(t *testing.T) {
	const script = `trap 'echo got INT; exit 0' INT; trap 'echo got TERM; exit 0' TERM; echo up; while :; do sleep 0.05; done`
	for _, tc := range []struct {
		sig  syscall.Signal
		want string
	}{{0, "got TERM"}, {syscall.SIGINT, "got INT"}} {
		var out testutil.SyncBuffer
		c := New(Config{
			Workers:      1,
			Command:      []string{"sh", "-c", script},
			StopSignal:   tc.sig,
			ReadyOnStart: true,
			NoSignals:    true,
			Output:       func(id, slot int) (io.Writer, io.Writer) { return &out, &out },
			Logger:       discardLogger(),
		}, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		for end := time.Now().Add(20 * time.Second); !strings.Contains(out.String(), "up\n"); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("signal %v: the worker never started: %q", tc.sig, out.String())
			}
		}
		if err := c.Shutdown(ctx); err != nil {
			t.Errorf("signal %v: Shutdown = %v", tc.sig, err)
		}
		if err := <-done; err != nil {
			t.Errorf("signal %v: Run = %v", tc.sig, err)
		}
		cancel()
		if !strings.Contains(out.String(), tc.want+"\n") {
			t.Errorf("signal %v: output %q, want %q", tc.sig, out.String(), tc.want)
		}
	}
}
