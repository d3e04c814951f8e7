package shm_test

import (
	"context"
	"fmt"
	"time"

	"github.com/herdrun/herd/workers/shm"
)

// Wait and Notify are Atomics.wait and Atomics.notify: a waiter sleeps
// while the slot holds the value it expects, and whoever changes the value
// wakes it. Wait may wake spuriously, so the waiter loops on its condition.
func ExampleInt32_Wait() {
	buf, _ := shm.NewLocal(4)
	defer buf.Close()
	ready, _ := buf.Int32(0)

	go func() {
		ready.Store(1)
		ready.Notify(-1) // wake every waiter
	}()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for ready.Load() == 0 {
		if _, err := ready.Wait(ctx, 0); err != nil {
			fmt.Println(err)
			return
		}
	}
	fmt.Println("ready:", ready.Load())

	// A slot that does not hold the expected value returns at once:
	// Atomics.wait's "not-equal".
	slept, err := ready.Wait(ctx, 0)
	fmt.Println(slept, err)
	// Output:
	// ready: 1
	// false <nil>
}
