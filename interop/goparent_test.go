package interop_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/ipc"
)

// TestGoParentNodeChild plays each shared scenario with Go as the parent
// and `node child.js` as the child; the Node child checks its side and exits
// by itself once the channel closes.
func TestGoParentNodeChild(t *testing.T) {
	for _, name := range sharedScenarioNames {
		t.Run(name, func(t *testing.T) {
			nc := forkNode(t, name)
			p := &peer{ctx: ctxT(t), c: nc.Channel}
			if err := sharedScenarios[name](p); err != nil {
				nc.Kill(9)
				nc.Wait()
				t.Fatalf("Go side: %v\nnode stderr:\n%s", err, nc.stderr)
			}
			if err := nc.Channel.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := nc.wait(t); err != nil {
				t.Fatalf("node child: %v\nstderr:\n%s", err, nc.stderr)
			}
		})
	}
}

// sharedScenarioNames lists sharedScenarios in a fixed order.
var sharedScenarioNames = []string{"values", "order", "bytes", "handles", "hygiene", "sockets", "dgram"}

// TestGoParentCloseDisconnectsNode: closing the channel fires 'disconnect'
// in the Node child, which then exits by itself.
func TestGoParentCloseDisconnectsNode(t *testing.T) {
	nc := forkNode(t, "wait-disconnect")
	p := &peer{ctx: ctxT(t), c: nc.Channel}
	if err := p.expectNoHandle("ready", "ready"); err != nil {
		t.Fatalf("%v\nnode stderr:\n%s", err, nc.stderr)
	}
	if err := nc.Channel.Close(); err != nil {
		t.Fatal(err)
	}
	if err := nc.wait(t); err != nil {
		t.Fatalf("node child: %v\nstderr:\n%s", err, nc.stderr)
	}
	if got := nc.stdout.String(); got != "node child saw disconnect\n" {
		t.Errorf("node child stdout = %q, want %q", got, "node child saw disconnect\n")
	}
}

// TestNodeChildDisconnects: process.disconnect() in Node ends Recv with
// ipc.ErrDisconnected, after the messages sent before it.
func TestNodeChildDisconnects(t *testing.T) {
	nc := forkNode(t, "disconnect-self")
	p := &peer{ctx: ctxT(t), c: nc.Channel}
	if err := p.expectNoHandle("bye", "bye"); err != nil {
		t.Fatalf("%v\nnode stderr:\n%s", err, nc.stderr)
	}
	m, err := nc.Channel.Recv(ctxT(t))
	if !errors.Is(err, ipc.ErrDisconnected) {
		t.Fatalf("Recv after process.disconnect() = %q, %v; want ipc.ErrDisconnected", m.Data, err)
	}
	if err := nc.wait(t); err != nil {
		t.Fatalf("node child: %v\nstderr:\n%s", err, nc.stderr)
	}
}

// TestNodeChildExitCode: process.exit(3) gives an *child.ExitError with
// Code 3, and the channel reports the disconnect.
func TestNodeChildExitCode(t *testing.T) {
	nc := forkNode(t, "exit3")
	err := nc.wait(t)
	var ee *child.ExitError
	if !errors.As(err, &ee) || ee.Code != 3 {
		t.Fatalf("Wait() = %v, want *child.ExitError with Code 3", err)
	}
	if !strings.Contains(ee.Error(), "3") {
		t.Errorf("ExitError.Error() = %q does not mention the code", ee.Error())
	}
	if _, err := nc.Channel.Recv(ctxT(t)); !errors.Is(err, ipc.ErrDisconnected) {
		t.Fatalf("Recv after exit: %v, want ipc.ErrDisconnected", err)
	}
}
