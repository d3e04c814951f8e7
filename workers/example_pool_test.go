package workers_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/herdrun/herd/workers"
)

// Tasks are registered at package level, so that worker processes (copies
// of this program) have them too.
var square = workers.Register("example.square", func(ctx context.Context, n int) (int, error) {
	return n * n, nil
})

var loop = workers.Register("example.loop", func(ctx context.Context, _ struct{}) (int, error) {
	//lint:ignore SA5002 a runaway task that ignores its context, on purpose
	for {
	}
})

// A goroutine pool: the default backend.
func Example() {
	pool, err := workers.New(square, nil)
	if err != nil {
		panic(err)
	}
	defer pool.Close(context.Background())
	n, err := pool.Run(context.Background(), 12)
	fmt.Println(n, err)
	// Output: 144 <nil>
}

// The process backend can stop what a goroutine cannot: a runaway task is
// killed at its timeout, and the pool carries on with a new worker. (main
// must call child.Dispatch first; here TestMain does.)
func Example_processes() {
	pool, err := workers.New(square, &workers.Options{
		Backend: workers.Processes, Size: 1, Timeout: 200 * time.Millisecond,
	})
	if err != nil {
		panic(err)
	}
	defer pool.Close(context.Background())
	_, err = workers.On(pool, loop).Run(context.Background(), struct{}{})
	fmt.Println(errors.Is(err, workers.ErrTimeout))
	n, err := pool.Run(context.Background(), 9)
	fmt.Println(n, err)
	// Output:
	// true
	// 81 <nil>
}

// Submit returns at once with a handle; TrySubmit fails fast on a full
// queue.
func ExamplePool_Submit() {
	pool, _ := workers.New(square, &workers.Options{Size: 2, MaxQueue: 100})
	defer pool.Close(context.Background())
	var hs []*workers.Handle[int]
	for i := range 5 {
		h, _ := pool.Submit(context.Background(), i)
		hs = append(hs, h)
	}
	for _, h := range hs {
		n, _ := h.Wait(context.Background())
		fmt.Print(n, " ")
	}
	fmt.Println()
	// Output: 0 1 4 9 16
}
