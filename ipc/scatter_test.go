package ipc

import (
	"bytes"
	"io"
	"testing"
)

// chunkedReader reads from data at most step bytes per call (step cycles
// through steps), as a socket hands out whatever has arrived.
type chunkedReader struct {
	data  []byte
	steps []int
	i     int
}

func (r *chunkedReader) readv(p, q []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	limit := r.steps[r.i%len(r.steps)]
	r.i++
	n := 0
	for _, b := range [][]byte{p, q} {
		k := copy(b[:min(len(b), limit-n)], r.data)
		r.data, n = r.data[k:], n+k
	}
	return n, nil
}

func (r *chunkedReader) read(p []byte) (int, error) { return r.readv(p, nil) }

// TestScatterReadKeepsFrames reads a stream of big and small fast-mode
// frames through the in-place (readv) path, in reads of awkward sizes, and
// checks every frame comes out whole, in order, at the right offset.
func TestScatterReadKeepsFrames(t *testing.T) {
	sizes := []int{0, 1, 70000, 3, 65536, 16384, 16383, 200, 131072, 5, 65536, 65536, 9}
	var stream []byte
	var want [][]byte
	for i, n := range sizes {
		p := bytes.Repeat([]byte{byte('a' + i)}, n)
		stream = appendFastHeader(stream, n, KindBytes, handleNone)
		stream = append(stream, p...)
		want = append(want, p)
	}
	for _, steps := range [][]int{{1 << 20}, {7, 65542, 4096}, {1}, {65536}, {4102, 61440}} {
		cr := &chunkedReader{data: stream, steps: steps}
		fr := newFrameReader(ModeFast, 1<<20, cr.read)
		fr.readv = cr.readv
		var off int64
		for i, w := range want {
			f, err := fr.next()
			if err != nil {
				t.Fatalf("steps %v: frame %d: %v", steps, i, err)
			}
			if !bytes.Equal(f.data, w) || f.kind != KindBytes {
				t.Fatalf("steps %v: frame %d: %d bytes of kind %v, want %d bytes", steps, i, len(f.data), f.kind, len(w))
			}
			if f.offset != off {
				t.Fatalf("steps %v: frame %d at offset %d, want %d", steps, i, f.offset, off)
			}
			off += int64(fastHeaderLen + len(w))
		}
		if _, err := fr.next(); err != io.EOF {
			t.Fatalf("steps %v: after the last frame: %v, want io.EOF", steps, err)
		}
	}
}
