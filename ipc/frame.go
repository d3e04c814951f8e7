package ipc

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
)

// Fast-mode frame header: 4-byte big-endian payload length, kind, handle type.
const fastHeaderLen = 6

// Handle types carried in a fast-mode header.
const (
	handleNone   byte = 0
	handleFile   byte = 1
	handleListen byte = 2
	handleConn   byte = 3
	handlePacket byte = 4
)

// readBufSize is the size the reader's buffer grows to; larger frames are
// read straight into their own allocation. The buffer starts at
// readBufMin and doubles each time reads fill it, so that a Conn that
// carries little (a supervisor holds one per child for the child's life)
// keeps little, while a busy one reaches readBufSize after a few reads.
const (
	readBufSize = 64 << 10
	readBufMin  = 8 << 10 // at least scatterTail
)

// maxLend is the largest payload a lending read (RecvView) reads into the
// reader's reusable buffer; a larger one gets its own allocation, so that
// a Conn never keeps more than this much for lending.
const maxLend = 1 << 20

// scatterTail is how much of the stream after a big frame one read takes
// into the buffer along with the frame's rest: the next header, and the
// start of its payload, which is copied.
const scatterTail = 4 << 10

// frame is one message as it came off the wire, before internal messages
// are filtered and handles attached.
type frame struct {
	kind   Kind
	htype  byte // fast mode: handle type; node mode: unused
	data   []byte
	offset int64 // stream offset of the frame's first byte
	lent   bool  // data is in the reader's buffers (buf or lendBuf)
}

// frameReader splits a byte stream into frames. It holds at most one
// frame of MaxMessageSize plus its fixed buffer, whatever the peer sends.
type frameReader struct {
	mode Mode
	max  int
	read func(p []byte) (int, error)
	// readv, when set, reads into p and then q in one call. It lets a big
	// frame's payload be read in place: see nextFast.
	readv func(p, q []byte) (int, error)
	buf   []byte
	r, w  int
	scan  int   // node mode: bytes of buf[r:w] already searched for '\n'
	off   int64 // stream offset of buf[r]

	// Fast mode: a frame whose payload is partly read, kept when a read
	// fails so that next resumes it (a read interrupted by a deadline is
	// retried by whichever goroutine reads next).
	cur   frame
	curN  int  // bytes of cur.data filled
	inCur bool // cur is in progress

	// Lending (RecvView). When lend is set, next returns a frame whose
	// data is a view of buf, or of lendBuf (fast-mode payloads up to
	// maxLend), instead of a copy of its own. lentOut says that the last
	// frame returned was such a view and its reader may still use it:
	// keepViews then gives buf and lendBuf up before a read that must not
	// overwrite it.
	lend    bool
	lentOut bool
	lendBuf []byte
}

func newFrameReader(mode Mode, max int, read func([]byte) (int, error)) *frameReader {
	return &frameReader{mode: mode, max: max, read: read, buf: make([]byte, readBufMin)}
}

// fill reads more bytes into the buffer, making room first. It returns
// io.EOF only when the peer closed the stream.
func (fr *frameReader) fill() error {
	if fr.r == fr.w {
		fr.r, fr.w, fr.scan = 0, 0, 0
	}
	if fr.w == len(fr.buf) {
		if len(fr.buf) < readBufSize {
			// Reads filled the buffer: grow it (into a new array, so
			// that a lent view of the old one stays intact).
			nb := make([]byte, min(2*len(fr.buf), readBufSize))
			fr.w = copy(nb, fr.buf[fr.r:fr.w])
			fr.r, fr.buf = 0, nb
		} else if fr.r > 0 {
			copy(fr.buf, fr.buf[fr.r:fr.w])
			fr.w -= fr.r
			fr.r = 0
		} else {
			// A node-mode line longer than the buffer: grow, bounded by max+1.
			n := min(2*len(fr.buf), fr.max+1)
			if n <= len(fr.buf) {
				n = len(fr.buf) + 1
			}
			nb := make([]byte, n)
			copy(nb, fr.buf[:fr.w])
			fr.buf = nb
		}
	}
	for tries := 0; ; tries++ {
		n, err := fr.read(fr.buf[fr.w:])
		fr.w += n
		if n > 0 {
			return nil
		}
		if err != nil {
			return err
		}
		if tries > 100 {
			return io.ErrNoProgress
		}
	}
}

// next returns the next frame, io.EOF at a clean end of stream, a
// *ProtocolError for bad input, or the read error.
func (fr *frameReader) next() (f frame, err error) {
	if fr.mode == ModeFast {
		f, err = fr.nextFast()
	} else {
		f, err = fr.nextNode()
	}
	if err == nil {
		fr.lentOut = f.lent
	}
	return f, err
}

// keepViews leaves the frame last returned by a lending next intact
// through the reads that follow: the unread bytes move to a new buffer and
// the lending buffer is dropped (the next lending read makes another). It
// is for a reader that does not act for the view's holder, whose next call
// alone may end the view.
func (fr *frameReader) keepViews() {
	if !fr.lentOut {
		return
	}
	fr.lentOut = false
	nb := make([]byte, len(fr.buf))
	fr.w = copy(nb, fr.buf[fr.r:fr.w])
	fr.r, fr.buf = 0, nb
	fr.lendBuf = nil
}

func (fr *frameReader) protocolErr(off int64, err error, reason string) *ProtocolError {
	return &ProtocolError{Mode: fr.mode, Offset: off, Reason: reason, Err: err}
}

func (fr *frameReader) nextNode() (frame, error) {
	for {
		if i := bytes.IndexByte(fr.buf[fr.r+fr.scan:fr.w], '\n'); i >= 0 {
			end := fr.r + fr.scan + i
			line := fr.buf[fr.r:end]
			start := fr.off
			fr.off += int64(end + 1 - fr.r)
			fr.r, fr.scan = end+1, 0
			if len(line) > fr.max {
				return frame{}, fr.protocolErr(start, ErrTooLarge, "line is longer than the limit")
			}
			if len(line) == 0 {
				return frame{}, fr.protocolErr(start, ErrMalformed, "empty line")
			}
			if !json.Valid(line) {
				return frame{}, fr.protocolErr(start, ErrMalformed, "line is not valid JSON")
			}
			if fr.lend {
				return frame{kind: KindJSON, data: line[:len(line):len(line)], offset: start, lent: true}, nil
			}
			return frame{kind: KindJSON, data: bytes.Clone(line), offset: start}, nil
		}
		fr.scan = fr.w - fr.r
		if fr.scan > fr.max {
			return frame{}, fr.protocolErr(fr.off, ErrTooLarge, "no newline within the size limit")
		}
		if err := fr.fill(); err != nil {
			if errors.Is(err, io.EOF) && fr.w > fr.r {
				return frame{}, fr.protocolErr(fr.off, ErrMalformed, "stream ended inside a message")
			}
			return frame{}, err
		}
	}
}

func (fr *frameReader) nextFast() (frame, error) {
	if !fr.inCur {
		for fr.w-fr.r < fastHeaderLen {
			if err := fr.fill(); err != nil {
				if errors.Is(err, io.EOF) && fr.w > fr.r {
					return frame{}, fr.protocolErr(fr.off, ErrMalformed, "stream ended inside a frame header")
				}
				return frame{}, err
			}
		}
		h := fr.buf[fr.r : fr.r+fastHeaderLen]
		size := binary.BigEndian.Uint32(h)
		f := frame{kind: Kind(h[4]), htype: h[5], offset: fr.off}
		if f.kind != KindJSON && f.kind != KindBytes {
			return frame{}, fr.protocolErr(f.offset, ErrMalformed, "unknown frame kind")
		}
		if f.htype > handlePacket {
			return frame{}, fr.protocolErr(f.offset, ErrMalformed, "unknown handle type")
		}
		if uint64(size) > uint64(fr.max) {
			return frame{}, fr.protocolErr(f.offset, ErrTooLarge, "frame length is over the limit")
		}
		fr.r += fastHeaderLen
		fr.off += fastHeaderLen
		switch {
		case fr.lend && fr.w-fr.r >= int(size):
			// All of it is in the buffer: lend it from there.
			f.data, f.lent = fr.buf[fr.r:fr.r+int(size):fr.r+int(size)], true
			fr.r += int(size)
			fr.off += int64(size)
			return f, nil
		case fr.lend && size <= maxLend:
			if cap(fr.lendBuf) < int(size) {
				fr.lendBuf = make([]byte, min(max(int(size), 2*cap(fr.lendBuf), readBufSize), maxLend))
			}
			f.data, f.lent = fr.lendBuf[:size:size], true
		default:
			f.data = make([]byte, size)
		}
		n := copy(f.data, fr.buf[fr.r:fr.w])
		fr.r += n
		fr.cur, fr.curN, fr.inCur = f, n, true
	}
	for fr.curN < len(fr.cur.data) {
		var m int
		var err error
		if rest := fr.cur.data[fr.curN:]; fr.readv != nil && len(fr.cur.data) >= len(fr.buf)/4 {
			// A big frame: read the rest of it in place and, in the same
			// call, at most scatterTail bytes of what follows into the
			// (empty) buffer. The next frame's header arrives with this
			// read, and its payload is then read in place in turn instead
			// of being read into the buffer and copied.
			fr.r, fr.w, fr.scan = 0, 0, 0
			var n int
			n, err = fr.readv(rest, fr.buf[:scatterTail])
			m = min(n, len(rest))
			fr.w = n - m
		} else if len(rest) < len(fr.buf)/4 {
			// A small remainder: refill the buffer, so that the frames
			// behind this one arrive in the same read.
			if err = fr.fill(); err == nil {
				m = copy(rest, fr.buf[fr.r:fr.w])
				fr.r += m
			}
		} else {
			// Read the rest straight into the payload: one copy for big frames.
			m, err = fr.read(rest)
		}
		fr.curN += m
		if m == 0 && err != nil {
			if errors.Is(err, io.EOF) {
				return frame{}, fr.protocolErr(fr.cur.offset, ErrMalformed, "stream ended inside a frame")
			}
			return frame{}, err
		}
	}
	f := fr.cur
	fr.cur, fr.curN, fr.inCur = frame{}, 0, false
	fr.off += int64(len(f.data))
	if f.lent && !fr.lend {
		// Begun by a lending read, finished by one that is not.
		f.data, f.lent = bytes.Clone(f.data), false
	}
	return f, nil
}

// appendFastHeader appends a fast-mode frame header.
func appendFastHeader(dst []byte, size int, kind Kind, htype byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(size))
	return append(dst, byte(kind), htype)
}
