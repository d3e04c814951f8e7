package workers

import (
	"encoding/binary"
	"errors"
)

// The wire between a pool and a worker process. Every ipc frame after the
// start-up message is a KindBytes frame holding one or more records, so
// that many tasks or results cost one write and one read:
//
//	task    'T' seq:uvarint nameLen:uvarint name payloadLen:uvarint payload
//	cancel  'C' seq:uvarint
//	message 'M' kind:byte len:uvarint payload        (single Thread, both ways)
//	ack     'A' seq:uvarint   every task up to seq was received and started
//	result  'R' seq:uvarint status:byte len:uvarint payload
//	ready   'O'
//	exit    'E' status:byte len:uvarint payload      (single Thread's function ended)
//
// seq numbers are per worker, from 1, in the order tasks were written. A
// worker takes tasks in seq order and writes each task's ack before it
// starts that task (in the same frame as the result of the task its runner
// just finished, when there is one), so the parent knows exactly which
// tasks a dead worker never started.
const (
	recTask    = 'T'
	recCancel  = 'C'
	recMessage = 'M'
	recAck     = 'A'
	recResult  = 'R'
	recReady   = 'O'
	recExit    = 'E'
)

// Result statuses.
const (
	statusOK      = 0
	statusError   = 1 // payload: error text
	statusPanic   = 2 // payload: value, NUL, stack
	statusUnknown = 3 // payload: error text; the task is not registered
	statusCodec   = 4 // payload: error text
)

var errShortRecord = errors.New("workers: truncated record from peer")

func appendTaskRec(b []byte, seq uint64, name string, payload []byte) []byte {
	b = append(b, recTask)
	b = binary.AppendUvarint(b, seq)
	b = binary.AppendUvarint(b, uint64(len(name)))
	b = append(b, name...)
	b = binary.AppendUvarint(b, uint64(len(payload)))
	return append(b, payload...)
}

func appendSeqRec(b []byte, kind byte, seq uint64) []byte {
	b = append(b, kind)
	return binary.AppendUvarint(b, seq)
}

func appendResultRec(b []byte, seq uint64, status byte, payload []byte) []byte {
	b = append(b, recResult)
	b = binary.AppendUvarint(b, seq)
	b = append(b, status)
	b = binary.AppendUvarint(b, uint64(len(payload)))
	return append(b, payload...)
}

// appendKindRec appends a record made of a kind, a status or kind byte, and a
// payload: messages and exits.
func appendKindRec(b []byte, kind, sub byte, payload []byte) []byte {
	b = append(b, kind, sub)
	b = binary.AppendUvarint(b, uint64(len(payload)))
	return append(b, payload...)
}

// rec is one decoded record. Slices point into the frame.
type rec struct {
	kind    byte
	seq     uint64
	name    []byte
	sub     byte // result or exit status, message kind
	payload []byte
}

// recReader walks the records of a frame.
type recReader struct {
	b   []byte
	err error
}

func (r *recReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errShortRecord
		r.b = nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recReader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = errShortRecord
		r.b = nil
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *recReader) byte1() byte {
	if len(r.b) == 0 {
		r.err = errShortRecord
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

// next decodes the next record; ok is false at the end of the frame or on
// a malformed record (then r.err is set).
func (r *recReader) next() (x rec, ok bool) {
	if len(r.b) == 0 || r.err != nil {
		return rec{}, false
	}
	x.kind = r.byte1()
	switch x.kind {
	case recTask:
		x.seq = r.uvarint()
		x.name = r.bytes()
		x.payload = r.bytes()
	case recCancel, recAck:
		x.seq = r.uvarint()
	case recResult:
		x.seq = r.uvarint()
		x.sub = r.byte1()
		x.payload = r.bytes()
	case recMessage, recExit:
		x.sub = r.byte1()
		x.payload = r.bytes()
	case recReady:
	default:
		r.err = errors.New("workers: unknown record from peer")
	}
	return x, r.err == nil
}
