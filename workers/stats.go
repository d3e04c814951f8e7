package workers

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Stats is a snapshot of a pool's counters, from Pool.Stats.
type Stats struct {
	Workers   int    // worker goroutines or processes alive (starting ones included)
	Queued    int    // tasks waiting for a worker
	Running   int    // tasks handed to a worker and not yet finished
	Completed uint64 // tasks that returned a result
	Failed    uint64 // tasks that ended with an error, cancellation and timeout included
	Restarts  uint64 // worker processes that died or were recycled and replaced

	// WaitTime is the time tasks spent queued; RunTime the time from being
	// handed to a worker to an outcome.
	WaitTime, RunTime Histogram

	// Utilization is the fraction of the pool's capacity (MaxWorkers times
	// InFlight task slots, since the pool started) that tasks used, 0 to 1.
	Utilization float64
}

// Histogram summarizes durations. Quantiles are accurate to about 6%.
type Histogram struct {
	Count uint64
	Mean  time.Duration
	P50   time.Duration
	P99   time.Duration
	Max   time.Duration
}

// hist is a lock-free log-linear histogram of nanoseconds: 8 sub-buckets
// per power of two.
type hist struct {
	counts [64 * 8]atomic.Uint64
	sum    atomic.Uint64
	n      atomic.Uint64
	max    atomic.Int64
}

func bucketOf(v uint64) int {
	if v < 8 {
		return int(v)
	}
	e := bits.Len64(v) - 1 // v in [2^e, 2^(e+1))
	sub := (v >> (e - 3)) & 7
	return e*8 + int(sub)
}

// bucketMid returns a representative value of bucket i.
func bucketMid(i int) uint64 {
	if i < 24 { // 8..23 are never used: values under 8 have their own buckets
		return uint64(i)
	}
	e, sub := i/8, uint64(i%8)
	lo := (uint64(1) << e) + sub<<(e-3)
	return lo + (uint64(1)<<(e-3))/2
}

func (h *hist) add(d int64) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))].Add(1)
	h.sum.Add(uint64(d))
	h.n.Add(1)
	for {
		m := h.max.Load()
		if d <= m || h.max.CompareAndSwap(m, d) {
			break
		}
	}
}

func (h *hist) snapshot() Histogram {
	var c [64 * 8]uint64
	var total uint64
	for i := range h.counts {
		c[i] = h.counts[i].Load()
		total += c[i]
	}
	out := Histogram{Count: total, Max: time.Duration(h.max.Load())}
	if total == 0 {
		return out
	}
	out.Mean = time.Duration(h.sum.Load() / max(1, h.n.Load()))
	q := func(p float64) time.Duration {
		rank := uint64(p*float64(total) + 0.5)
		rank = max(1, rank)
		var acc uint64
		for i, n := range c {
			acc += n
			if acc >= rank {
				return min(time.Duration(bucketMid(i)), out.Max)
			}
		}
		return out.Max
	}
	out.P50, out.P99 = q(0.50), q(0.99)
	return out
}
