package workers

import (
	"context"
	"io"
	"testing"
)

// runWindow submits n tasks keeping window of them in flight and waits for
// all of them.
func runWindow[In, Out any](b *testing.B, p *Pool[In, Out], in In, n, window int) {
	ctx := context.Background()
	hs := make([]*Handle[Out], window)
	for i := range n {
		k := i % window
		if h := hs[k]; h != nil {
			if _, err := h.Wait(ctx); err != nil {
				b.Fatal(err)
			}
		}
		h, err := p.Submit(ctx, in)
		if err != nil {
			b.Fatal(err)
		}
		hs[k] = h
	}
	for _, h := range hs {
		if h != nil {
			if _, err := h.Wait(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkNoopGoroutines measures no-op task throughput on the goroutine
// backend with 1024 tasks in flight.
func BenchmarkNoopGoroutines(b *testing.B) {
	p, err := New(tNoop, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(context.Background())
	b.ResetTimer()
	runWindow(b, p, struct{}{}, b.N, 1024)
}

// BenchmarkNoopProcesses64 measures no-op task throughput on the process
// backend (2 workers) with 64 tasks in flight.
func BenchmarkNoopProcesses64(b *testing.B) {
	p, err := New(tNoop, &Options{Backend: Processes, Size: 2, InFlight: 32, Stderr: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(context.Background())
	runWindow(b, p, struct{}{}, 1000, 64) // warm up: workers ready
	b.ResetTimer()
	runWindow(b, p, struct{}{}, b.N, 64)
}

// BenchmarkRoundTripProcess measures one task's round trip to a worker
// process, one at a time.
func BenchmarkRoundTripProcess(b *testing.B) {
	p, err := New(tDouble, &Options{Backend: Processes, Size: 1, Stderr: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(context.Background())
	ctx := context.Background()
	p.Run(ctx, 1)
	b.ResetTimer()
	for i := range b.N {
		if _, err := p.Run(ctx, i); err != nil {
			b.Fatal(err)
		}
	}
}
