package ipc

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// gateTestTimeout bounds every wait of the handle-gate tests.
const gateTestTimeout = 20 * time.Second

// startBigHandleSend starts a SendHandle whose frame (8 MiB) cannot fit in
// the socket buffer, and returns once its first bytes have reached raw, so
// that the write is in progress and will stay blocked until raw is read.
func startBigHandleSend(t *testing.T, ctx context.Context, c *Conn, raw *os.File) <-chan error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	done := make(chan error, 1)
	go func() { done <- c.SendHandle(ctx, strings.Repeat("x", 8<<20), ln) }()
	var b [1]byte
	if _, err := raw.Read(b[:]); err != nil || b[0] != '{' {
		t.Fatalf("first byte of the handle frame: %q, %v", b[:], err)
	}
	return done
}

func waitSend(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(gateTestTimeout):
		t.Fatalf("SendHandle did not return within %v", gateTestTimeout)
		return nil
	}
}

// TestSendHandleCloseWhileWritingClosesOnce: Close during a blocked
// ModeNode SendHandle releases the handle's descriptor exactly once. The
// descriptor number is reused for an unrelated file between Close and the
// writer's failure handling; that file must stay open.
func TestSendHandleCloseWhileWritingClosesOnce(t *testing.T) {
	c, raw, err := Pair(&Options{Mode: ModeNode})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	defer c.Close()
	failed := make(chan int, 1)
	release := make(chan struct{})
	testHookHandleWriteFailed = func(fd int) {
		failed <- fd
		<-release
	}
	defer func() { testHookHandleWriteFailed = nil }()

	done := startBigHandleSend(t, context.Background(), c, raw)
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	var fd int
	select {
	case fd = <-failed:
	case <-time.After(gateTestTimeout):
		t.Fatal("the blocked handle write did not fail after Close")
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(gateTestTimeout):
		close(release)
		t.Fatal("Close did not return while the writer was held")
	}
	// The handle's descriptor is closed by now; give its number to an
	// unrelated file, as a concurrent open could.
	other, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := unix.Dup3(int(other.Fd()), fd, unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	close(release)
	if err := waitSend(t, done); err == nil {
		t.Error("SendHandle cut by Close returned nil")
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
		t.Fatalf("descriptor %d, reused after Close, was closed again by the failed SendHandle: %v", fd, err)
	}
}

// TestSpuriousAckDuringHandleWrite: a misbehaving peer answers
// NODE_HANDLE_ACK while the handle frame is still being written, and the
// write then fails. SendHandle must return, and the channel must not hang.
func TestSpuriousAckDuringHandleWrite(t *testing.T) {
	c, raw, err := Pair(&Options{Mode: ModeNode})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), gateTestTimeout)
	defer cancel()
	sctx, scancel := context.WithCancel(ctx)
	defer scancel()
	done := startBigHandleSend(t, sctx, c, raw)
	if _, err := raw.Write([]byte(`{"cmd":"NODE_HANDLE_ACK"}` + "\n" + `"after"` + "\n")); err != nil {
		t.Fatal(err)
	}
	// Messages are processed in order: once "after" is received, so is
	// the ACK.
	m, err := c.Recv(ctx)
	if err != nil || string(m.Data) != `"after"` {
		t.Fatalf("Recv = %q, %v; want \"after\"", m.Data, err)
	}
	scancel()
	if err := waitSend(t, done); err == nil {
		t.Fatal("SendHandle interrupted mid-frame returned nil")
	}
}

// TestSpuriousAckThenWriteCompletes: an ACK that arrives before the handle
// frame is fully written counts as its answer once the write completes:
// the next send goes through, and a later ACK with nothing pending is
// ignored.
func TestSpuriousAckThenWriteCompletes(t *testing.T) {
	c, raw, err := Pair(&Options{Mode: ModeNode})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), gateTestTimeout)
	defer cancel()
	done := startBigHandleSend(t, ctx, c, raw)
	if _, err := raw.Write([]byte(`{"cmd":"NODE_HANDLE_ACK"}` + "\n" + `"after"` + "\n")); err != nil {
		t.Fatal(err)
	}
	if m, err := c.Recv(ctx); err != nil || string(m.Data) != `"after"` {
		t.Fatalf("Recv = %q, %v; want \"after\"", m.Data, err)
	}
	// Drain the frame so that the write completes.
	lines := make(chan string, 4)
	go func() {
		buf := make([]byte, 1<<20)
		var cur []byte
		for {
			n, err := raw.Read(buf)
			for _, b := range buf[:n] {
				if b == '\n' {
					lines <- string(cur)
					cur = cur[:0]
					continue
				}
				if len(cur) < 64 {
					cur = append(cur, b)
				}
			}
			if err != nil {
				close(lines)
				return
			}
		}
	}()
	if err := waitSend(t, done); err != nil {
		t.Fatalf("SendHandle: %v", err)
	}
	if err := c.Send(ctx, "next"); err != nil {
		t.Fatalf("Send after the early ACK: %v", err)
	}
	for _, want := range []string{`"cmd":"NODE_HANDLE"`, `"next"`} {
		select {
		case l := <-lines:
			if !strings.Contains(l, want) {
				t.Fatalf("peer read %q, want it to contain %s", l, want)
			}
		case <-time.After(gateTestTimeout):
			t.Fatalf("peer did not read a line with %s", want)
		}
	}
	// The real ACK arrives now, with nothing pending.
	if _, err := raw.Write([]byte(`{"cmd":"NODE_HANDLE_ACK"}` + "\n" + `"last"` + "\n")); err != nil {
		t.Fatal(err)
	}
	if m, err := c.Recv(ctx); err != nil || string(m.Data) != `"last"` {
		t.Fatalf("Recv = %q, %v; want \"last\"", m.Data, err)
	}
	if err := c.Send(ctx, "still open"); err != nil {
		t.Fatalf("Send after a stray ACK: %v", err)
	}
	c.Close()
	raw.Close()
	for range lines {
	}
}
