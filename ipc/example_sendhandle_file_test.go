package ipc_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/herdrun/herd/ipc"
)

// ExampleConn_SendHandle_file passes an open file. The receiver gets an
// *os.File on the same open file description, so it shares the offset.
// Between two herd processes any descriptor can travel; a Node peer
// accepts only sockets, and SendHandle refuses a file to one with
// ErrHandleType, so this example uses ModeFast.
func ExampleConn_SendHandle_file() {
	opts := &ipc.Options{Mode: ipc.ModeFast}
	a, f, err := ipc.Pair(opts)
	if err != nil {
		panic(err)
	}
	b, err := ipc.New(f, opts)
	f.Close()
	if err != nil {
		panic(err)
	}
	defer a.Close()
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	dir, err := os.MkdirTemp("", "ipc-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	log, err := os.Create(dir + "/job.log")
	if err != nil {
		panic(err)
	}
	log.WriteString("line 1\n")
	if err := a.SendHandle(ctx, map[string]string{"name": "job.log"}, log); err != nil {
		panic(err)
	}
	log.Close()

	m, err := b.Recv(ctx)
	if err != nil {
		panic(err)
	}
	rf := m.Handle.(*os.File)
	defer rf.Close()
	rf.WriteString("line 2\n") // at the shared offset, after line 1
	rf.Seek(0, io.SeekStart)
	all, _ := io.ReadAll(rf)
	fmt.Printf("%s %T\n%s", m.Data, m.Handle, all)
	// Output:
	// {"name":"job.log"} *os.File
	// line 1
	// line 2
}
