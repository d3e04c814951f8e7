package cluster

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/sockwatch"
	"github.com/herdrun/herd/internal/testutil"
)

// Config.ReadyProbe: a worker is ready when the probe says so, not when it
// starts; a probe that gives up leaves the worker to the ready timeout.
func TestReadyProbe(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{
		Workers: 2,
		// Each worker marks its start-up done with a file named by its pid.
		Command:      []string{"sh", "-c", `sleep 0.3; touch "` + dir + `/$$"; exec sleep 30`},
		ReadyTimeout: 10 * time.Second,
		NoSignals:    true,
		Logger:       discardLogger(),
		ReadyProbe: func(ctx context.Context, pid int) error {
			for {
				if _, err := os.Stat(filepath.Join(dir, itoa(pid))); err == nil {
					return nil
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(5 * time.Millisecond):
				}
			}
		},
	}
	began := time.Now()
	c, stop := runReady(t, cfg)
	if d := time.Since(began); d < 250*time.Millisecond {
		t.Fatalf("ready after %v, before the workers' start-up (300ms) ended", d)
	}
	for _, w := range c.Workers() {
		if _, err := os.Stat(filepath.Join(dir, itoa(w.PID))); err != nil {
			t.Errorf("worker %d ready without its file", w.PID)
		}
	}
	stop()

	// A probe that fails: the boot fails at the ready timeout.
	cfg.Workers = 1
	cfg.ReadyTimeout = 300 * time.Millisecond
	cfg.ReadyProbe = func(context.Context, int) error { return errors.New("never") }
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := New(cfg, nil).Run(ctx)
	var be *BootError
	if !errors.As(err, &be) {
		t.Fatalf("Run = %v, want a *BootError", err)
	}
}

// Workers that are ready at once (ReadyOnStart) do not make the cluster
// ready before every initial worker has started.
func TestReadyOnStartWaitsForEveryWorker(t *testing.T) {
	var log testutil.SyncBuffer
	cfg := Config{
		Workers:      3,
		Command:      []string{"sleep", "30"},
		ReadyOnStart: true,
		NoSignals:    true,
		Logger:       slog.New(slog.NewTextHandler(&log, nil)),
	}
	_, stop := runReady(t, cfg)
	// The boot line says how many slots existed when the cluster was ready.
	if !strings.Contains(log.String(), "cluster: ready\" workers=3") {
		t.Errorf("ready before every worker started:\n%s", log.String())
	}
	stop()
}

// The primary holds the shared socket for its workers but never watches it:
// it is not woken by every new connection.
func TestPrimaryDoesNotWatchSharedSocket(t *testing.T) {
	cfg := Config{
		Workers:      1,
		Command:      []string{"sleep", "30"},
		Listen:       []Addr{{Address: "127.0.0.1:0"}},
		ReadyOnStart: true,
		NoSignals:    true,
		Logger:       discardLogger(),
	}
	c, stop := runReady(t, cfg)
	inodes, err := sockwatch.ListenInodes([]int{c.Addrs()[0].(*net.TCPAddr).Port})
	if err != nil {
		t.Fatal(err)
	}
	// sleep holds the socket without watching it, so only this process
	// could make the tree count as accepting.
	if sockwatch.Accepting(os.Getpid(), inodes) {
		t.Error("the primary's netpoller watches the shared socket")
	}
	stop()
}

// runReady runs a cluster until it is ready; stop shuts it down and fails
// the test if Run returned an error.
func runReady(t *testing.T, cfg Config) (c *Cluster, stop func()) {
	t.Helper()
	c = New(cfg, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	select {
	case <-c.Ready():
	case err := <-done:
		cancel()
		t.Fatal(err)
	}
	return c, func() {
		defer cancel()
		c.Shutdown(context.Background())
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
