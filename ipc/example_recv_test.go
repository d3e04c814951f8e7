package ipc_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/herdrun/herd/ipc"
)

// ExampleConn_Recv reads until the peer goes away. Messages the peer sent
// before it closed its end are all returned first; then Recv returns
// ErrDisconnected, Done is closed and Err says why.
func ExampleConn_Recv() {
	a, f, err := ipc.Pair(nil)
	if err != nil {
		panic(err)
	}
	b, err := ipc.New(f, nil)
	f.Close()
	if err != nil {
		panic(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for i := range 3 {
		if err := a.Send(ctx, i); err != nil {
			panic(err)
		}
	}
	a.Close() // as if the peer process had exited

	for {
		m, err := b.Recv(ctx)
		if errors.Is(err, ipc.ErrDisconnected) {
			<-b.Done()
			fmt.Println("peer gone:", b.Err())
			return
		}
		if err != nil {
			panic(err)
		}
		fmt.Println("got", string(m.Data))
	}
	// Output:
	// got 0
	// got 1
	// got 2
	// peer gone: ipc: peer disconnected
}
