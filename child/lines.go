package child

import (
	"bufio"
	"io"
	"iter"
)

// maxLine is the longest line Lines yields.
const maxLine = 1 << 20

// Lines returns an iterator over the lines of r, each without its trailing
// "\n" or "\r\n"; a last line without a newline is yielded too. Lines of up
// to 1 MiB are fine. A read error other than io.EOF, or a longer line
// (bufio.ErrTooLong), is yielded once as ("", err) and ends the iteration.
// It reads r as the loop runs; stopping the loop early leaves the rest of r
// unread.
func Lines(r io.Reader) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 64<<10), maxLine+2) // room for "\r\n"
		for sc.Scan() {
			if len(sc.Bytes()) > maxLine {
				yield("", bufio.ErrTooLong)
				return
			}
			if !yield(sc.Text(), nil) {
				return
			}
		}
		if err := sc.Err(); err != nil {
			yield("", err)
		}
	}
}
