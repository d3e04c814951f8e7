// Command node-parent turns fork around: a Node.js parent forks this Go
// program and the two talk over Node's own IPC channel, with process.send
// and child.on('message') on the Node side and an *ipc.Conn on the Go side.
//
//	go run ./examples/node-parent
//
// main starts `node parent.js` (parent.js is embedded in the binary and
// written to a temporary directory). parent.js forks this same program:
//
//	fork(goProgram, [], {execPath: goProgram, execArgv: [], env: {...process.env, HERD_ROLE: 'greeter'}})
//
// In that child, child.Dispatch at the top of main sees HERD_ROLE and runs
// the "greeter" function instead of main's body. Its channel comes from
// ipc.FromEnv, which reads NODE_CHANNEL_FD as a Node child would. The
// greeter says it is ready, answers every name with a greeting, and returns
// when the parent disconnects:
//
//	go: running node parent.js
//	node: forking the Go program
//	go child: started (pid 4242), channel mode node
//	node: got {"ready":true}
//	node: sending {"name":"Ada"}
//	go child: got {"name":"Ada"}
//	node: got {"greeting":"Hello, Ada!"}
//	...
//	node: done, disconnecting
//	go child: parent disconnected, exiting
//	node: Go child exited with code 0
//	go: node exited cleanly
package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/ipc"
)

//go:embed parent.js
var parentJS []byte

// role is the name parent.js puts in HERD_ROLE.
const role = "greeter"

func main() {
	child.Register(role, greet)
	child.Dispatch() // in the copy Node forked: run greet and exit

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "node-parent:", err)
		os.Exit(1)
	}
}

// run runs `node parent.js <this program>` and waits for it. Node's output,
// and that of the Go child it forks, goes to stdout.
func run(ctx context.Context, stdout io.Writer) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "herd-node-parent-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "parent.js")
	if err := os.WriteFile(script, parentJS, 0o644); err != nil {
		return err
	}

	fmt.Fprintln(stdout, "go: running node parent.js")
	p, err := child.Spawn(ctx, "node", []string{script, self}, &child.Options{
		Stdin:  os.Stdin,
		Stdout: stdout,
		Stderr: os.Stderr,
	})
	if err != nil {
		return err
	}
	if err := p.Wait(); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "go: node exited cleanly")
	return nil
}

// greet is the Go child. parent is Node's channel: what Node sends with
// child.send arrives from Recv, and what Send sends arrives in Node's
// child.on('message').
func greet(ctx context.Context, parent *ipc.Conn) error {
	fmt.Printf("go child: started (pid %d), channel mode %s\n", os.Getpid(), parent.Mode())
	if err := parent.Send(ctx, map[string]bool{"ready": true}); err != nil {
		return err
	}
	for {
		m, err := parent.Recv(ctx)
		if errors.Is(err, ipc.ErrDisconnected) || ctx.Err() != nil {
			fmt.Println("go child: parent disconnected, exiting")
			return nil
		}
		if err != nil {
			return err
		}
		fmt.Printf("go child: got %s\n", m.Data)
		var req struct {
			Name string `json:"name"`
		}
		if err := m.Decode(&req); err != nil {
			return err
		}
		if err := parent.Send(ctx, map[string]string{"greeting": "Hello, " + req.Name + "!"}); err != nil {
			return err
		}
	}
}
