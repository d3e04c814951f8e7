package interop_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"
)

// The shared scenarios values, order and bytes again, with the Go side
// sending through ipc.Conn.SendBatch and SendBytesBatch: Node must receive
// every element of a batch as its own 'message' event, in order, whatever
// the sizes mixed in one batch (the values corpus, sent as one batch,
// holds a 1.2 MB string and a 200-level nesting). The Node side is the
// unchanged testdata/scenarios.js.

// batchEnv makes this test binary, run as the Go child of a Node parent,
// play the batched Go side of the shared scenarios. The Node parent passes
// its environment on, so setting it in the test reaches the helper.
const batchEnv = "HERD_INTEROP_BATCH"

// batchScenarios are the batched Go sides, by shared scenario name.
var batchScenarios = map[string]scenario{
	"values": scenarioValuesBatch,
	"order":  scenarioOrderBatch,
	"bytes":  scenarioBytesBatch,
}

var batchScenarioNames = []string{"values", "order", "bytes"}

func init() {
	if os.Getenv(batchEnv) == "1" {
		for name, fn := range batchScenarios {
			sharedScenarios[name] = fn
		}
	}
}

// TestGoParentNodeChildBatch plays the batched scenarios with Go as the
// parent and `node child.js` as the child.
func TestGoParentNodeChildBatch(t *testing.T) {
	for _, name := range batchScenarioNames {
		t.Run(name, func(t *testing.T) {
			nc := forkNode(t, name)
			p := &peer{ctx: ctxT(t), c: nc.Channel}
			if err := batchScenarios[name](p); err != nil {
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

// TestNodeParentGoChildBatch plays the batched scenarios with Node as the
// parent (fork and spawn) and this test binary as the child.
func TestNodeParentGoChildBatch(t *testing.T) {
	t.Setenv(batchEnv, "1")
	for _, name := range batchScenarioNames {
		for _, launch := range launches {
			t.Run(name+"/"+launch, func(t *testing.T) {
				r := runNodeParent(t, name, launch)
				if r.Code == nil || *r.Code != 0 {
					t.Fatalf("Go child exit: code %v signal %v, want 0 (result %+v)", deref(r.Code), deref(r.Signal), r)
				}
			})
		}
	}
}

// scenarioValuesBatch sends the whole corpus in one SendBatch, then checks
// the corpus Node sends back.
func scenarioValuesBatch(p *peer) error {
	values := corpus()
	if n, err := p.c.SendBatch(p.ctx, values...); err != nil || n != len(values) {
		return fmt.Errorf("SendBatch of the corpus: sent %d of %d: %v", n, len(values), err)
	}
	return checkValues(p, values)
}

// scenarioOrderBatch sends orderCount numbered messages in batches of 1 to
// 300 while Node sends as many back; each side checks the order.
func scenarioOrderBatch(p *peer) error {
	ctx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	sent := make(chan error, 1)
	go func() {
		for i, size := 0, 1; i < orderCount; size = size%300 + 1 {
			var batch []any
			for ; i < orderCount && len(batch) < size; i++ {
				batch = append(batch, map[string]any{"seq": i, "from": "go"})
			}
			if n, err := p.c.SendBatch(ctx, batch...); err != nil || n != len(batch) {
				sent <- fmt.Errorf("SendBatch of %d ending at %d: sent %d: %v", len(batch), i, n, err)
				return
			}
		}
		sent <- nil
	}()
	return checkOrder(p, cancel, sent)
}

// scenarioBytesBatch sends the byte payloads in one SendBytesBatch, then
// checks the Buffers Node sends back.
func scenarioBytesBatch(p *peer) error {
	payloads := bytePayloads()
	if n, err := p.c.SendBytesBatch(p.ctx, payloads...); err != nil || n != len(payloads) {
		return fmt.Errorf("SendBytesBatch: sent %d of %d: %v", n, len(payloads), err)
	}
	for i, want := range payloads {
		m, err := p.recv(fmt.Sprintf("buffer %d", i))
		if err != nil {
			return err
		}
		got, err := m.Bytes()
		if err != nil {
			return fmt.Errorf("buffer %d: Bytes(): %w (message %s)", i, err, short(m.Data))
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("buffer %d: got %d bytes, want %d", i, len(got), len(want))
		}
	}
	return p.expectNoHandle("done", map[string]any{"done": "bytes", "received": len(payloads)})
}
