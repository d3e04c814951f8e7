package sdnotify_test

import (
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/sdnotify"
	"github.com/herdrun/herd/internal/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

func TestSend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := sdnotify.Send(path, "READY=1"); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, 64)
	n, err := c.Read(b)
	if err != nil || string(b[:n]) != "READY=1" {
		t.Fatalf("got %q, %v; want READY=1", b[:n], err)
	}
	if err := sdnotify.Send("", "READY=1"); err != nil {
		t.Fatalf("no socket: %v, want nil", err)
	}
	if err := sdnotify.Send(filepath.Join(t.TempDir(), "none"), "READY=1"); err == nil {
		t.Fatal("a missing socket: want an error")
	}
}
