package jobs

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/internal/testutil"
)

func TestMain(m *testing.M) {
	child.Dispatch() // workers.Pool processes for TestPoolHandler
	if os.Getenv(workerEnv) != "" {
		workerMain()
		return
	}
	testutil.VerifyTestMain(m)
}

// open starts a client on a new embedded store; the test closes it.
func open(t testing.TB, cfg Config) *Client {
	t.Helper()
	if cfg.Dir == "" && cfg.URLs == nil {
		cfg.Dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// work runs c.Work until the test ends.
func work(t testing.TB, c *Client, opts WorkOptions) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Work(ctx, opts) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Work: %v", err)
		}
	})
}

func bg(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
