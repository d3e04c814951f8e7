package ipc_test

import (
	"context"
	"fmt"
	"time"

	"github.com/herdrun/herd/ipc"
)

// ExampleConn_Send_fastMode sends over a ModeFast channel, herd's binary
// framing for two herd processes: JSON values arrive as KindJSON messages,
// and byte payloads from SendBytes travel raw, with no JSON or base64, and
// arrive as KindBytes messages.
func ExampleConn_Send_fastMode() {
	opts := &ipc.Options{Mode: ipc.ModeFast}
	a, f, err := ipc.Pair(opts)
	if err != nil {
		panic(err)
	}
	b, err := ipc.New(f, opts) // both ends must speak the same mode
	f.Close()
	if err != nil {
		panic(err)
	}
	defer a.Close()
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if err := a.Send(ctx, map[string]int{"width": 640}); err != nil {
		panic(err)
	}
	if err := a.SendBytes(ctx, []byte{0x89, 'P', 'N', 'G'}); err != nil {
		panic(err)
	}
	for range 2 {
		m, err := b.Recv(ctx)
		if err != nil {
			panic(err)
		}
		switch m.Kind {
		case ipc.KindJSON:
			var v map[string]int
			if err := m.Decode(&v); err != nil {
				panic(err)
			}
			fmt.Println("json", v["width"])
		case ipc.KindBytes:
			fmt.Printf("bytes % x\n", m.Data)
		}
	}
	// Output:
	// json 640
	// bytes 89 50 4e 47
}
