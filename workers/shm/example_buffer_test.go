package shm_test

import (
	"errors"
	"fmt"

	"github.com/herdrun/herd/workers/shm"
)

// New makes shared memory that other processes can map; Bytes is all of
// it, and every process that maps it sees the same bytes.
func ExampleNew() {
	buf, err := shm.New(4096)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer buf.Close()
	copy(buf.Bytes(), "hello")
	fmt.Println(buf.Len(), buf.Shareable(), string(buf.Bytes()[:5]))
	// Output: 4096 true hello
}

// NewLocal makes the same type in ordinary memory, for goroutines only: it
// cannot be passed to another process.
func ExampleNewLocal() {
	buf, err := shm.NewLocal(64)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer buf.Close()
	_, err = buf.File()
	fmt.Println(buf.Shareable(), errors.Is(err, shm.ErrNotShareable))
	// Output: false true
}

// Slots are taken once, with their offset checked, and then used with no
// further checks: Int32Array and BigInt64Array elements under Atomics.
func ExampleBuffer_Int32() {
	buf, _ := shm.NewLocal(16)
	defer buf.Close()
	n, err := buf.Int32(0)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(n.Add(5), n.CompareAndSwap(5, 7), n.Swap(9), n.Load())

	big, _ := buf.Int64(8)
	big.Store(1 << 40)
	fmt.Println(big.Add(1))

	_, err = buf.Int32(2) // not a multiple of 4
	fmt.Println(errors.Is(err, shm.ErrUnaligned))
	// Output:
	// 5 true 7 9
	// 1099511627777
	// true
}
