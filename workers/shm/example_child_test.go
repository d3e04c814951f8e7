package shm_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/ipc"
	"github.com/herdrun/herd/workers/shm"
)

// The child side: map the buffer that came with the message, add n to the
// counter at 0, then set the flag at 4 and wake the parent.
func init() {
	child.Register("example.shm.adder", func(ctx context.Context, parent *ipc.Conn) error {
		m, err := parent.Recv(ctx)
		if err != nil {
			return err
		}
		f := m.Handle.(*os.File)
		buf, err := shm.Open(f)
		f.Close() // Open keeps its own descriptor
		if err != nil {
			return err
		}
		defer buf.Close()
		var n int
		if err := m.Decode(&n); err != nil {
			return err
		}
		counter, _ := buf.Int32(0)
		done, _ := buf.Int32(4)
		for range n {
			counter.Add(1)
		}
		done.Store(1)
		done.Notify(-1)
		return nil
	})
}

// A Buffer from New is passed to another process as a file: send File with
// the message (ipc.Conn.SendHandle) and Open it on the other side. Both map
// the same memory; the parent sleeps in Wait until the child says it is
// done. (Package workers does the passing for you: Options.Shared.)
func ExampleBuffer_File() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	buf, err := shm.New(8)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer buf.Close()

	p, err := child.ForkSelf(ctx, "example.shm.adder", nil, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Wait()
	defer p.Channel.Close()
	f, err := buf.File() // owned by buf: do not close it
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := p.Channel.SendHandle(ctx, 100_000, f); err != nil {
		fmt.Println(err)
		return
	}

	done, _ := buf.Int32(4)
	for done.Load() == 0 {
		if _, err := done.Wait(ctx, 0); err != nil {
			fmt.Println(err)
			return
		}
	}
	counter, _ := buf.Int32(0)
	fmt.Println("the child counted to", counter.Load())
	// Output: the child counted to 100000
}
