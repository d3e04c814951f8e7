package ipc_test

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/herdrun/herd/ipc"
)

// Benchmarks of the channel. The round trips cross a process boundary (the
// echo helper child); the one-way ones run both ends in this process, so a
// CPU profile shows the sender's and the receiver's costs together. The
// Socketpair benchmarks are the floor: the same traffic over a bare
// socketpair with blocking read and write calls and no framing.
//
//	go test -run '^$' -bench . -benchmem ./ipc/
//	go test -run '^$' -bench RoundTripFast -cpuprofile cpu.out ./ipc/

type benchMsg struct {
	I int `json:"i"`
}

func benchmarkRoundTrip(b *testing.B, mode ipc.Mode) {
	c, _ := startHelper(b, "echo", mode)
	ctx := context.Background()
	var got benchMsg
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := c.Send(ctx, benchMsg{I: i}); err != nil {
			b.Fatal(err)
		}
		m, err := c.Recv(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Decode(&got); err != nil || got.I != i {
			b.Fatalf("echo of %d: %s (%v)", i, m.Data, err)
		}
	}
}

// BenchmarkRoundTripNode is one {"i":n} sent to an echo child and back over
// Node's json framing.
func BenchmarkRoundTripNode(b *testing.B) { benchmarkRoundTrip(b, ipc.ModeNode) }

// BenchmarkRoundTripFast is BenchmarkRoundTripNode over herd's fast framing.
func BenchmarkRoundTripFast(b *testing.B) { benchmarkRoundTrip(b, ipc.ModeFast) }

// BenchmarkRoundTripSocketpair is the floor of the round trips: 16 bytes
// echoed by cat(1), whose stdin and stdout are the far end of a bare
// socketpair, with blocking reads and writes on both sides.
func BenchmarkRoundTripSocketpair(b *testing.B) {
	fd, done := startCatEcho(b)
	defer done()
	msg := make([]byte, 16)
	for b.Loop() {
		if _, err := unix.Write(fd, msg); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < len(msg); {
			n, err := unix.Read(fd, msg[got:])
			if err != nil || n == 0 {
				b.Fatalf("read: %d, %v", n, err)
			}
			got += n
		}
	}
}

// startCatEcho starts cat on the far end of a blocking socketpair and
// returns the near end, and a function that ends cat.
func startCatEcho(b *testing.B) (int, func()) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	far := os.NewFile(uintptr(fds[1]), "far")
	cmd := exec.Command("cat")
	cmd.Stdin, cmd.Stdout = far, far
	if err := cmd.Start(); err != nil {
		b.Skip("cat:", err)
	}
	far.Close()
	return fds[0], func() {
		unix.Close(fds[0])
		cmd.Wait()
	}
}

// BenchmarkSendSmall is one-way throughput of {"i":n} messages between two
// Conns in this process, sender and receiver each on its own goroutine;
// the queue cases have a 64 KiB Options.SendQueue, and time until Flush
// and the receiver are done.
func BenchmarkSendSmall(b *testing.B) {
	for _, mode := range modes {
		for _, queue := range []int{0, 64 << 10} {
			name := mode.String()
			if queue > 0 {
				name += "/queue"
			}
			b.Run(name, func(b *testing.B) {
				tx, rx := pair(b, &ipc.Options{Mode: mode, SendQueue: queue})
				ctx := context.Background()
				b.ReportAllocs()
				n := b.N
				done := drain(ctx, rx, n, func(m ipc.Message) error {
					var v benchMsg
					return m.Decode(&v)
				})
				b.ResetTimer()
				for i := range n {
					if err := tx.Send(ctx, benchMsg{I: i}); err != nil {
						b.Fatal(err)
					}
				}
				if err := tx.Flush(ctx); err != nil {
					b.Fatal(err)
				}
				if err := <-done; err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}

// BenchmarkSend64K is one-way throughput of 64 KiB SendBytes payloads over
// the fast framing, between two Conns in this process, received with Recv
// (a new slice per payload) and with RecvView (the receive buffer lent).
func BenchmarkSend64K(b *testing.B) {
	b.Run("Recv", func(b *testing.B) { benchmarkSend64K(b, (*ipc.Conn).Recv) })
	b.Run("RecvView", func(b *testing.B) { benchmarkSend64K(b, (*ipc.Conn).RecvView) })
}

func benchmarkSend64K(b *testing.B, recv func(*ipc.Conn, context.Context) (ipc.Message, error)) {
	tx, rx := pair(b, &ipc.Options{Mode: ipc.ModeFast})
	ctx := context.Background()
	payload := make([]byte, 64<<10)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	n := b.N
	done := drainWith(ctx, rx, recv, n, func(m ipc.Message) error {
		if len(m.Data) != len(payload) {
			return errors.New("short payload")
		}
		return nil
	})
	b.ResetTimer()
	for range n {
		if err := tx.SendBytes(ctx, payload); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSend64KSocketpair is the floor of BenchmarkSend64K: 64 KiB
// blocking writes on a bare socketpair, read by another goroutine with
// blocking reads into a 64 KiB buffer.
func BenchmarkSend64KSocketpair(b *testing.B) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(fds[0])
	payload := make([]byte, 64<<10)
	b.SetBytes(int64(len(payload)))
	total := b.N * len(payload)
	done := make(chan error, 1)
	go func() {
		defer unix.Close(fds[1])
		buf := make([]byte, 64<<10)
		for got := 0; got < total; {
			n, err := unix.Read(fds[1], buf)
			if err != nil || n == 0 {
				done <- io.ErrUnexpectedEOF
				return
			}
			got += n
		}
		done <- nil
	}()
	b.ResetTimer()
	for range b.N {
		for p := payload; len(p) > 0; {
			n, err := unix.Write(fds[0], p)
			if err != nil {
				b.Fatal(err)
			}
			p = p[n:]
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// drain receives n messages on rx in a goroutine, checking each, and
// reports the first error (or nil) on the returned channel.
func drain(ctx context.Context, rx *ipc.Conn, n int, check func(ipc.Message) error) <-chan error {
	return drainWith(ctx, rx, (*ipc.Conn).Recv, n, check)
}

// drainWith is drain with recv (Recv or RecvView) as the receiving call.
func drainWith(ctx context.Context, rx *ipc.Conn, recv func(*ipc.Conn, context.Context) (ipc.Message, error), n int, check func(ipc.Message) error) <-chan error {
	done := make(chan error, 1)
	go func() {
		for range n {
			m, err := recv(rx, ctx)
			if err == nil {
				err = check(m)
			}
			if err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	return done
}
