package interop_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"os"

	"github.com/herdrun/herd/ipc"
)

// hygieneSend is one value the hygiene scenario hands to Send: either it
// must be refused, writing nothing, or Node must get it as want.
type hygieneSend struct {
	v       any
	refused bool
}

// hygieneSends are values that could put an empty line, a raw newline or
// invalid JSON on the wire if herd were careless: each of those would crash
// a Node peer. testdata/scenarios.js lists what Node must receive.
var hygieneSends = []hygieneSend{
	{v: json.RawMessage("{\n  \"a\" : [1,\n 2 ],\n\t\"b\" : \"x\"\n}\n")},
	{v: json.RawMessage(""), refused: true},
	{v: json.RawMessage(" \n "), refused: true},
	{v: json.RawMessage("{"), refused: true},
	{v: json.RawMessage("1 2"), refused: true},
	{v: json.RawMessage("[1]\n[2]"), refused: true},
	{v: math.NaN(), refused: true},
	{v: math.Inf(-1), refused: true},
	{v: make(chan int), refused: true},
	{v: json.Number("nope"), refused: true},
	{v: json.RawMessage("\n\n42\n\n")},
	{v: "line1\nline2\r\n\n"},
	{v: "bad \xff\xfe utf8"},
	{v: json.RawMessage("\"raw \xff bad\"")},
	{v: map[string]string{"k\ny": "<tag>&amp;\u2028\u2029"}},
	{v: nil},
	{v: ""},
	{v: struct{ B []byte }{[]byte{0, 1, 2}}},
	{v: json.Number("12.50")},
}

// scenarioHygiene checks that nothing Go sends can break a Node peer, and
// that Node's own edge cases arrive as Node would deliver them.
func scenarioHygiene(p *peer) error {
	for i, s := range hygieneSends {
		err := p.c.Send(p.ctx, s.v)
		if s.refused && err == nil {
			return fmt.Errorf("hygiene send %d (%s): Send accepted a value that is not JSON", i, short(s.v))
		}
		if !s.refused && err != nil {
			return fmt.Errorf("hygiene send %d (%s): %w", i, short(s.v), err)
		}
	}
	if err := hygieneHandles(p); err != nil {
		return err
	}
	if err := p.send(map[string]any{"done": "hygiene-go"}); err != nil {
		return err
	}
	if err := p.expectNoHandle("hygiene-go verdict", map[string]any{"done": "hygiene-go", "ok": true}); err != nil {
		return err
	}
	return hygieneFromNode(p)
}

// hygieneHandles: a handle with a bad message or of a kind Node cannot
// take is refused before anything is written; a message with newlines in
// it is sent compacted.
func hygieneHandles(p *peer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	if err := p.c.SendHandle(p.ctx, json.RawMessage("{"), ln); err == nil {
		return errors.New("SendHandle with invalid JSON: no error")
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := p.c.SendHandle(p.ctx, map[string]any{"file": true}, f); !errors.Is(err, ipc.ErrHandleType) {
		return fmt.Errorf("SendHandle(%s) to Node: %v, want ipc.ErrHandleType", os.DevNull, err)
	}
	if err := p.c.SendHandle(p.ctx, json.RawMessage(" {\"x\" :\n 1}\n "), ln); err != nil {
		return fmt.Errorf("SendHandle with a spaced-out message: %w", err)
	}
	return nil
}

// hygieneFromNode checks what Node sends: lone surrogates, internal
// messages (which must not arrive, with or without a handle), and values
// JSON.stringify changes.
func hygieneFromNode(p *peer) error {
	want := []any{
		"lone \ufffd surrogate",
		"\ufffd\ufffd reversed pair",
		map[string]any{"cmd": "NODE_"},
		map[string]any{"buf": map[string]any{"type": "Buffer", "data": []any{1, 2, 255}}},
		map[string]any{"b": 1, "d": "1970-01-01T00:00:00.000Z", "m": map[string]any{}, "n": nil, "inf": nil},
		[]any{"\u2028\u2029 raw"},
		map[string]any{"after": "internal messages"},
	}
	for i, w := range want {
		if err := p.expectNoHandle(fmt.Sprintf("hygiene from node %d", i), w); err != nil {
			return err
		}
	}
	return p.expectNoHandle("done", map[string]any{"done": "hygiene"})
}
