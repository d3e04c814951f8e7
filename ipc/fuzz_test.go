package ipc

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"
	"testing/iotest"
)

// fuzzDecode runs the frame reader over data and checks that it ends in a
// typed way, never returns an oversize frame, and never loops; then that a
// lending reader (RecvView's), fed the same bytes whole and one byte at a
// time, returns the same frames as one that is not.
func fuzzDecode(t *testing.T, mode Mode, data []byte) {
	for _, oneByte := range []bool{false, true} {
		want, wantErr := fuzzFrames(t, mode, data, false, oneByte)
		got, gotErr := fuzzFrames(t, mode, data, true, oneByte)
		if len(got) != len(want) || (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
			t.Fatalf("lending reader (one byte at a time: %v): %d frames, %v; want %d, %v", oneByte, len(got), gotErr, len(want), wantErr)
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("lending reader (one byte at a time: %v): frame %d is %q, want %q", oneByte, i, got[i], want[i])
			}
		}
	}
}

// fuzzFrames reads frames from data, lending or not, and returns copies of
// their payloads and the error that ended the stream.
func fuzzFrames(t *testing.T, mode Mode, data []byte, lend, oneByte bool) ([][]byte, error) {
	const max = 4096
	var r io.Reader = bytes.NewReader(data)
	if oneByte {
		r = iotest.OneByteReader(r)
	}
	fr := newFrameReader(mode, max, r.Read)
	fr.lend = lend
	var out [][]byte
	for i := 0; i <= len(data); i++ {
		f, err := fr.next()
		if err != nil {
			var pe *ProtocolError
			if err != io.EOF && !errors.As(err, &pe) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			if pe != nil && !errors.Is(pe, ErrMalformed) && !errors.Is(pe, ErrTooLarge) {
				t.Fatalf("protocol error wraps %v", pe.Err)
			}
			return out, err
		}
		if len(f.data) > max {
			t.Fatalf("frame of %d bytes over the %d limit", len(f.data), max)
		}
		if mode == ModeNode && (len(f.data) == 0 || f.data[len(f.data)-1] == '\n') {
			t.Fatalf("bad node frame %q", f.data)
		}
		out = append(out, append([]byte{byte(f.kind), f.htype}, f.data...))
		// What is accepted must be processable without panicking.
		closed := make(chan struct{})
		close(closed)
		c := &Conn{mode: mode, closing: closed}
		if f.htype == handleNone {
			c.process(f)
		}
	}
	t.Fatalf("reader made no progress over %d bytes", len(data))
	return nil, nil
}

func FuzzNodeDecoder(f *testing.F) {
	for _, s := range []string{
		"", "\n", "\n\n", "{}\n", `{"a":1}` + "\n", "{nope\n", `"\u2028"` + "\n",
		`{"cmd":"NODE_HANDLE","type":"net.Server","msg":1}` + "\n",
		`{"cmd":"NODE_HANDLE_ACK"}` + "\n", `{"cmd":"NODE_X"}` + "\n",
		`{"cmd":"NODE_HANDLE_NACK"}` + "\n" + `{"cmd":"NODE_HANDLE_ACK"}` + "\n",
		`{"cmd":"NODE_SOCKET_GET_COUNT","key":"4:0.0.0.0:80"}` + "\n",
		`{"cmd":"NODE_SOCKET_NOTIFY_CLOSE","key":"4:0.0.0.0:80"}` + "\n",
		`{"cmd":"NODE_SOCKET_NOTIFY_CLOSE","key":{"a":[1]}}` + "\n",
		`{"cmd":"NODE_SOCKET_GET_COUNT","key":"\u2028"}` + "\n",
		`{"cmd":"NODE_HANDLE","type":"net.Socket","msg":1,"key":"k"}` + "\n",
		`{"cmd":"NODE_HANDLE","type":"dgram.Socket","msg":1,"dgramType":"udp4"}` + "\n",
		`{"type":"Buffer","data":[1,2,3]}` + "\n", `{"a":`, "[1,2]\n{\"b\":null}\n",
		string(bytes.Repeat([]byte("1"), 5000)), "\xff\xfe\n", "null\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzDecode(t, ModeNode, data) })
}

func FuzzFastDecoder(f *testing.F) {
	frame := func(kind byte, ht byte, payload string) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(len(payload)))
		return append(append(b, kind, ht), payload...)
	}
	f.Add([]byte{})
	f.Add(frame('J', 0, `{"a":1}`))
	f.Add(frame('B', 0, "\x00\x01\x02"))
	f.Add(append(frame('J', 0, "1"), frame('B', 0, "xyz")...))
	f.Add([]byte{0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 'J', 0})
	f.Add([]byte{0, 0, 0, 10, 'B', 0, 1})
	f.Add(frame('X', 0, "1"))
	f.Add(frame('J', 7, "1"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzDecode(t, ModeFast, data) })
}

func FuzzNodeBuffer(f *testing.F) {
	for _, s := range []string{`{"type":"Buffer","data":[]}`, `{"type":"Buffer","data":[1,255,0]}`,
		`{"type":"Buffer","data":[256]}`, `{"type":"Buffer","data":[1,]}`, `{"data":[1],"type":"Buffer"}`, `1`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := decodeNodeBuffer(data)
		if err != nil {
			return
		}
		// Whatever decodes must round-trip through the encoder.
		again, err := decodeNodeBuffer(appendNodeBuffer(nil, out))
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("round trip of %v: %v %v", out, again, err)
		}
	})
}

// FuzzDecodeLikeUnmarshal checks that Message.Decode gives what
// json.Unmarshal gives, value and error, into a struct, a map and an any,
// twice in a row (the second time with a decoder from the pool).
func FuzzDecodeLikeUnmarshal(f *testing.F) {
	for _, s := range []string{
		`{"i":1}`, `{"i":"x"}`, `{"i":1,"s":"a","l":[1,2],"m":{"k":true}}`, ` 12 `, `12`, `"s"`,
		`[1,2,3]`, `null`, `{"i":1} `, `{"i":1} x`, `1 2`, `{`, ``, `   `, `{"i":1e400}`,
		`{"I":2,"i":3}`, `{"l":[1,"x",3]}`, "\xff", `{"s":"\u00e9\ud800"}`, `tru`, `[`, `{"m":{"k":1}}`,
	} {
		f.Add([]byte(s))
	}
	type T struct {
		I int            `json:"i"`
		S string         `json:"s"`
		L []int          `json:"l"`
		M map[string]any `json:"m"`
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return // Decode leaves v alone by contract
		}
		m := Message{Kind: KindJSON, Data: data}
		trailing := false
		if dec := json.NewDecoder(bytes.NewReader(data)); dec.Decode(new(any)) == nil {
			_, err := dec.Token()
			trailing = err != io.EOF
		}
		for range 2 {
			var a, b T
			checkLike(t, data, trailing, m.Decode(&a), json.Unmarshal(data, &b), a, b)
			var am, bm map[string]any
			checkLike(t, data, trailing, m.Decode(&am), json.Unmarshal(data, &bm), am, bm)
			var aa, ba any
			checkLike(t, data, trailing, m.Decode(&aa), json.Unmarshal(data, &ba), aa, ba)
		}
	})
}

func checkLike(t *testing.T, data []byte, trailing bool, gotErr, wantErr error, got, want any) {
	t.Helper()
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("Decode(%q): error %v, json.Unmarshal: %v", data, gotErr, wantErr)
	}
	if trailing {
		return // documented: the first value may be decoded
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Decode(%q) = %#v, json.Unmarshal = %#v", data, got, want)
	}
}
