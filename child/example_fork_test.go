package child_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/ipc"
)

// A role is registered at init time (or at the top of main, before
// child.Dispatch), so that every copy of the program has it: the parent
// that calls ForkSelf and the child that runs it.
func init() {
	child.Register("example.upper", func(ctx context.Context, parent *ipc.Conn) error {
		for {
			m, err := parent.Recv(ctx)
			if err != nil {
				return nil // the parent closed the channel: done
			}
			var s string
			if err := m.Decode(&s); err != nil {
				return err
			}
			if err := parent.Send(ctx, strings.ToUpper(s)); err != nil {
				return err
			}
		}
	})
}

// Register makes a function runnable in a child process under a name; the
// registry is the same in every copy of the program.
func ExampleRegister() {
	fmt.Println(slices.Contains(child.Roles(), "example.upper"))
	// Output: true
}

// Dispatch is the first statement of main. In a process started by
// ForkSelf it runs the role and exits; anywhere else it returns at once.
// (For these examples TestMain calls it.)
func ExampleDispatch() {
	child.Dispatch()
	fmt.Println("not a forked child: main goes on")
	// Output: not a forked child: main goes on
}

// ForkSelf is Node's fork('./worker.js') for a Go program: the worker is a
// registered function, run in a new process of this same binary, with a
// message channel to it.
func ExampleForkSelf() {
	ctx := context.Background()
	p, err := child.ForkSelf(ctx, "example.upper", nil, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range []string{"hello", "herd"} {
		if err := p.Channel.Send(ctx, s); err != nil {
			fmt.Println(err)
			break
		}
		m, err := p.Channel.Recv(ctx)
		if err != nil {
			fmt.Println(err)
			break
		}
		var reply string
		m.Decode(&reply)
		fmt.Println(reply)
	}
	p.Channel.Close() // the worker's Recv ends, and so does the worker
	fmt.Println("wait:", p.Wait())
	// Output:
	// HELLO
	// HERD
	// wait: <nil>
}

// Fork runs a Node script (or any program that speaks Node's channel) with
// a message channel to it: process.on('message') and process.send work
// unchanged on the other side. Not run by go test, which may have no node
// in PATH; the interop tests run the same exchange against real Node.
func ExampleFork() {
	dir, err := os.MkdirTemp("", "fork-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	worker := filepath.Join(dir, "worker.js")
	os.WriteFile(worker, []byte(`process.on('message', (n) => {
  let r = 0;
  for (let i = 0; i < 1e8; i++) r += i * n;
  process.send(r);
  process.disconnect();
});
`), 0o644)

	ctx := context.Background()
	p, err := child.Fork(ctx, worker, nil, nil) // node worker.js
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Wait()
	defer p.Channel.Close()
	if err := p.Channel.Send(ctx, 42); err != nil {
		fmt.Println(err)
		return
	}
	m, err := p.Channel.Recv(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("Result is", string(m.Data))
}
