package workers_test

import (
	"context"
	"fmt"

	"github.com/herdrun/herd/workers"
)

var greeter = workers.RegisterThread("example.greeter", func(ctx context.Context, port *workers.Port) error {
	var name string
	port.Data(&name)
	for {
		m, err := port.Recv(ctx)
		if err != nil {
			return nil // the parent went away
		}
		var greeting string
		m.Decode(&greeting)
		if err := port.Send(ctx, greeting+", "+name); err != nil {
			return err
		}
	}
})

// A long-lived worker with workerData, exchanging messages both ways.
func ExampleStart() {
	ctx := context.Background()
	w, err := workers.Start(ctx, greeter, "Ada", &workers.ThreadOptions{Backend: workers.Processes})
	if err != nil {
		panic(err)
	}
	w.Send(ctx, "hello")
	m, _ := w.Recv(ctx)
	var reply string
	m.Decode(&reply)
	fmt.Println(reply)
	w.Terminate()
	fmt.Println(w.Err())
	// Output:
	// hello, Ada
	// workers: worker was terminated
}
