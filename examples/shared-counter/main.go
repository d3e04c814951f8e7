// Command shared-counter is SharedArrayBuffer and Atomics across processes:
// four worker processes each add 1 to a counter in shared memory 100,000
// times, with atomic adds, so the total is exact; each then bumps a
// "finished" slot and notifies it, and main sleeps on that slot (a futex
// wait, like Atomics.wait) until all four are done.
//
//	go run ./examples/shared-counter           # counter = 400000 (expected 400000)
//
// Slot layout in the 8-byte buffer: [0,4) counter, [4,8) finished workers.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/workers"
	"github.com/herdrun/herd/workers/shm"
)

const (
	numWorkers = 4
	perWorker  = 100_000
	offCounter = 0
	offDone    = 4
)

// adder is the worker: it adds perWorker to the shared counter, one at a
// time, then announces it has finished.
var adder = workers.RegisterThread("shared-counter.adder", func(ctx context.Context, port *workers.Port) error {
	var n int
	if err := port.Data(&n); err != nil {
		return err
	}
	buf := port.Shared()[0]
	counter, err := buf.Int32(offCounter)
	if err != nil {
		return err
	}
	done, err := buf.Int32(offDone)
	if err != nil {
		return err
	}
	for range n {
		counter.Add(1)
	}
	done.Add(1)
	done.Notify(-1)
	return nil
})

// count runs the workers and returns the final counter.
func count(ctx context.Context, nw, per int) (int32, error) {
	buf, err := shm.New(8)
	if err != nil {
		return 0, err
	}
	defer buf.Close()
	opts := &workers.ThreadOptions{Backend: workers.Processes, Shared: []*shm.Buffer{buf}}
	var ws []*workers.Thread
	defer func() {
		for _, w := range ws {
			w.Terminate()
		}
	}()
	for range nw {
		w, err := workers.Start(ctx, adder, per, opts)
		if err != nil {
			return 0, err
		}
		ws = append(ws, w)
	}
	done, _ := buf.Int32(offDone)
	for {
		d := done.Load()
		if int(d) == nw {
			break
		}
		if _, err := done.Wait(ctx, d); err != nil {
			return 0, err
		}
	}
	for _, w := range ws {
		<-w.Done()
		if err := w.Err(); err != nil {
			return 0, err
		}
	}
	counter, _ := buf.Int32(offCounter)
	return counter.Load(), nil
}

func main() {
	child.Dispatch() // in a worker process: run the adder and exit

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	total, err := count(ctx, numWorkers, perWorker)
	if err != nil {
		fmt.Fprintln(os.Stderr, "shared-counter:", err)
		os.Exit(1)
	}
	fmt.Printf("counter = %d (expected %d)\n", total, numWorkers*perWorker)
	if int(total) != numWorkers*perWorker {
		os.Exit(1)
	}
}
