package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/ipc"
)

// The ForkSelf roles of this binary: the Go counterparts of the Node child
// scripts ipc-hello-child.js, ipc-echo-child.js and ipc-sink-child.js.
const (
	roleHello = "ipcbench-hello" // send one message, stay until disconnected
	roleEcho  = "ipcbench-echo"  // decode every {i: n} and send it back
	roleSink  = "ipcbench-sink"  // count messages, answer "done" after each batch
)

// small is the small message of the round-trip and throughput measurements,
// {"i": n}, as the Node scripts send it.
type small struct {
	I int `json:"i"`
}

var registerOnce sync.Once

func registerRoles() {
	registerOnce.Do(func() {
		child.Register(roleHello, helloRole)
		child.Register(roleEcho, echoRole)
		child.Register(roleSink, sinkRole)
	})
}

func helloRole(ctx context.Context, parent *ipc.Conn) error {
	if err := parent.Send(ctx, "hello"); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// echoRole decodes each message and sends it back, as the Node echo child's
// process.on('message', m => process.send(m)) does. It decodes each
// message before it asks for the next, so it receives with RecvView.
func echoRole(ctx context.Context, parent *ipc.Conn) error {
	for {
		m, err := parent.RecvView(ctx)
		if err != nil {
			return ignoreEnd(err)
		}
		var s small
		if err := m.Decode(&s); err != nil {
			return err
		}
		if err := parent.Send(ctx, s); err != nil {
			return ignoreEnd(err)
		}
	}
}

// sinkRole is started with args <msgs|bytes> <warmup> <n> [size]. It decodes
// (msgs) or size-checks (bytes) every message and sends "done" when it has
// received warmup messages and again at warmup+n. It is done with each
// message before it asks for the next, so it receives with RecvView.
func sinkRole(ctx context.Context, parent *ipc.Conn) error {
	if len(os.Args) < 4 {
		return fmt.Errorf("sink: want args <msgs|bytes> <warmup> <n> [size], got %q", os.Args[1:])
	}
	kind := os.Args[1]
	warm, err1 := strconv.Atoi(os.Args[2])
	n, err2 := strconv.Atoi(os.Args[3])
	size := 0
	var err3 error
	if len(os.Args) > 4 {
		size, err3 = strconv.Atoi(os.Args[4])
	}
	if err := errors.Join(err1, err2, err3); err != nil {
		return fmt.Errorf("sink: %w", err)
	}
	for got := 0; ; {
		m, err := parent.RecvView(ctx)
		if err != nil {
			return ignoreEnd(err)
		}
		switch kind {
		case "msgs":
			var s small
			if err := m.Decode(&s); err != nil {
				return fmt.Errorf("sink: %w", err)
			}
		case "bytes":
			b, err := m.Bytes()
			if err != nil || len(b) != size {
				return fmt.Errorf("sink: payload of %d bytes (%v), want %d", len(b), err, size)
			}
		default:
			return fmt.Errorf("sink: unknown kind %q", kind)
		}
		got++
		if got == warm || got == warm+n {
			if err := parent.Send(ctx, "done"); err != nil {
				return ignoreEnd(err)
			}
		}
	}
}

// ignoreEnd treats the parent going away, which ends every benchmark child,
// as success.
func ignoreEnd(err error) error {
	if errors.Is(err, ipc.ErrDisconnected) || errors.Is(err, ipc.ErrClosed) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
