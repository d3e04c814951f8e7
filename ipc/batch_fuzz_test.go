package ipc

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"
)

// splitPayloads cuts data into payloads: each starts with a length byte
// (taken modulo 64), then that many bytes, or what is left.
func splitPayloads(data []byte) [][]byte {
	var out [][]byte
	for len(data) > 0 {
		n := min(int(data[0]%64), len(data)-1)
		out = append(out, data[1:1+n])
		data = data[1+n:]
	}
	return out
}

// checkBatch checks a batch buffer b against frames encoded one by one:
// b must be their concatenation, framesIn must count the whole frames and
// find the boundaries of every prefix, and the frame reader must give back
// the messages in want, in order, and nothing else.
func checkBatch(t *testing.T, c *Conn, b []byte, singles [][]byte, want [][]byte) {
	t.Helper()
	if !bytes.Equal(b, bytes.Join(singles, nil)) {
		t.Fatalf("%s: batch differs from its frames encoded one by one", c.mode)
	}
	ends := map[int]int{0: 0} // frame end offset -> frames up to it
	off := 0
	for i, s := range singles {
		off += len(s)
		ends[off] = i + 1
	}
	whole := 0
	for k := 0; k <= len(b); k++ {
		if n, ok := ends[k]; ok {
			whole = n
		}
		count, clean := c.framesIn(b[:k])
		_, boundary := ends[k]
		if count != whole || clean != boundary {
			t.Fatalf("%s: framesIn of %d bytes = %d, %v; want %d, %v", c.mode, k, count, clean, whole, boundary)
		}
	}
	fr := newFrameReader(c.mode, c.max, bytes.NewReader(b).Read)
	for i, w := range want {
		f, err := fr.next()
		if err != nil {
			t.Fatalf("%s: frame %d: %v", c.mode, i, err)
		}
		if !bytes.Equal(f.data, w) {
			t.Fatalf("%s: frame %d is %q, want %q", c.mode, i, f.data, w)
		}
	}
	if _, err := fr.next(); err != io.EOF {
		t.Fatalf("%s: after the batch: %v, want EOF", c.mode, err)
	}
}

// FuzzBatchFrames encodes the fuzz input, cut into payloads, as a bytes
// batch and as a batch of JSON strings in both modes, and checks the
// buffers with checkBatch.
func FuzzBatchFrames(f *testing.F) {
	for _, s := range []string{"", "\x00", "\x03abc\x00\x02\n\n", "\x05\"\\\u2028\xff\x01", "\x3f" + string(make([]byte, 70))} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		payloads := splitPayloads(data)
		if len(payloads) == 0 {
			return
		}
		strs := make([]any, len(payloads))
		for i, p := range payloads {
			strs[i] = string(p)
		}
		for _, mode := range []Mode{ModeNode, ModeFast} {
			c := &Conn{mode: mode, max: DefaultMaxMessageSize}
			bp := bufPool.New().(*encBuf)
			one := bufPool.New().(*encBuf)

			// Bytes.
			if err := c.encodeBytesBatch(bp, payloads); err != nil {
				t.Fatal(err)
			}
			var singles, want [][]byte
			for _, p := range payloads {
				if err := c.encodeBytesBatch(one, [][]byte{p}); err != nil {
					t.Fatal(err)
				}
				singles = append(singles, bytes.Clone(one.Bytes()))
				if mode == ModeFast {
					want = append(want, p)
				} else {
					want = append(want, appendNodeBuffer(nil, p))
				}
			}
			checkBatch(t, c, bp.Bytes(), singles, want)

			// JSON strings.
			if err := c.encodeBatch(bp, strs); err != nil {
				t.Fatal(err)
			}
			singles, want = nil, nil
			for _, s := range strs {
				if err := c.encodeBatch(one, []any{s}); err != nil {
					t.Fatal(err)
				}
				singles = append(singles, bytes.Clone(one.Bytes()))
				j, err := json.Marshal(s)
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, j)
			}
			checkBatch(t, c, bp.Bytes(), singles, want)
		}
	})
}
