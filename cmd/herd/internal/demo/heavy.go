package demo

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/ipc"
)

// HeavyRole is the name the worker is registered under (see Register).
const HeavyRole = "demo.heavy"

// DefaultN is the tutorial's argument to heavyCalculation.
const DefaultN = 42

// DefaultLimit is the tutorial's loop bound, 1e8 iterations.
const DefaultLimit = 100_000_000

// checkEvery is how many iterations HeavyCalculation runs between looks at
// its context: a power of two, a few milliseconds of work.
const checkEvery = 1 << 22

// Task is the message the server sends a worker: compute
// HeavyCalculation(N, Limit).
type Task struct {
	N     float64 `json:"n"`
	Limit int64   `json:"limit"`
}

// Reply is the message a worker sends back with the result.
type Reply struct {
	Result float64 `json:"result"`
}

// HeavyCalculation returns the sum of i*n for the integers 0 <= i < limit,
// accumulated in float64 exactly as the JavaScript loop
// `for (let i = 0; i < limit; i++) r += i * n` does, so the result is
// bit-for-bit Node's. It looks at ctx every few million iterations and
// returns ctx's error, with the partial sum, once ctx is done.
func HeavyCalculation(ctx context.Context, n float64, limit int64) (float64, error) {
	var r float64
	for i := int64(0); i < limit; i++ {
		if i&(checkEvery-1) == 0 && ctx.Err() != nil {
			return r, ctx.Err()
		}
		// The explicit conversion rounds the product on its own, as
		// JavaScript does, and forbids fusing it with the addition (FMA).
		r += float64(float64(i) * n)
	}
	return r, nil
}

var registerOnce sync.Once

// Register registers the worker under HeavyRole with child.Register. Call it
// first thing in main, before child.Dispatch; calling it again does nothing.
func Register() {
	registerOnce.Do(func() { child.Register(HeavyRole, heavyWorker) })
}

// heavyWorker is the body of a worker process: it receives one Task,
// computes it and sends the Reply. If it is asked to stop (SIGTERM, or the
// parent hung up) it exits quietly: stopping it is not its error.
func heavyWorker(ctx context.Context, parent *ipc.Conn) error {
	m, err := parent.Recv(ctx)
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, ipc.ErrDisconnected) {
			return nil
		}
		return fmt.Errorf("receive task: %w", err)
	}
	var t Task
	if err := m.Decode(&t); err != nil {
		return fmt.Errorf("decode task %q: %w", m.Data, err)
	}
	r, err := HeavyCalculation(ctx, t.N, t.Limit)
	if err != nil {
		return nil
	}
	if err := parent.Send(ctx, Reply{Result: r}); err != nil && ctx.Err() == nil {
		return fmt.Errorf("send result: %w", err)
	}
	return nil
}
