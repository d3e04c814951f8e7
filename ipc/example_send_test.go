package ipc_test

import (
	"context"
	"fmt"
	"time"

	"github.com/herdrun/herd/ipc"
)

// ExampleConn_Send sends values over a ModeNode channel, the framing a Node
// peer speaks: each message is one line of JSON, as process.send writes
// it, so a Node child receives the same values in process.on('message').
// Recv returns the JSON text, which Decode unmarshals.
func ExampleConn_Send() {
	a, f, err := ipc.Pair(&ipc.Options{Mode: ipc.ModeNode})
	if err != nil {
		panic(err)
	}
	b, err := ipc.New(f, &ipc.Options{Mode: ipc.ModeNode})
	f.Close()
	if err != nil {
		panic(err)
	}
	defer a.Close()
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	type job struct {
		ID   int      `json:"id"`
		Args []string `json:"args"`
	}
	if err := a.Send(ctx, job{ID: 7, Args: []string{"resize", "a.png"}}); err != nil {
		panic(err)
	}
	// A byte payload goes the way Node sends a Buffer.
	if err := a.SendBytes(ctx, []byte("hi")); err != nil {
		panic(err)
	}

	m, err := b.Recv(ctx)
	if err != nil {
		panic(err)
	}
	var j job
	if err := m.Decode(&j); err != nil {
		panic(err)
	}
	fmt.Printf("%s -> %+v\n", m.Data, j)

	m, err = b.Recv(ctx)
	if err != nil {
		panic(err)
	}
	p, err := m.Bytes()
	fmt.Printf("%s -> %q %v\n", m.Data, p, err)
	// Output:
	// {"id":7,"args":["resize","a.png"]} -> {ID:7 Args:[resize a.png]}
	// {"type":"Buffer","data":[104,105]} -> "hi" <nil>
}
