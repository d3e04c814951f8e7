package interop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
)

// orderCount is how many messages the order scenario sends each way.
const orderCount = 10000

// scenarioValues sends the corpus to Node, which checks each value, then
// checks the corpus as Node sends it back from its own copy.
func scenarioValues(p *peer) error {
	values := corpus()
	for _, v := range values {
		if err := p.send(v); err != nil {
			return err
		}
	}
	return checkValues(p, values)
}

// scenarioOrder sends orderCount numbered messages while Node sends as many
// back; each side checks that it got them all, in order.
func scenarioOrder(p *peer) error {
	ctx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	sender := &peer{ctx: ctx, c: p.c}
	sent := make(chan error, 1)
	go func() {
		for i := range orderCount {
			if err := sender.send(map[string]any{"seq": i, "from": "go"}); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	return checkOrder(p, cancel, sent)
}

// scenarioBytes sends byte payloads with SendBytes, which Node gets as
// {type: 'Buffer', data: [...]}, then checks the Buffers Node sends back
// with Message.Bytes.
func scenarioBytes(p *peer) error {
	payloads := bytePayloads()
	for _, b := range payloads {
		if err := p.c.SendBytes(p.ctx, b); err != nil {
			return fmt.Errorf("SendBytes(%d bytes): %w", len(b), err)
		}
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
			return fmt.Errorf("buffer %d: got %d bytes %s, want %d bytes", i, len(got), short(got), len(want))
		}
	}
	return p.expectNoHandle("done", map[string]any{"done": "bytes", "received": len(payloads)})
}

// checkOrder receives orderCount {"seq": i, "from": "node"} messages in
// order and Node's "done" report while the sender reporting on sent runs;
// on a failure it cancels the sender and waits for it.
func checkOrder(p *peer, cancel context.CancelFunc, sent <-chan error) error {
	recvErr := func() error {
		for i := range orderCount {
			m, err := p.recv(fmt.Sprintf("message %d", i))
			if err != nil {
				return err
			}
			var got struct {
				Seq  *int   `json:"seq"`
				From string `json:"from"`
			}
			if err := json.Unmarshal(m.Data, &got); err != nil || got.Seq == nil || *got.Seq != i || got.From != "node" {
				return fmt.Errorf("message %d: got %s (%v)", i, short(m.Data), err)
			}
		}
		return p.expectNoHandle("done", map[string]any{"done": "order", "received": orderCount})
	}()
	if recvErr != nil {
		cancel() // do not wait for a sender stuck on a failed channel
		<-sent
		return recvErr
	}
	return <-sent
}

// checkValues receives the corpus values back from Node, in order, then
// Node's "done" report.
func checkValues(p *peer, values []any) error {
	for i, want := range values {
		m, err := p.recv(fmt.Sprintf("value %d", i))
		if err != nil {
			return err
		}
		var got any
		if err := json.Unmarshal(m.Data, &got); err != nil {
			return fmt.Errorf("value %d: %w", i, err)
		}
		if !reflect.DeepEqual(got, want) {
			return fmt.Errorf("value %d: got %s, want %s", i, short(m.Data), short(want))
		}
	}
	return p.expectNoHandle("done", map[string]any{"done": "values", "received": len(values)})
}
