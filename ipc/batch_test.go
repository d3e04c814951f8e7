package ipc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/herdrun/herd/ipc"
)

// seqMsg is the message of the batch tests: a sequence number and padding
// that makes sizes vary.
type seqMsg struct {
	Seq int    `json:"seq"`
	Pad string `json:"pad"`
}

// padFor gives message i a size: mostly a few bytes, every 97th about
// 70 KB, so that batches mix sizes and some outgrow the socket buffer.
func padFor(i int) string {
	switch {
	case i%97 == 0:
		return strings.Repeat(string(rune('a'+i%26)), 70000+i)
	case i%7 == 0:
		return strings.Repeat("x", i%1000)
	}
	return ""
}

// TestSendBatchOrderThroughChild sends numbered messages of mixed sizes to
// an echo child process, in batches of 1 to 150 interleaved with single
// Sends, and checks that every message comes back whole and in order.
func TestSendBatchOrderThroughChild(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			c, _ := startHelper(t, "echo", mode)
			ctx := ctxT(t)
			const total = 4000
			errc := make(chan error, 1)
			go func() {
				i, size := 0, 1
				for i < total {
					if size%5 == 0 {
						if err := c.Send(ctx, seqMsg{Seq: i, Pad: padFor(i)}); err != nil {
							errc <- err
							return
						}
						i++
					}
					var batch []any
					for ; i < total && len(batch) < size; i++ {
						batch = append(batch, seqMsg{Seq: i, Pad: padFor(i)})
					}
					n, err := c.SendBatch(ctx, batch...)
					if err != nil || n != len(batch) {
						errc <- fmt.Errorf("SendBatch of %d: sent %d, %v", len(batch), n, err)
						return
					}
					size = size%150 + 1
				}
				errc <- nil
			}()
			for i := range total {
				m, err := c.Recv(ctx)
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				var got seqMsg
				if err := m.Decode(&got); err != nil || got.Seq != i || got.Pad != padFor(i) {
					t.Fatalf("message %d: got seq %d, %d bytes of padding (%v)", i, got.Seq, len(got.Pad), err)
				}
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSendBytesBatchThroughChild sends payloads of mixed sizes, the empty
// one included, with SendBytesBatch and checks the echo.
func TestSendBytesBatchThroughChild(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			c, _ := startHelper(t, "echo", mode)
			ctx := ctxT(t)
			var payloads [][]byte
			for _, n := range []int{0, 1, 16, 255, 4096, 100000, 3} {
				p := make([]byte, n)
				for i := range p {
					p[i] = byte(i*7 + n)
				}
				payloads = append(payloads, p)
			}
			if n, err := c.SendBytesBatch(ctx, payloads...); err != nil || n != len(payloads) {
				t.Fatalf("SendBytesBatch: sent %d, %v", n, err)
			}
			for i, want := range payloads {
				m, err := c.Recv(ctx)
				if err != nil {
					t.Fatal(err)
				}
				got, err := m.Bytes()
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("payload %d: %d bytes, want %d (%v)", i, len(got), len(want), err)
				}
			}
		})
	}
}

// TestSendBatchRefusesWholeBatch checks that an oversize message or one
// that cannot be encoded fails the batch before any byte is written: the
// next message the peer receives is the one sent after.
func TestSendBatchRefusesWholeBatch(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			a, b := pair(t, &ipc.Options{Mode: mode, MaxMessageSize: 1000})
			ctx := ctxT(t)
			over := strings.Repeat("x", 1000) // 1002 bytes of JSON
			n, err := a.SendBatch(ctx, "first", 2, over, "last")
			var se *ipc.SizeError
			if !errors.As(err, &se) || !errors.Is(err, ipc.ErrTooLarge) || se.Limit != 1000 || se.Size != 1002 || n != 0 {
				t.Fatalf("oversize batch: sent %d, %v; want 0 and a SizeError of 1002 bytes", n, err)
			}
			if !strings.Contains(err.Error(), "message 2 ") {
				t.Errorf("error %q does not name message 2", err)
			}
			n, err = a.SendBatch(ctx, "first", make(chan int))
			if err == nil || errors.As(err, &se) || n != 0 || !strings.Contains(err.Error(), "message 1 ") {
				t.Fatalf("unencodable batch: sent %d, %v; want 0 and an encoding error naming message 1", n, err)
			}
			n, err = a.SendBytesBatch(ctx, []byte("ok"), make([]byte, 1001))
			if !errors.As(err, &se) || n != 0 {
				t.Fatalf("oversize bytes batch: sent %d, %v; want 0 and a SizeError", n, err)
			}
			// Exactly at the limit is accepted, and nothing of the refused
			// batches reached the peer.
			atLimit := strings.Repeat("y", 998)
			if n, err := a.SendBatch(ctx, "after", atLimit); err != nil || n != 2 {
				t.Fatalf("batch after the refused ones: sent %d, %v", n, err)
			}
			for _, want := range []string{"after", atLimit} {
				m, err := b.Recv(ctx)
				if err != nil {
					t.Fatal(err)
				}
				var got string
				if err := m.Decode(&got); err != nil || got != want {
					t.Fatalf("peer received %.40q (%v), want %.40q", m.Data, err, want)
				}
			}
		})
	}
}

// TestSendBatchEmptyAndClosed: an empty batch is a no-op; a batch on a
// closed Conn or with a done context sends nothing.
func TestSendBatchEmptyAndClosed(t *testing.T) {
	a, b := pair(t, nil)
	if n, err := a.SendBatch(ctxT(t)); n != 0 || err != nil {
		t.Fatalf("empty batch: %d, %v", n, err)
	}
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if n, err := a.SendBatch(done, 1, 2); n != 0 || !errors.Is(err, context.Canceled) {
		t.Fatalf("batch with a cancelled context: %d, %v", n, err)
	}
	// The channel is intact: the next message is the first the peer sees.
	if _, err := a.SendBatch(ctxT(t), "next"); err != nil {
		t.Fatal(err)
	}
	if m, err := b.Recv(ctxT(t)); err != nil || string(m.Data) != `"next"` {
		t.Fatalf("peer received %q, %v", m.Data, err)
	}
	a.Close()
	if n, err := a.SendBatch(ctxT(t), 1); n != 0 || !errors.Is(err, ipc.ErrClosed) {
		t.Fatalf("batch on a closed Conn: %d, %v", n, err)
	}
	if n, err := a.SendBytesBatch(ctxT(t), []byte{1}); n != 0 || !errors.Is(err, ipc.ErrClosed) {
		t.Fatalf("bytes batch on a closed Conn: %d, %v", n, err)
	}
}

// TestSendBatchCancelWhileBlocked sends a batch far larger than the socket
// buffer to a peer that does not read, and cancels it. SendBatch must
// return the context's error and the count n of messages written whole;
// then the peer starts reading and must get exactly those n messages,
// followed either (the cut fell between two messages) by the next message
// sent, the channel still usable, or (the cut fell inside a message) by a
// ProtocolError, with later sends failing. Nothing else may arrive.
func TestSendBatchCancelWhileBlocked(t *testing.T) {
	for _, mode := range modes {
		for _, size := range []int{10, 999, 30000, 200001} {
			t.Run(fmt.Sprintf("%s/%d", mode, size), func(t *testing.T) {
				opts := &ipc.Options{Mode: mode}
				a, raw := rawPair(t, opts)
				count := max(8, (4<<20)/size)
				msgs := make([]any, count)
				for i := range msgs {
					msgs[i] = fmt.Sprintf("%07d%s", i, strings.Repeat("z", size))
				}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				cancelWhenStalled(t, raw, cancel)
				n, err := a.SendBatch(ctx, msgs...)
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("SendBatch to a peer that never reads: sent %d, %v; want context.Canceled", n, err)
				}
				if n < 0 || n >= count {
					t.Fatalf("sent %d of %d to a peer that never reads", n, count)
				}
				// The error says whether the cut fell inside a message.
				broken := strings.Contains(err.Error(), "interrupted")
				wctx := ctxT(t)
				sendErr := make(chan error, 1)
				go func() { sendErr <- a.Send(wctx, "after") }()

				b, err := ipc.New(raw, opts)
				if err != nil {
					t.Fatal(err)
				}
				defer b.Close()
				for i := range n {
					m, err := b.Recv(wctx)
					if err != nil {
						t.Fatalf("message %d of the %d sent whole: %v", i, n, err)
					}
					if !bytes.Equal(m.Data, mustJSON(t, msgs[i])) {
						t.Fatalf("message %d: got %.40q", i, m.Data)
					}
				}
				m, rerr := b.Recv(wctx)
				serr := <-sendErr
				var pe *ipc.ProtocolError
				if broken {
					// The stream was shut down: Send fails (with the break or
					// the disconnect that followed it), the peer sees the cut.
					t.Logf("cut inside message %d of %d; the channel was shut down", n, count)
					if serr == nil {
						t.Fatal("Send after a batch cut inside a message succeeded")
					}
					if !errors.As(rerr, &pe) || !errors.Is(rerr, ipc.ErrMalformed) {
						t.Fatalf("after the %d messages sent whole: %.40q, %v; want a ProtocolError", n, m.Data, rerr)
					}
				} else {
					t.Logf("cut between messages after %d of %d; the channel stayed usable", n, count)
					if serr != nil || rerr != nil || string(m.Data) != `"after"` {
						t.Fatalf("after the %d messages sent whole: %.40q, %v (Send: %v); want \"after\"", n, m.Data, rerr, serr)
					}
				}
			})
		}
	}
}

// cancelWhenStalled calls cancel once the bytes queued for reading on peer
// stop growing, which means the sender is blocked on a full socket, or
// after 20 seconds.
func cancelWhenStalled(t *testing.T, peer *os.File, cancel func()) {
	t.Helper()
	rc, err := peer.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer cancel()
		last := -1
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
			n := -1
			rc.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ) })
			if n > 0 && n == last {
				return
			}
			last = n
		}
	}()
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSendBatchAfterHandle checks that handles and batches keep their
// order: each handle arrives on its own message, before the batch sent
// after it (in node mode the batch waits for the handle's acknowledgement).
func TestSendBatchAfterHandle(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			a, b := pair(t, &ipc.Options{Mode: mode})
			ctx := ctxT(t)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			const rounds = 3
			errc := make(chan error, 1)
			go func() {
				for r := range rounds {
					if err := a.SendHandle(ctx, fmt.Sprint("handle", r), ln); err != nil {
						errc <- err
						return
					}
					if _, err := a.SendBatch(ctx, fmt.Sprint("batch", r, ".0"), fmt.Sprint("batch", r, ".1")); err != nil {
						errc <- err
						return
					}
				}
				errc <- nil
			}()
			for r := range rounds {
				for _, want := range []string{fmt.Sprint("handle", r), fmt.Sprint("batch", r, ".0"), fmt.Sprint("batch", r, ".1")} {
					m, err := b.Recv(ctx)
					if err != nil {
						t.Fatal(err)
					}
					var got string
					m.Decode(&got)
					if got != want || (m.Handle != nil) != strings.HasPrefix(want, "handle") {
						t.Fatalf("got %q with handle %T, want %q", got, m.Handle, want)
					}
					closeAny(m.Handle)
				}
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSendBatchConcurrentStaysContiguous has goroutines send batches at
// once and checks that every batch arrives whole, its messages in order
// with none from another batch between them, and each goroutine's batches
// in the order it sent them.
func TestSendBatchConcurrentStaysContiguous(t *testing.T) {
	type tagged struct {
		G, B, K, N int
	}
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			a, b := pair(t, &ipc.Options{Mode: mode})
			ctx := ctxT(t)
			const senders, batches = 4, 60
			var wg sync.WaitGroup
			errs := make(chan error, senders)
			total := 0
			for g := range senders {
				for bi := range batches {
					total += 1 + (g*batches+bi)%40
				}
				wg.Go(func() {
					for bi := range batches {
						n := 1 + (g*batches+bi)%40
						msgs := make([]any, n)
						for k := range msgs {
							msgs[k] = tagged{G: g, B: bi, K: k, N: n}
						}
						if _, err := a.SendBatch(ctx, msgs...); err != nil {
							errs <- err
							return
						}
					}
				})
			}
			next := make([]int, senders) // next batch expected from each sender
			var cur tagged
			for i := range total {
				m, err := b.Recv(ctx)
				if err != nil {
					t.Fatal(err)
				}
				var got tagged
				if err := m.Decode(&got); err != nil {
					t.Fatal(err)
				}
				if cur.N > 0 && cur.K+1 < cur.N {
					// Inside a batch: only its next message may come.
					if got.G != cur.G || got.B != cur.B || got.K != cur.K+1 {
						t.Fatalf("message %d: %+v inside batch %+v", i, got, cur)
					}
				} else if got.K != 0 || got.B != next[got.G] {
					t.Fatalf("message %d: %+v, want the start of batch %d of sender %d", i, got, next[got.G], got.G)
				} else {
					next[got.G]++
				}
				cur = got
			}
			wg.Wait()
			close(errs)
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSendBatchCancelBetweenMessages makes the cancelled write of a batch
// stop exactly between two messages, and checks that the channel then
// stays usable. A first batch of one message, too big for the socket,
// measures how many bytes the kernel takes in one write when nobody reads
// (it depends only on the socket's send buffer); a second batch of the
// same total size puts a message boundary exactly there.
func TestSendBatchCancelBetweenMessages(t *testing.T) {
	const total = 4 << 20
	frameOverhead := map[ipc.Mode]int{ipc.ModeNode: 3, ipc.ModeFast: 8} // quotes, and a newline or a header
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			opts := &ipc.Options{Mode: mode}
			cancelWhenFull := func(raw *os.File) context.Context {
				ctx, cancel := context.WithCancel(context.Background())
				t.Cleanup(cancel)
				cancelWhenStalled(t, raw, cancel)
				return ctx
			}
			str := func(frame int) string { return strings.Repeat("q", frame-frameOverhead[mode]) }

			// The probe: one message of total bytes, cut inside.
			a, raw := rawPair(t, opts)
			n, err := a.SendBatch(cancelWhenFull(raw), str(total))
			if n != 0 || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "interrupted") {
				t.Fatalf("probe: sent %d, %v; want 0 and a broken channel", n, err)
			}
			// The channel was shut down: the peer reads up to EOF.
			buf := make([]byte, 64<<10)
			took := 0
			for {
				m, err := raw.Read(buf)
				took += m
				if err != nil {
					break // EOF: the broken channel was shut down
				}
			}
			if took <= frameOverhead[mode] || took >= total {
				t.Fatalf("probe: the kernel took %d bytes of %d", took, total)
			}

			// The real batch: a boundary exactly at took.
			a, raw = rawPair(t, opts)
			first, second := str(took), str(total-took)
			n, err = a.SendBatch(cancelWhenFull(raw), first, second)
			if n != 1 || !errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "interrupted") {
				t.Fatalf("batch cut after %d bytes: sent %d, %v; want 1 and context.Canceled alone", took, n, err)
			}
			ctx := ctxT(t)
			b, err := ipc.New(raw, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			sendErr := make(chan error, 1)
			go func() { sendErr <- a.Send(ctx, "after") }()
			for i, want := range []string{first, "after"} {
				m, err := b.Recv(ctx)
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				var got string
				if err := m.Decode(&got); err != nil || got != want {
					t.Fatalf("message %d: %.40q (%v), want %.40q", i, m.Data, err, want)
				}
			}
			if err := <-sendErr; err != nil {
				t.Fatalf("Send after a batch cut between messages: %v", err)
			}
		})
	}
}
