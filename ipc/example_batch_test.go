package ipc_test

import (
	"context"
	"fmt"

	"github.com/herdrun/herd/ipc"
)

// SendBatch sends many small messages with about one system call; the peer
// receives them one by one, in order.
func ExampleConn_SendBatch() {
	a, f, err := ipc.Pair(nil) // a child would get f as fd 3
	if err != nil {
		panic(err)
	}
	b, err := ipc.New(f, nil)
	f.Close()
	if err != nil {
		panic(err)
	}
	defer a.Close()
	defer b.Close()
	ctx := context.Background()

	type update struct {
		I int `json:"i"`
	}
	batch := make([]any, 0, 3)
	for i := range 3 {
		batch = append(batch, update{I: i})
	}
	n, err := a.SendBatch(ctx, batch...)
	fmt.Println("sent", n, err)
	for range n {
		m, err := b.Recv(ctx)
		if err != nil {
			panic(err)
		}
		fmt.Println(string(m.Data))
	}
	// Output:
	// sent 3 <nil>
	// {"i":0}
	// {"i":1}
	// {"i":2}
}
