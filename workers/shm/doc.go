// Package shm is SharedArrayBuffer plus Atomics for Go processes: a block
// of memory that a parent and its worker processes map at the same time,
// with atomic operations and futex-based wait/notify on 32-bit slots.
//
//	 parent                       worker process
//	┌────────────┐  memfd (fd)  ┌────────────┐
//	│ *shm.Buffer│ ───────────▶ │ *shm.Buffer│   same physical pages,
//	│   mmap     │  SendHandle  │   mmap     │   MAP_SHARED
//	└────────────┘              └────────────┘
//	  Int32(off).Add(1)   ⇄   Int32(off).Wait(ctx, 0) / Notify(1)
//
// New creates a Buffer backed by an anonymous memfd, which File exposes so
// it can be passed to another process (for example with ipc.Conn.SendHandle,
// or through workers' Options.Shared); Open maps such a file on the other
// side. NewLocal makes the same type over ordinary Go memory for sharing
// between goroutines only.
//
// Memory is addressed by byte offset. Slots are taken once, with bounds and
// alignment checked (a *RangeError otherwise), and then used without further
// checks: Int32 gives a 4-byte aligned slot, Int64 an 8-byte aligned one.
// Int32 slots support Wait and Notify, which are Atomics.wait and
// Atomics.notify: Wait sleeps in the kernel (FUTEX_WAIT on the shared
// mapping, so it works across processes) while the slot holds an expected
// value, and Notify wakes sleepers. 64-bit slots have atomics but no wait,
// because the kernel's futex is 32-bit.
//
// A Buffer must not be used after Close: its slots point into memory that
// Close unmaps.
package shm
