package interop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"reflect"

	"github.com/herdrun/herd/ipc"
)

// peer is the Go end of a scenario: an ipc.Conn with checks. Its methods
// return errors rather than failing a test, because the same scenario code
// runs in a helper child process, where there is no *testing.T.
type peer struct {
	ctx context.Context
	c   *ipc.Conn
}

// scenario is the Go side of a conversation that testdata/scenarios.js plays
// the Node side of.
type scenario func(p *peer) error

// sharedScenarios run in both directions: with Go as the parent and with
// Go as the child.
var sharedScenarios = map[string]scenario{
	"values":  scenarioValues,
	"order":   scenarioOrder,
	"bytes":   scenarioBytes,
	"handles": scenarioHandles,
	"hygiene": scenarioHygiene,
	"sockets": scenarioSockets,
	"dgram":   scenarioDgram,
}

func (p *peer) send(v any) error {
	if err := p.c.Send(p.ctx, v); err != nil {
		return fmt.Errorf("send %s: %w", short(v), err)
	}
	return nil
}

// recv returns the next message and fails if it is one of Node's internal
// messages, which must never reach user code.
func (p *peer) recv(what string) (ipc.Message, error) {
	m, err := p.c.Recv(p.ctx)
	if err != nil {
		return m, fmt.Errorf("receive %s: %w", what, err)
	}
	if isInternal(m.Data) {
		closeHandle(m.Handle)
		return m, fmt.Errorf("receive %s: Node internal message reached user code: %s", what, short(m.Data))
	}
	return m, nil
}

// expect receives the next message and checks it equals want as JSON
// values (want is encoded and decoded to compare like with like). It
// returns the message's handle, which the caller owns.
func (p *peer) expect(what string, want any) (any, error) {
	m, err := p.recv(what)
	if err != nil {
		return nil, err
	}
	if err := equalJSON(m.Data, want); err != nil {
		closeHandle(m.Handle)
		return nil, fmt.Errorf("receive %s: %w", what, err)
	}
	return m.Handle, nil
}

// expectNoHandle is expect for a message that must come without a handle.
func (p *peer) expectNoHandle(what string, want any) error {
	h, err := p.expect(what, want)
	if h != nil {
		closeHandle(h)
		return fmt.Errorf("receive %s: unexpected handle %T", what, h)
	}
	return err
}

// equalJSON reports whether the JSON text got holds the same value as want.
func equalJSON(got []byte, want any) error {
	var g any
	if err := json.Unmarshal(got, &g); err != nil {
		return fmt.Errorf("decode %s: %w", short(got), err)
	}
	w := normalize(want)
	if !reflect.DeepEqual(g, w) {
		return fmt.Errorf("got %s, want %s", short(got), short(w))
	}
	return nil
}

// normalize turns v into what json.Unmarshal into an any gives for it.
func normalize(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

// isInternal reports whether data is an object whose cmd starts with
// "NODE_" and is longer than that: Node's rule for internal messages.
func isInternal(data []byte) bool {
	if !bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
		return false
	}
	var m struct {
		Cmd any `json:"cmd"`
	}
	if json.Unmarshal(data, &m) != nil {
		return false
	}
	s, ok := m.Cmd.(string)
	return ok && len(s) > 5 && s[:5] == "NODE_"
}

// short formats v for an error message, at most 200 bytes of it.
func short(v any) string {
	var s string
	switch v := v.(type) {
	case []byte:
		s = fmt.Sprintf("%q", v)
	case json.RawMessage:
		s = fmt.Sprintf("%q", []byte(v))
	default:
		b, err := json.Marshal(v)
		if err != nil {
			s = fmt.Sprintf("%#v", v)
		} else {
			s = string(b)
		}
	}
	if len(s) > 200 {
		s = fmt.Sprintf("%s...(%d bytes)", s[:200], len(s))
	}
	return s
}

func closeHandle(h any) {
	if c, ok := h.(io.Closer); ok {
		c.Close()
	}
}
