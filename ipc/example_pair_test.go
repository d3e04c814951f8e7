package ipc_test

import (
	"context"
	"fmt"

	"github.com/herdrun/herd/ipc"
)

// ExamplePair makes a channel and opens both of its ends in this process.
// A parent would instead keep the Conn and give the file to a child, for
// example as exec.Cmd.ExtraFiles[0] with ipc.ChildEnv(os.Environ(), 3,
// mode) as its environment, and close the file once the child has
// started; the child then opens its end with FromEnv.
func ExamplePair() {
	parent, f, err := ipc.Pair(nil) // the zero Options: ModeNode, default limits
	if err != nil {
		panic(err)
	}
	defer parent.Close()

	// What the child would do with the descriptor it inherited.
	child, err := ipc.New(f, nil)
	f.Close() // New made its own duplicate
	if err != nil {
		panic(err)
	}
	defer child.Close()

	ctx := context.Background()
	if err := parent.Send(ctx, "hello, child"); err != nil {
		panic(err)
	}
	m, err := child.Recv(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println(parent.Mode(), string(m.Data))
	// Output:
	// node "hello, child"
}
