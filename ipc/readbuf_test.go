package ipc

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

// TestReadBufGrows: a reader's buffer starts at readBufMin, stays there
// for a peer that sends little, and grows to readBufSize, no further,
// while reads fill it; every line comes through intact either way.
func TestReadBufGrows(t *testing.T) {
	var stream bytes.Buffer
	const lines = 50000
	for i := range lines {
		fmt.Fprintf(&stream, "{\"n\":%d,\"pad\":\"%s\"}\n", i, bytes.Repeat([]byte("x"), i%200))
	}
	check := func(name string, data []byte, n int, wantGrown bool) {
		src := bytes.NewReader(data)
		fr := newFrameReader(ModeNode, 1<<20, src.Read)
		if len(fr.buf) != readBufMin {
			t.Fatalf("%s: buffer starts at %d, want %d", name, len(fr.buf), readBufMin)
		}
		for i := range n {
			f, err := fr.next()
			if err != nil {
				t.Fatalf("%s: line %d: %v", name, i, err)
			}
			if want := fmt.Sprintf("{\"n\":%d,", i); !bytes.HasPrefix(f.data, []byte(want)) {
				t.Fatalf("%s: line %d is %.40q", name, i, f.data)
			}
		}
		if _, err := fr.next(); err != io.EOF {
			t.Fatalf("%s: after the last line: %v, want io.EOF", name, err)
		}
		if grown := len(fr.buf) > readBufMin; grown != wantGrown || len(fr.buf) > readBufSize {
			t.Fatalf("%s: buffer ends at %d bytes (min %d, max %d)", name, len(fr.buf), readBufMin, readBufSize)
		}
		if wantGrown && len(fr.buf) != readBufSize {
			t.Fatalf("%s: buffer ends at %d bytes, want %d", name, len(fr.buf), readBufSize)
		}
	}
	check("one line", []byte("{\"n\":0,\"pad\":\"\"}\n"), 1, false)
	check("many lines", stream.Bytes(), lines, true)
}
