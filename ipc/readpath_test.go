package ipc_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/herdrun/herd/ipc"
)

// These tests exercise the read path: Recv reading the socket itself, the
// background reader standing by and taking over again after idleHandback
// (50 ms) without a Recv call, and read interruption by contexts and Close.

// pastHandback is comfortably longer than the background reader's idle
// hand-back delay.
const pastHandback = 150 * time.Millisecond

func waitDone(t *testing.T, c *ipc.Conn, within time.Duration) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(within):
		t.Fatalf("Done not closed within %v; Err = %v", within, c.Err())
	}
}

func TestReadPathDoneWithoutRecv(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String()+"/never-received", func(t *testing.T) {
			a, b := pair(t, &ipc.Options{Mode: mode})
			b.Close()
			waitDone(t, a, 5*time.Second)
			if err := a.Err(); !errors.Is(err, ipc.ErrDisconnected) {
				t.Fatalf("Err = %v, want ErrDisconnected", err)
			}
		})
		t.Run(mode.String()+"/after-recv", func(t *testing.T) {
			// A Recv has read directly, so the background reader stood
			// by; it must take over again and see the disconnect.
			a, b := pair(t, &ipc.Options{Mode: mode})
			ctx := ctxT(t)
			if err := b.Send(ctx, 1); err != nil {
				t.Fatal(err)
			}
			if _, err := a.Recv(ctx); err != nil {
				t.Fatal(err)
			}
			short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
			_, err := a.Recv(short)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Recv on a quiet channel: %v, want DeadlineExceeded", err)
			}
			b.Close()
			waitDone(t, a, 5*time.Second)
			if err := a.Err(); !errors.Is(err, ipc.ErrDisconnected) {
				t.Fatalf("Err = %v, want ErrDisconnected", err)
			}
			if _, err := a.Recv(ctx); !errors.Is(err, ipc.ErrDisconnected) {
				t.Fatalf("Recv after disconnect: %v", err)
			}
		})
	}
}

func recvInt(t *testing.T, ctx context.Context, c *ipc.Conn) int {
	t.Helper()
	m, err := c.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := m.Decode(&n); err != nil {
		t.Fatalf("decode %q: %v", m.Data, err)
	}
	return n
}

func TestReadPathOrderAcrossHandback(t *testing.T) {
	const burst = 200
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			a, b := pair(t, &ipc.Options{Mode: mode})
			ctx := ctxT(t)
			next := 0
			sent := 0
			send := func(n int) {
				for range n {
					if err := b.Send(ctx, sent); err != nil {
						t.Fatal(err)
					}
					sent++
				}
			}
			expect := func(n int) {
				for range n {
					if got := recvInt(t, ctx, a); got != next {
						t.Fatalf("got message %d, want %d", got, next)
					}
					next++
				}
			}
			for round := range 4 {
				send(burst)
				expect(burst / 2) // part from the socket directly, part queued
				// The background reader takes over while more arrive.
				time.Sleep(pastHandback)
				send(burst)
				if round%2 == 1 {
					time.Sleep(pastHandback)
				}
				expect(burst + burst/2)
			}
			short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			if m, err := a.Recv(short); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("extra message %q, err %v", m.Data, err)
			}
		})
	}
}

func TestReadPathConcurrentRecvWithCancel(t *testing.T) {
	const n = 3000
	const receivers = 4
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			a, b := pair(t, &ipc.Options{Mode: mode})
			ctx := ctxT(t)
			all, stop := context.WithCancel(ctx)
			defer stop()

			var mu sync.Mutex
			seen := make([]int, n)
			total := 0
			var bad []string

			var wg sync.WaitGroup
			for g := range receivers {
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(uint64(g), 7))
					for all.Err() == nil {
						var rctx context.Context
						var cancel context.CancelFunc
						if rng.IntN(3) == 0 {
							rctx, cancel = context.WithCancel(all)
						} else {
							rctx, cancel = context.WithTimeout(all, time.Duration(rng.IntN(3000))*time.Microsecond)
						}
						m, err := a.Recv(rctx)
						cancel()
						if err != nil {
							if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
								continue
							}
							mu.Lock()
							bad = append(bad, "recv: "+err.Error())
							mu.Unlock()
							return
						}
						var v int
						mu.Lock()
						if err := m.Decode(&v); err != nil || v < 0 || v >= n {
							bad = append(bad, "bad message "+string(m.Data))
						} else {
							seen[v]++
							total++
							if total == n {
								stop()
							}
						}
						mu.Unlock()
					}
				})
			}
			// The sender pauses now and then, so that Recv calls time out
			// while blocked reading, and sometimes long enough for the
			// background reader to take over.
			sendErr := make(chan error, 1)
			go func() {
				rng := rand.New(rand.NewPCG(99, 1))
				for i := range n {
					if err := b.Send(ctx, i); err != nil {
						sendErr <- err
						return
					}
					if rng.IntN(500) == 0 {
						// Let the background reader take over now and then.
						time.Sleep(pastHandback)
					} else if rng.IntN(50) == 0 {
						time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
					}
				}
				sendErr <- nil
			}()
			if err := <-sendErr; err != nil {
				t.Fatal(err)
			}
			select {
			case <-all.Done():
			case <-time.After(20 * time.Second):
			}
			stop()
			wg.Wait()
			if len(bad) > 0 {
				t.Fatalf("%d errors, first: %s", len(bad), bad[0])
			}
			for i, c := range seen {
				if c != 1 {
					t.Errorf("message %d received %d times", i, c)
				}
			}
			if total != n {
				t.Fatalf("received %d of %d", total, n)
			}
			short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			if m, err := a.Recv(short); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("extra message %q, err %v", m.Data, err)
			}
		})
	}
}

func TestReadPathCloseWakesBlockedRecv(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			a, _ := pair(t, &ipc.Options{Mode: mode})
			ctx := ctxT(t)
			errs := make(chan error, 2)
			for range 2 { // one reads the socket, one waits for the role
				go func() {
					_, err := a.Recv(ctx)
					errs <- err
				}()
			}
			time.Sleep(100 * time.Millisecond) // let them block
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				select {
				case err := <-errs:
					if !errors.Is(err, ipc.ErrClosed) {
						t.Fatalf("Recv returned %v, want ErrClosed", err)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("Recv still blocked 5s after Close")
				}
			}
		})
	}
}

func TestReadPathHandleAckedWithoutRecv(t *testing.T) {
	for _, recvFirst := range []bool{false, true} {
		name := "never-received"
		if recvFirst {
			name = "after-recv"
		}
		t.Run(name, func(t *testing.T) {
			a, b := pair(t, &ipc.Options{Mode: ipc.ModeNode})
			ctx := ctxT(t)
			if recvFirst {
				// b's Recv reads directly; then nobody calls Recv on b.
				if err := a.Send(ctx, "hi"); err != nil {
					t.Fatal(err)
				}
				if _, err := b.Recv(ctx); err != nil {
					t.Fatal(err)
				}
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			// The second SendHandle waits for the ACK of the first, which
			// only b's background reader can send.
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			for i := range 2 {
				if err := a.SendHandle(sctx, i, ln); err != nil {
					t.Fatalf("SendHandle %d: %v", i, err)
				}
			}
			for i := range 2 {
				m, err := b.Recv(ctx)
				if err != nil {
					t.Fatal(err)
				}
				closeAny(m.Handle)
				var v int
				if err := m.Decode(&v); err != nil || v != i {
					t.Fatalf("message %q (%v), want %d", m.Data, err, i)
				}
				if _, ok := m.Handle.(net.Listener); !ok {
					t.Fatalf("handle %T, want net.Listener", m.Handle)
				}
			}
		})
	}
}

func TestReadPathSplitFastFrameAcrossCancel(t *testing.T) {
	for _, wait := range []time.Duration{0, pastHandback} {
		t.Run(wait.String(), func(t *testing.T) {
			a, raw := rawPair(t, &ipc.Options{Mode: ipc.ModeFast})
			ctx := ctxT(t)
			payload := make([]byte, 1<<20)
			for i := range payload {
				payload[i] = byte(i*7 + i>>11)
			}
			frame := binary.BigEndian.AppendUint32(nil, uint32(len(payload)))
			frame = append(frame, byte(ipc.KindBytes), 0)
			frame = append(frame, payload...)
			half := len(frame) / 2

			wrote := make(chan error, 1)
			go func() {
				_, err := raw.Write(frame[:half])
				wrote <- err
			}()
			short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			m, err := a.Recv(short)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Recv of half a frame: %v (%d bytes), want DeadlineExceeded", err, len(m.Data))
			}
			if err := <-wrote; err != nil {
				t.Fatal(err)
			}
			// With a pause, the background reader takes over the partly
			// read frame before the rest arrives.
			time.Sleep(wait)
			go func() {
				_, err := raw.Write(frame[half:])
				wrote <- err
			}()
			m, err = a.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := <-wrote; err != nil {
				t.Fatal(err)
			}
			if m.Kind != ipc.KindBytes || !bytes.Equal(m.Data, payload) {
				t.Fatalf("got kind %c, %d bytes, equal=%v", m.Kind, len(m.Data), bytes.Equal(m.Data, payload))
			}
			// The stream is still framed: a small frame after it arrives whole.
			small := append(binary.BigEndian.AppendUint32(nil, 3), byte(ipc.KindBytes), 0, 'x', 'y', 'z')
			if _, err := raw.Write(small); err != nil {
				t.Fatal(err)
			}
			m, err = a.Recv(ctx)
			if err != nil || string(m.Data) != "xyz" {
				t.Fatalf("next frame %q, %v", m.Data, err)
			}
		})
	}
}
