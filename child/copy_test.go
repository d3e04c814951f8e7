package child

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

// TestCopyOut: copyOut copies every byte, through small reads and big
// ones, and its buffer grows to copyBufMax only while reads fill it.
func TestCopyOut(t *testing.T) {
	src := make([]byte, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range src {
		src[i] = byte(r.Uint32())
	}
	for name, rd := range map[string]io.Reader{
		"big reads":  bytes.NewReader(src),
		"one byte":   iotest.OneByteReader(bytes.NewReader(src[:10000])),
		"half reads": iotest.HalfReader(bytes.NewReader(src)),
	} {
		var out bytes.Buffer
		sizes := &sizeRecorder{w: &out}
		n, err := copyOut(sizes, rd)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := src
		if name == "one byte" {
			want = src[:10000]
		}
		if n != int64(len(want)) || !bytes.Equal(out.Bytes(), want) {
			t.Fatalf("%s: copied %d bytes, want %d equal bytes", name, n, len(want))
		}
		if sizes.max > copyBufMax {
			t.Fatalf("%s: a write of %d bytes, past copyBufMax %d", name, sizes.max, copyBufMax)
		}
		if name == "big reads" && sizes.max != copyBufMax {
			t.Fatalf("big reads: largest write %d, want the buffer grown to %d", sizes.max, copyBufMax)
		}
	}
	// A short write is an error, as with io.Copy.
	if _, err := copyOut(shortWriter{}, bytes.NewReader(src[:100])); err != io.ErrShortWrite {
		t.Fatalf("short writer: %v, want io.ErrShortWrite", err)
	}
}

type sizeRecorder struct {
	w   io.Writer
	max int
}

func (s *sizeRecorder) Write(p []byte) (int, error) {
	s.max = max(s.max, len(p))
	return s.w.Write(p)
}

type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return len(p) / 2, nil }
