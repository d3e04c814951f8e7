package supervise

import (
	"math/rand/v2"
	"time"
)

// Default backoff bounds, used for zero fields of Backoff.
const (
	DefaultBackoffInitial = 100 * time.Millisecond
	DefaultBackoffMax     = 10 * time.Second
)

// Backoff computes the delay before a restart from the number of
// consecutive failures. The first failure restarts at once (a worker killed
// by accident should be back in milliseconds); the second waits Initial,
// and every further one doubles the wait, up to Max. The zero value uses
// DefaultBackoffInitial and DefaultBackoffMax.
type Backoff struct {
	// Initial is the delay after the second consecutive failure. 0 means
	// DefaultBackoffInitial.
	Initial time.Duration
	// Max caps the delay. 0 means DefaultBackoffMax.
	Max time.Duration
}

// Delay returns the wait before restarting after the failures-th
// consecutive failure: 0 for failures <= 1, Initial for 2, 2*Initial for 3,
// and so on, never more than Max.
func (b Backoff) Delay(failures int) time.Duration {
	if failures <= 1 {
		return 0
	}
	initial, limit := b.Initial, b.Max
	if initial <= 0 {
		initial = DefaultBackoffInitial
	}
	if limit <= 0 {
		limit = DefaultBackoffMax
	}
	d := initial
	for i := 2; i < failures; i++ {
		d *= 2
		if d >= limit {
			return limit
		}
	}
	return min(d, limit)
}

// Jitter returns d changed by a uniformly random amount of at most
// frac*d either way (frac is clamped to [0, 1]). Recycling deadlines use it so
// that workers started together do not all restart together.
func Jitter(d time.Duration, frac float64) time.Duration {
	frac = min(max(frac, 0), 1)
	span := int64(float64(d) * frac)
	if d <= 0 || span <= 0 {
		return d
	}
	return d - time.Duration(span) + time.Duration(rand.Int64N(2*span+1))
}

// JitterInt is Jitter for counts, such as a maximum number of requests.
func JitterInt(n int64, frac float64) int64 {
	return int64(Jitter(time.Duration(n), frac))
}
