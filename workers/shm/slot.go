package shm

import (
	"context"
	"sync/atomic"
)

// Int32 is a 4-byte slot in a Buffer, used atomically: the shared-memory
// counterpart of an Int32Array element under Atomics. Get one with
// Buffer.Int32. All methods are safe for concurrent use from any process
// that maps the Buffer.
type Int32 struct {
	v *atomic.Int32
}

// Int32 returns the 32-bit slot at byte offset off, which must be a
// multiple of 4 inside the Buffer; otherwise it returns a *RangeError.
func (b *Buffer) Int32(off int) (Int32, error) {
	p, err := b.slot("Int32", off, 4)
	if err != nil {
		return Int32{}, err
	}
	return Int32{v: (*atomic.Int32)(p)}, nil
}

// Load atomically reads the slot.
func (s Int32) Load() int32 { return s.v.Load() }

// Store atomically writes v.
func (s Int32) Store(v int32) { s.v.Store(v) }

// Add atomically adds delta and returns the new value.
func (s Int32) Add(delta int32) int32 { return s.v.Add(delta) }

// Swap atomically writes v and returns the previous value.
func (s Int32) Swap(v int32) int32 { return s.v.Swap(v) }

// CompareAndSwap atomically writes new if the slot holds old, and reports
// whether it did.
func (s Int32) CompareAndSwap(old, new int32) bool { return s.v.CompareAndSwap(old, new) }

// Wait is Atomics.wait: if the slot does not hold old it returns
// (false, nil) at once ("not-equal"). Otherwise it sleeps until Notify wakes
// it, or it sees the slot change, and returns (true, nil) ("ok"); or until ctx
// is done, and returns (false, ctx.Err()) ("timed-out" when ctx has a
// deadline). A waiter first spins for about a microsecond, then sleeps in the
// kernel with FUTEX_WAIT, which works across processes. Like a futex it may
// wake spuriously and return (true, nil) with the value unchanged, so
// callers loop, rechecking their condition.
func (s Int32) Wait(ctx context.Context, old int32) (bool, error) {
	if s.v.Load() != old {
		return false, nil
	}
	for range spinLoads {
		if s.v.Load() != old {
			return true, nil
		}
	}
	return futexWait(ctx, s.v, old)
}

// Notify is Atomics.notify: it wakes up to count waiters sleeping on the
// slot, in any process, and returns how many it woke. count < 0 wakes all.
// Waiters still spinning notice the new value by themselves and are not
// counted.
func (s Int32) Notify(count int) int { return futexWake(s.v, count) }

// Int64 is an 8-byte slot in a Buffer, used atomically. It has no Wait:
// the kernel's futex works on 32-bit words only.
type Int64 struct {
	v *atomic.Int64
}

// Int64 returns the 64-bit slot at byte offset off, which must be a
// multiple of 8 inside the Buffer; otherwise it returns a *RangeError.
func (b *Buffer) Int64(off int) (Int64, error) {
	p, err := b.slot("Int64", off, 8)
	if err != nil {
		return Int64{}, err
	}
	return Int64{v: (*atomic.Int64)(p)}, nil
}

// Load atomically reads the slot.
func (s Int64) Load() int64 { return s.v.Load() }

// Store atomically writes v.
func (s Int64) Store(v int64) { s.v.Store(v) }

// Add atomically adds delta and returns the new value.
func (s Int64) Add(delta int64) int64 { return s.v.Add(delta) }

// Swap atomically writes v and returns the previous value.
func (s Int64) Swap(v int64) int64 { return s.v.Swap(v) }

// CompareAndSwap atomically writes new if the slot holds old, and reports
// whether it did.
func (s Int64) CompareAndSwap(old, new int64) bool { return s.v.CompareAndSwap(old, new) }
