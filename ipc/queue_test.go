package ipc_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/herdrun/herd/ipc"
)

// Tests of Options.SendQueue: Send returns once its message is queued, a
// writer goroutine writes the queue, and Flush, backpressure, errors,
// order with the other sends and Close behave as documented.

func TestSendQueueOrderAcrossSendKinds(t *testing.T) {
	// One goroutine mixes queued Sends and SendBytes with SendBatch and
	// SendHandle, which go around the queue: the peer gets every message
	// in the order sent, and the handle with its own message.
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			tx, rx := pair(t, &ipc.Options{Mode: mode, SendQueue: 256})
			ctx := ctxT(t)
			f, err := os.Open(os.DevNull)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			const rounds = 40
			sent := make(chan error, 1)
			go func() {
				sent <- func() error {
					k := 0
					for r := range rounds {
						for range 20 {
							if err := tx.Send(ctx, k); err != nil {
								return err
							}
							k++
						}
						if err := tx.SendBytes(ctx, []byte(fmt.Sprint(k))); err != nil {
							return err
						}
						k++
						if _, err := tx.SendBatch(ctx, k, k+1, k+2); err != nil {
							return err
						}
						k += 3
						if r%10 == 0 {
							if err := tx.SendHandle(ctx, k, ln); err != nil {
								return err
							}
							k++
						}
					}
					return tx.Flush(ctx)
				}()
			}()
			for k, r := 0, 0; r < rounds; r++ {
				for range 20 {
					expectInt(t, ctx, rx, k)
					k++
				}
				m, err := rx.Recv(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if b, err := m.Bytes(); err != nil || string(b) != fmt.Sprint(k) {
					t.Fatalf("bytes message %d: %q (%v)", k, m.Data, err)
				}
				k++
				for range 3 {
					expectInt(t, ctx, rx, k)
					k++
				}
				if r%10 == 0 {
					m := expectInt(t, ctx, rx, k)
					if m.Handle == nil {
						t.Fatalf("message %d came without its handle", k)
					}
					closeAny(m.Handle)
					k++
				}
			}
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
		})
	}
}

func expectInt(t *testing.T, ctx context.Context, rx *ipc.Conn, want int) ipc.Message {
	t.Helper()
	m, err := rx.Recv(ctx)
	if err != nil {
		t.Fatalf("waiting for %d: %v", want, err)
	}
	var got int
	if err := m.Decode(&got); err != nil || got != want {
		t.Fatalf("got %s (%v), want %d", m.Data, err, want)
	}
	return m
}

func TestSendQueueBackpressureAndFlush(t *testing.T) {
	// A peer that does not read fills the socket and then the queue:
	// Send blocks until its ctx ends, Flush too; once the peer reads,
	// Flush returns and everything arrives.
	tx, rx := pair(t, &ipc.Options{Mode: ipc.ModeFast, SendQueue: 4096, RecvBuffer: 1})
	ctx := ctxT(t)
	payload := make([]byte, 1000)
	sent := 0
	for {
		short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		err := tx.SendBytes(short, payload)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		sent++
		if sent > 100000 {
			t.Fatal("Send never blocked on a peer that does not read")
		}
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	err := tx.Flush(short)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush with a full socket: %v, want DeadlineExceeded", err)
	}
	flushed := make(chan error, 1)
	go func() { flushed <- tx.Flush(ctx) }()
	for i := range sent {
		m, err := rx.Recv(ctx)
		if err != nil {
			t.Fatalf("payload %d of %d: %v", i, sent, err)
		}
		if len(m.Data) != len(payload) {
			t.Fatalf("payload %d: %d bytes", i, len(m.Data))
		}
	}
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
}

func TestSendQueuePeerGone(t *testing.T) {
	// Once the peer is gone, the queue's failed write is reported by the
	// next Send or Flush, as ErrDisconnected.
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			tx, rx := pair(t, &ipc.Options{Mode: mode, SendQueue: 1 << 10})
			ctx := ctxT(t)
			rx.Close()
			deadline := time.Now().Add(10 * time.Second)
			var err error
			for err == nil {
				if time.Now().After(deadline) {
					t.Fatal("Send kept succeeding after the peer closed")
				}
				err = tx.Send(ctx, "x")
			}
			if !errors.Is(err, ipc.ErrDisconnected) {
				t.Fatalf("Send after the peer closed: %v, want ErrDisconnected", err)
			}
			if err := tx.Flush(ctx); !errors.Is(err, ipc.ErrDisconnected) {
				t.Fatalf("Flush after the peer closed: %v, want ErrDisconnected", err)
			}
			if _, err := tx.SendBatch(ctx, 1); !errors.Is(err, ipc.ErrDisconnected) {
				t.Fatalf("SendBatch after the peer closed: %v, want ErrDisconnected", err)
			}
		})
	}
}

func TestSendQueueClose(t *testing.T) {
	// Close with messages still queued (the peer does not read) returns,
	// ends the writer, and later calls say ErrClosed.
	tx, _ := pair(t, &ipc.Options{Mode: ipc.ModeFast, SendQueue: 1 << 20, RecvBuffer: 1})
	ctx := ctxT(t)
	payload := make([]byte, 64<<10)
	for range 8 { // about half the queue: none of these blocks
		if err := tx.SendBytes(ctx, payload); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tx.Send(ctx, 1); !errors.Is(err, ipc.ErrClosed) {
		t.Fatalf("Send after Close: %v, want ErrClosed", err)
	}
	if err := tx.Flush(ctx); !errors.Is(err, ipc.ErrClosed) {
		t.Fatalf("Flush after Close: %v, want ErrClosed", err)
	}
}

func TestFlushWithoutQueue(t *testing.T) {
	tx, _ := pair(t, &ipc.Options{Mode: ipc.ModeFast})
	if err := tx.Flush(ctxT(t)); err != nil {
		t.Fatalf("Flush without a queue: %v", err)
	}
}
