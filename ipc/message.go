package ipc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
)

// Mode is the framing a channel speaks. The zero value is ModeNode.
type Mode uint8

const (
	// ModeNode is Node's "json" serialization: one JSON value per line.
	ModeNode Mode = iota
	// ModeFast is herd's binary framing, for two herd processes.
	ModeFast
)

// String returns "node" or "fast".
func (m Mode) String() string {
	switch m {
	case ModeNode:
		return "node"
	case ModeFast:
		return "fast"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// Kind says what a Message's Data holds.
type Kind uint8

const (
	// KindJSON means Data is the text of one JSON value.
	KindJSON Kind = 'J'
	// KindBytes means Data is an opaque byte payload (sent with SendBytes
	// over a ModeFast channel).
	KindBytes Kind = 'B'
)

// Message is one message received from the peer.
type Message struct {
	// Kind says whether Data is JSON text or raw bytes.
	Kind Kind
	// Data is the message body. It is owned by the receiver. For a Node
	// peer that sent a handle with an undefined message, Data is empty.
	Data []byte
	// Handle is the file descriptor that came with the message, as the Go
	// type it was sent as: *os.File, net.Listener, net.Conn or
	// net.PacketConn. It is nil when none came. The receiver owns it and
	// must close it.
	//
	// A socket that a Node server shared (Node sends it with its server's
	// key) is counted until it is closed, as a Node child counts it: the
	// peer's server.getConnections() includes it, and server.close() waits
	// for it. Its net.Conn is then a wrapper whose Close does the counting;
	// it also has CloseRead, CloseWrite and SyscallConn, and its
	// NetConn method returns the socket itself (a *net.TCPConn, say), whose
	// own Close is not counted.
	Handle any
}

// Decode unmarshals a KindJSON message into v with encoding/json, with
// json.Unmarshal's rules, results and errors. For a KindBytes message, v
// must be a *[]byte, which receives a copy of Data. An empty Data leaves v
// untouched.
//
// A small message (up to 4 KiB) is decoded by a pooled json.Decoder,
// which spares the allocations json.Unmarshal makes on every call; its
// one difference from json.Unmarshal is on Data that holds a whole JSON
// value followed by more than white space, which no herd or Node peer
// sends: v receives that value before Decode returns json.Unmarshal's
// syntax error.
func (m Message) Decode(v any) error {
	if m.Kind == KindBytes {
		p, ok := v.(*[]byte)
		if !ok {
			return fmt.Errorf("ipc: decode a byte message into %T: want *[]byte", v)
		}
		*p = bytes.Clone(m.Data)
		return nil
	}
	if len(m.Data) == 0 {
		return nil
	}
	if len(m.Data) > maxPooledDecode {
		return json.Unmarshal(m.Data, v)
	}
	d := decPool.Get().(*jsonDec)
	d.r.Reset(m.Data)
	start := d.dec.InputOffset()
	err := d.dec.Decode(v)
	end := d.dec.InputOffset() - start
	if end == 0 {
		// The Decoder found no whole value (bad JSON, or only white
		// space) and left v alone: json.Unmarshal says why.
		return json.Unmarshal(m.Data, v)
	}
	if len(bytes.TrimLeft(m.Data[end:], " \t\r\n")) > 0 {
		// More after the value: json.Unmarshal's syntax error.
		return json.Unmarshal(m.Data, v)
	}
	if err == nil && int(end) == len(m.Data) {
		// Nothing of this message is left in the Decoder's buffer.
		d.r.Reset(nil)
		decPool.Put(d)
	}
	return err
}

// maxPooledDecode is the largest message Decode decodes with a pooled
// json.Decoder, which keeps a buffer of the largest value it has read.
const maxPooledDecode = 4 << 10

// jsonDec is a json.Decoder reading a message's Data.
type jsonDec struct {
	r   bytes.Reader
	dec *json.Decoder
}

var decPool = sync.Pool{New: func() any {
	d := new(jsonDec)
	d.dec = json.NewDecoder(&d.r)
	return d
}}

// Bytes returns the payload of a byte message: Data for KindBytes, or the
// decoded contents of a Node Buffer ({"type":"Buffer","data":[...]}) for
// KindJSON. Any other message gives ErrNotBytes.
func (m Message) Bytes() ([]byte, error) {
	if m.Kind == KindBytes {
		return m.Data, nil
	}
	return decodeNodeBuffer(m.Data)
}

var bufferPrefix = []byte(`{"type":"Buffer","data":[`)

// appendNodeBuffer appends Node's JSON form of a Buffer holding b.
func appendNodeBuffer(dst, b []byte) []byte {
	dst = append(dst, bufferPrefix...)
	for i, c := range b {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendUint(dst, uint64(c), 10)
	}
	return append(dst, ']', '}')
}

// decodeNodeBuffer parses Node's JSON form of a Buffer. The fast path handles
// exactly what JSON.stringify emits; anything else goes through encoding/json.
func decodeNodeBuffer(data []byte) ([]byte, error) {
	if bytes.HasPrefix(data, bufferPrefix) && bytes.HasSuffix(data, []byte("]}")) {
		body := data[len(bufferPrefix) : len(data)-2]
		out := make([]byte, 0, len(body)/3+1)
		ok := true
		for len(body) > 0 && ok {
			v, n := 0, 0
			for n < len(body) && body[n] >= '0' && body[n] <= '9' && n < 3 {
				v = v*10 + int(body[n]-'0')
				n++
			}
			if n == 0 || v > 255 {
				ok = false
				break
			}
			out = append(out, byte(v))
			body = body[n:]
			if len(body) > 0 {
				if body[0] != ',' || len(body) == 1 {
					ok = false
					break
				}
				body = body[1:]
			}
		}
		if ok {
			return out, nil
		}
	}
	// []byte decodes from base64 in encoding/json; read numbers instead.
	var raw struct {
		Type string `json:"type"`
		Data []int  `json:"data"`
	}
	if err := json.Unmarshal(data, &raw); err != nil || raw.Type != "Buffer" || raw.Data == nil {
		return nil, ErrNotBytes
	}
	out := make([]byte, len(raw.Data))
	for i, v := range raw.Data {
		if v < 0 || v > 255 {
			return nil, ErrNotBytes
		}
		out[i] = byte(v)
	}
	return out, nil
}
