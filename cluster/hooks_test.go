package cluster

import (
	"context"
	"io"
	"log/slog"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
)

// Config.Output gives each worker its own writers, and Config.Respawn
// false leaves a slot empty; once all are empty Run returns nil.
func TestOutputAndRespawnHooks(t *testing.T) {
	var outs [2]testutil.SyncBuffer
	cfg := Config{
		Workers:      2,
		Command:      []string{"sh", "-c", `echo "slot $HERD_CLUSTER_SLOT"; exit 3`},
		ReadyOnStart: true,
		NoSignals:    true,
		Output: func(id, slot int) (io.Writer, io.Writer) {
			return &outs[slot], nil
		},
		Respawn: func(s ExitStatus) bool { return s.Code != 3 },
		Logger:  discardLogger(),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := New(cfg, nil).Run(ctx); err != nil {
		t.Fatalf("Run = %v, want nil once every worker has exited", err)
	}
	if ctx.Err() != nil {
		t.Fatal("Run returned only at the deadline")
	}
	for i := range outs {
		if got := outs[i].String(); got != "slot "+string(rune('0'+i))+"\n" {
			t.Errorf("worker output of slot %d = %q", i, got)
		}
	}
}

// Config.NotifySocket: READY=1 on NOTIFY_SOCKET makes a worker ready;
// Recycle replaces a worker.
func TestNotifySocketAndRecycle(t *testing.T) {
	script := `printf 'READY=1' | nc -U -u -w0 "$NOTIFY_SOCKET" 2>/dev/null || python3 -c 'import os,socket; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.sendto(b"READY=1", os.environ["NOTIFY_SOCKET"])'; exec sleep 30`
	_, ncErr := exec.LookPath("nc")
	if _, err := exec.LookPath("python3"); err != nil && ncErr != nil {
		t.Skip("neither nc nor python3 is in PATH to send the READY=1 datagram; install one (apt-get install python3)")
	}
	var readies []int
	var mu sync.Mutex
	cfg := Config{
		Workers:      1,
		Command:      []string{"sh", "-c", script},
		NotifySocket: true,
		// python3 may be a pyenv shim, a shell script that takes seconds
		// to start on a loaded machine; a worker that never sends READY=1
		// still fails, only later.
		ReadyTimeout: testutil.WaitTimeout,
		NoSignals:    true,
		Logger:       discardLogger(),
		OnEvent: func(e Event) {
			if e.Kind == EventReady {
				mu.Lock()
				readies = append(readies, e.Worker)
				mu.Unlock()
			}
		},
	}
	c := New(cfg, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*testutil.WaitTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	select {
	case <-c.Ready():
	case err := <-done:
		t.Fatalf("%v (the worker sends READY=1 with nc -U -u, else python3)", err)
	}
	id := c.Workers()[0].ID
	if err := c.Recycle(id, "test"); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(testutil.WaitTimeout); ; time.Sleep(10 * time.Millisecond) {
		ws := c.Workers()
		if len(ws) == 1 && ws[0].ID != id && ws[0].State == "ready" {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("worker not replaced: %+v", ws)
		}
	}
	if err := c.Recycle(999, "none"); err == nil {
		t.Error("Recycle of an unknown worker succeeded")
	}
	c.Shutdown(context.Background())
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(readies) != 2 {
		t.Errorf("ready events for %v, want 2 workers", readies)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
