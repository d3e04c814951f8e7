package main

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/herdrun/herd/workers"
)

// sink keeps results the compiler must not drop.
var sink atomic.Int64

// spin burns about d of CPU, checking the clock as the Node side does.
func spin(d time.Duration) int {
	end := time.Now().Add(d)
	x := 0
	for time.Now().Before(end) {
		x++
	}
	return x
}

// heavy is the tutorial's heavyCalculation with a configurable count.
func heavy(n int) float64 {
	sum := 0.0
	for i := 0; i < n; i++ {
		sum += float64(i * 42)
	}
	return sum
}

var (
	taskNoop = workers.Register("workersbench.noop", func(ctx context.Context, _ struct{}) (struct{}, error) {
		return struct{}{}, nil
	})
	taskSpin = workers.Register("workersbench.spin", func(ctx context.Context, us int) (int, error) {
		return spin(time.Duration(us) * time.Microsecond), nil
	})
	taskHeavy = workers.Register("workersbench.heavy", func(ctx context.Context, n int) (float64, error) {
		return heavy(n), nil
	})

	// workerIdle is the smallest Worker: it waits to be terminated.
	workerIdle = workers.RegisterThread("workersbench.idle", func(ctx context.Context, port *workers.Port) error {
		<-ctx.Done()
		return nil
	})

	// workerPong answers the parent's pings on shared slots 0 and 4.
	workerPong = workers.RegisterThread("workersbench.pong", func(ctx context.Context, port *workers.Port) error {
		var n int
		port.Data(&n)
		buf := port.Shared()[0]
		ping, _ := buf.Int32(0)
		pong, _ := buf.Int32(4)
		for i := int32(1); i <= int32(n); i++ {
			for ping.Load() < i {
				if _, err := ping.Wait(ctx, i-1); err != nil {
					return err
				}
			}
			pong.Store(i)
			pong.Notify(1)
		}
		return nil
	})
)
