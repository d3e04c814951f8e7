package workers_test

import (
	"context"
	"fmt"

	"github.com/herdrun/herd/workers"
	"github.com/herdrun/herd/workers/shm"
)

// count adds n to the int32 at offset 0 of the pool's first shared buffer,
// one atomic add at a time.
var count = workers.Register("example.count", func(ctx context.Context, n int) (struct{}, error) {
	slot, err := workers.SharedBuffers(ctx)[0].Int32(0)
	if err != nil {
		return struct{}{}, err
	}
	for range n {
		slot.Add(1)
	}
	return struct{}{}, nil
})

// A SharedBuffer is SharedArrayBuffer: memory that the pool's worker
// processes map too, so their atomic adds land in one counter that the
// parent reads directly.
func Example_sharedBuffer() {
	buf, err := shm.New(64) // a SharedBuffer
	if err != nil {
		panic(err)
	}
	defer buf.Close()
	pool, err := workers.New(count, &workers.Options{
		Backend: workers.Processes, Size: 2, Shared: []*workers.SharedBuffer{buf},
	})
	if err != nil {
		panic(err)
	}
	defer pool.Close(context.Background())
	var hs []*workers.Handle[struct{}]
	for range 4 {
		h, err := pool.Submit(context.Background(), 10_000)
		if err != nil {
			panic(err)
		}
		hs = append(hs, h)
	}
	for _, h := range hs {
		if _, err := h.Wait(context.Background()); err != nil {
			panic(err)
		}
	}
	slot, _ := buf.Int32(0)
	fmt.Println(slot.Load())
	// Output: 40000
}
