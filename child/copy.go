package child

import "io"

// Sizes of the buffer that copies a child's output to its Writer: it
// starts small, since most children write little and a supervisor holds
// one such buffer per pipe for the child's whole life, and doubles each
// time a read fills it, up to the size io.Copy uses.
const (
	copyBufMin = 2 << 10
	copyBufMax = 32 << 10
)

// copyOut copies src to dst until EOF or an error, like io.Copy, with a
// buffer that grows from copyBufMin to copyBufMax only while reads fill it.
func copyOut(dst io.Writer, src io.Reader) (int64, error) {
	buf := make([]byte, copyBufMin)
	var written int64
	for {
		n, err := src.Read(buf)
		if n > 0 {
			m, werr := dst.Write(buf[:n])
			written += int64(m)
			if werr == nil && m < n {
				werr = io.ErrShortWrite
			}
			if werr != nil {
				return written, werr
			}
			if n == len(buf) && len(buf) < copyBufMax {
				buf = make([]byte, 2*len(buf))
			}
		}
		if err == io.EOF {
			return written, nil
		}
		if err != nil {
			return written, err
		}
	}
}
