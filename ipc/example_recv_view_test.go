package ipc_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/herdrun/herd/ipc"
)

// ExampleConn_RecvView sums a stream of readings. Each message is decoded
// before the next RecvView call, so the receive buffer can be lent: the
// loop allocates nothing per message for the bytes it receives.
func ExampleConn_RecvView() {
	a, f, err := ipc.Pair(&ipc.Options{Mode: ipc.ModeFast})
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

	type reading struct {
		Value int `json:"value"`
	}
	go func() {
		defer a.Close()
		for i := 1; i <= 100; i++ {
			if err := a.Send(ctx, reading{Value: i}); err != nil {
				return
			}
		}
	}()

	sum := 0
	for {
		m, err := b.RecvView(ctx)
		if errors.Is(err, ipc.ErrDisconnected) {
			break
		}
		if err != nil {
			panic(err)
		}
		var r reading
		if err := m.Decode(&r); err != nil { // m.Data is valid until the next RecvView
			panic(err)
		}
		sum += r.Value
	}
	fmt.Println("sum:", sum)
	// Output:
	// sum: 5050
}
