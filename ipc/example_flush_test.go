package ipc_test

import (
	"context"
	"fmt"
	"time"

	"github.com/herdrun/herd/ipc"
)

// ExampleConn_Flush sends many small messages through a send queue: each
// Send returns once its message is queued, a writer goroutine writes what
// has queued with one system call, and Flush waits until all of it is in
// the kernel, as a process must before it exits.
func ExampleConn_Flush() {
	a, f, err := ipc.Pair(&ipc.Options{Mode: ipc.ModeFast, SendQueue: 64 << 10})
	if err != nil {
		panic(err)
	}
	b, err := ipc.New(f, &ipc.Options{Mode: ipc.ModeFast})
	f.Close()
	if err != nil {
		panic(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for i := range 1000 {
		if err := a.Send(ctx, i); err != nil {
			panic(err)
		}
	}
	if err := a.Flush(ctx); err != nil {
		panic(err)
	}
	a.Close() // nothing queued is lost: Flush returned

	n := 0
	for {
		if _, err := b.RecvView(ctx); err != nil {
			break
		}
		n++
	}
	fmt.Println("received:", n)
	// Output:
	// received: 1000
}
