package ipc_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/herdrun/herd/ipc"
)

// Benchmarks of the batched send path, beside BenchmarkSendSmall: the same
// {"i":n} messages one way between two Conns in this process, so that
// ns/op is the cost of one message, sender and receiver together.
//
//	go test -run '^$' -bench 'SendSmall|SendBatch|SendConcurrent' -benchmem ./ipc/

// batchSizes are the batch lengths measured.
var batchSizes = []int{16, 128, 1024}

// BenchmarkSendBatchSmall sends {"i":n} messages with SendBatch, size
// messages per call; one op is one message. The receiver decodes each
// with Recv, and in the view cases with RecvView.
func BenchmarkSendBatchSmall(b *testing.B) {
	for _, mode := range modes {
		for _, size := range batchSizes {
			for _, view := range []bool{false, true} {
				name := fmt.Sprintf("%s/batch=%d", mode, size)
				recv := (*ipc.Conn).Recv
				if view {
					name += "/view"
					recv = (*ipc.Conn).RecvView
				}
				b.Run(name, func(b *testing.B) { benchmarkSendBatchSmall(b, mode, size, recv) })
			}
		}
	}
}

func benchmarkSendBatchSmall(b *testing.B, mode ipc.Mode, size int, recv func(*ipc.Conn, context.Context) (ipc.Message, error)) {
	tx, rx := pair(b, &ipc.Options{Mode: mode})
	ctx := context.Background()
	b.ReportAllocs()
	n := b.N
	done := drainWith(ctx, rx, recv, n, func(m ipc.Message) error {
		var v benchMsg
		return m.Decode(&v)
	})
	batch := make([]any, 0, size)
	b.ResetTimer()
	for i := 0; i < n; {
		batch = batch[:0]
		for ; i < n && len(batch) < size; i++ {
			batch = append(batch, benchMsg{I: i})
		}
		if _, err := tx.SendBatch(ctx, batch...); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSendBytesBatchSmall sends 16-byte payloads with SendBytesBatch
// over ModeFast, 128 per call; one op is one payload.
func BenchmarkSendBytesBatchSmall(b *testing.B) {
	tx, rx := pair(b, &ipc.Options{Mode: ipc.ModeFast})
	ctx := context.Background()
	b.ReportAllocs()
	n := b.N
	done := drain(ctx, rx, n, func(m ipc.Message) error {
		if len(m.Data) != 16 {
			return fmt.Errorf("payload of %d bytes", len(m.Data))
		}
		return nil
	})
	payload := make([]byte, 16)
	batch := make([][]byte, 0, 128)
	b.ResetTimer()
	for i := 0; i < n; {
		batch = batch[:0]
		for ; i < n && len(batch) < cap(batch); i++ {
			batch = append(batch, payload)
		}
		if _, err := tx.SendBytesBatch(ctx, batch...); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSendConcurrent is BenchmarkSendSmall with 8 goroutines calling
// Send at once (fast mode): the case a group commit of concurrent Sends
// would speed up. One op is one message.
func BenchmarkSendConcurrent(b *testing.B) {
	const senders = 8
	tx, rx := pair(b, &ipc.Options{Mode: ipc.ModeFast})
	ctx := context.Background()
	b.ReportAllocs()
	n := b.N
	done := drain(ctx, rx, n, func(m ipc.Message) error {
		var v benchMsg
		return m.Decode(&v)
	})
	b.ResetTimer()
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for g := range senders {
		wg.Go(func() {
			for i := g; i < n; i += senders {
				if err := tx.Send(ctx, benchMsg{I: i}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
