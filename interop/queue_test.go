package interop_test

import (
	"context"
	"testing"

	"github.com/herdrun/herd/child"
)

// TestGoParentNodeChildSendQueue plays the shared scenarios with Go as the
// parent on a channel with ipc.Options.SendQueue, so that its Sends are
// queued and written several per write(2), and with Node as the child:
// Node must get every message as its own 'message' event, in order, with
// the handles of SendHandle (which waits for the queue) attached to
// their own messages. The Node side is the unchanged testdata/child.js.
func TestGoParentNodeChildSendQueue(t *testing.T) {
	for _, name := range sharedScenarioNames {
		t.Run(name, func(t *testing.T) {
			node := requireNode(t)
			nc := &nodeChild{stdout: &syncBuffer{}, stderr: &syncBuffer{}}
			opts := &child.Options{ExecPath: node, Stdout: nc.stdout, Stderr: nc.stderr, Timeout: 2 * waitTimeout}
			opts.Channel.SendQueue = 4 << 10
			p, err := child.Fork(context.Background(), "testdata/child.js", []string{name}, opts)
			if err != nil {
				t.Fatalf("Fork(node testdata/child.js %s): %v", name, err)
			}
			nc.Process = p
			t.Cleanup(func() {
				p.Kill(9)
				p.Wait()
				p.Channel.Close()
			})
			pr := &peer{ctx: ctxT(t), c: nc.Channel}
			if err := sharedScenarios[name](pr); err != nil {
				nc.Kill(9)
				nc.Wait()
				t.Fatalf("Go side: %v\nnode stderr:\n%s", err, nc.stderr)
			}
			if err := nc.Channel.Flush(pr.ctx); err != nil {
				t.Fatalf("Flush: %v", err)
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
