package cluster

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
	"golang.org/x/sys/unix"
)

// Handover freezes the cluster and hands over each worker: its pid, its
// channel, and its output pipes, on which what it writes from then on
// arrives (and no longer at the Output writer). A second Handover fails;
// Shutdown still stops the workers.
func TestHandover(t *testing.T) {
	var out testutil.SyncBuffer
	c := New(Config{
		Workers:      2,
		Command:      []string{"sh", "-c", `echo up; i=0; while :; do echo "tick $i"; i=$((i+1)); sleep 0.01; done`},
		ReadyOnStart: true,
		NoSignals:    true,
		Output:       func(id, slot int) (io.Writer, io.Writer) { return &out, &out },
		Logger:       discardLogger(),
	}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	select {
	case <-c.Ready():
	case <-ctx.Done():
		t.Fatal("not ready")
	}
	testutil.WaitFor(t, "both workers' output", func() bool { return strings.Count(out.String(), "up\n") == 2 })
	live := map[int]bool{}
	for _, w := range c.Workers() {
		live[w.PID] = true
	}
	ws, err := c.Handover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 2 {
		t.Fatalf("%d workers handed over, want 2", len(ws))
	}
	for _, hw := range ws {
		if !live[hw.PID] || !hw.Ready || hw.Draining || hw.Channel == nil || hw.Stdout == nil || hw.Stderr == nil {
			t.Fatalf("handed worker %+v (live pids %v)", hw, live)
		}
		if fl, err := unix.FcntlInt(hw.Stdout.Fd(), unix.F_GETFD, 0); err != nil || fl&unix.FD_CLOEXEC == 0 {
			t.Errorf("pid %d: stdout not close-on-exec (%d, %v)", hw.PID, fl, err)
		}
	}
	before := out.String()
	// What a worker writes now waits in its pipe for the next image.
	for _, hw := range ws {
		r := bufio.NewReader(hw.Stdout)
		_ = hw.Stdout.SetReadDeadline(time.Now().Add(20 * time.Second))
		line, err := r.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "tick ") {
			t.Fatalf("pid %d: read from the handed pipe: %q %v", hw.PID, line, err)
		}
	}
	if after := out.String(); after != before {
		t.Errorf("the Output writer still got %q after the handover", strings.TrimPrefix(after, before))
	}
	if _, err := c.Handover(ctx); !errors.Is(err, ErrHandedOver) {
		t.Errorf("second Handover: %v, want ErrHandedOver", err)
	}
	for _, hw := range ws {
		for _, f := range []*os.File{hw.Stdout, hw.Stderr, hw.Channel} {
			f.Close()
		}
	}
	if err := c.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	for pid := range live {
		if !testutil.WaitGone(pid, 20*time.Second) {
			t.Errorf("worker %d still runs", pid)
		}
	}
}

// Config.Adopt needs Command workers.
func TestAdoptNeedsCommand(t *testing.T) {
	c := New(Config{Workers: 1, Adopt: []HandedWorker{{ID: 1, PID: 1}}, Logger: discardLogger()}, func(context.Context, *Worker) error { return nil })
	var ce *ConfigError
	if err := c.Run(context.Background()); !errors.As(err, &ce) || ce.Field != "Adopt" {
		t.Fatalf("Run: %v, want a ConfigError on Adopt", err)
	}
}
