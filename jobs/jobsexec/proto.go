package jobsexec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"unicode/utf8"
)

// Progress is a progress update from a command, written as one line of
// stderr (every mode) or sent as a message (kept processes):
//
//	{"progress":0.5,"note":"resized 3 of 6"}
//
// Fraction is in [0, 1]; Note is optional. It reaches the job as
// jobs.Job.Progress: Get, Wait, Watch and `herd jobs wait --follow` show it.
type Progress struct {
	// Fraction is how far the job is, in [0, 1].
	Fraction float64 `json:"progress"`
	// Note says, optionally, what the job is doing.
	Note string `json:"note,omitempty"`
}

// Reply is one message from a kept command (a line of stdout, or a Node
// IPC message): a progress update, the job's result, or its error.
//
//	{"progress":0.5,"note":"..."}
//	{"result":{"width":64}}
//	{"error":"no such image","permanent":true}
//
// "id", when present, must be the ID of the job it answers; a message for
// another job is dropped with a warning.
type Reply struct {
	// ID is the job the message is about; "" when the message names none.
	ID string
	// Progress is set for a progress update.
	Progress *Progress
	// Result is the job's result (any JSON value, null included) when the
	// message is a result.
	Result json.RawMessage
	// Error is set when the message is an error: the attempt failed.
	Error string
	// Permanent, with Error, fails the job without the attempts it has left.
	Permanent bool
}

// IsResult reports whether r is a result.
func (r Reply) IsResult() bool { return r.Result != nil }

// IsError reports whether r is an error.
func (r Reply) IsError() bool { return r.Error != "" }

// maxExcerpt bounds the bytes of a peer's input quoted in an error.
const maxExcerpt = 120

// excerpt quotes the start of b for an error message.
func excerpt(b []byte) string {
	if len(b) > maxExcerpt {
		b = b[:maxExcerpt]
		for len(b) > 0 && !utf8.Valid(b) {
			b = b[:len(b)-1]
		}
		return fmt.Sprintf("%q...", b)
	}
	return fmt.Sprintf("%q", b)
}

// object decodes b as a JSON object when it looks like one (its first
// byte after spaces is '{'); ok is false for anything else.
func object(b []byte) (m map[string]json.RawMessage, ok bool, err error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil, false, nil
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, false, nil // not JSON: an ordinary line that starts with '{'
	}
	return m, true, nil
}

// ParseProgress reads one line of a command's stderr. ok reports whether
// the line is a progress line: a JSON object with a "progress" key. Every
// other line (ok false) is the command's own log. A progress line whose
// fields are wrong gives ok true and a *ProtocolError that names the field
// and what to write instead.
func ParseProgress(line []byte) (p Progress, ok bool, err error) {
	m, isObj, _ := object(line)
	if !isObj {
		return Progress{}, false, nil
	}
	raw, has := m["progress"]
	if !has {
		return Progress{}, false, nil
	}
	p, err = decodeProgress(m, raw, line)
	return p, true, err
}

// decodeProgress checks the fields of a progress object.
func decodeProgress(m map[string]json.RawMessage, raw json.RawMessage, src []byte) (Progress, error) {
	var p Progress
	if err := json.Unmarshal(raw, &p.Fraction); err != nil || math.IsNaN(p.Fraction) || p.Fraction < 0 || p.Fraction > 1 {
		return Progress{}, &ProtocolError{Problem: fmt.Sprintf(`"progress" must be a number from 0 to 1, such as {"progress":0.5}; got %s in %s`, excerpt(raw), excerpt(src))}
	}
	if n, has := m["note"]; has && string(n) != "null" {
		if err := json.Unmarshal(n, &p.Note); err != nil {
			return Progress{}, &ProtocolError{Problem: fmt.Sprintf(`"note" must be a string, such as {"progress":0.5,"note":"resized"}; got %s`, excerpt(n))}
		}
	}
	return p, nil
}

// ParseReply reads one message of a kept command (a stdout line, or the
// JSON of a Node IPC message). ok reports whether it is a reply: a JSON
// object with a "result", "error" or "progress" key. Anything else (ok
// false) is not for herd: a stdout line is then logged like a stderr line,
// and an IPC message is dropped. A reply whose fields are wrong gives ok
// true and a *ProtocolError.
func ParseReply(b []byte) (r Reply, ok bool, err error) {
	m, isObj, _ := object(b)
	if !isObj {
		return Reply{}, false, nil
	}
	res, hasRes := m["result"]
	errv, hasErr := m["error"]
	prog, hasProg := m["progress"]
	if !hasRes && !hasErr && !hasProg {
		return Reply{}, false, nil
	}
	if id, has := m["id"]; has && string(id) != "null" {
		if json.Unmarshal(id, &r.ID) != nil {
			return Reply{}, true, &ProtocolError{Problem: fmt.Sprintf(`"id" must be the job's ID as a string; got %s`, excerpt(id))}
		}
	}
	switch {
	case hasRes && hasErr && string(errv) != "null":
		return Reply{}, true, &ProtocolError{Problem: fmt.Sprintf(`a reply has either "result" or "error", not both: %s`, excerpt(b))}
	case hasRes:
		r.Result = append(json.RawMessage(nil), bytes.TrimSpace(res)...)
		return r, true, nil
	case hasErr:
		if json.Unmarshal(errv, &r.Error) != nil || r.Error == "" {
			// Any other JSON value (an object, a number) is kept as text.
			r.Error = string(bytes.TrimSpace(errv))
			if r.Error == `""` || r.Error == "null" {
				r.Error = "the command replied with an empty error"
			}
		}
		if pv, has := m["permanent"]; has && string(pv) != "null" {
			if json.Unmarshal(pv, &r.Permanent) != nil {
				return Reply{}, true, &ProtocolError{Problem: fmt.Sprintf(`"permanent" must be true or false; got %s`, excerpt(pv))}
			}
		}
		return r, true, nil
	}
	p, err := decodeProgress(m, prog, b)
	if err != nil {
		return Reply{}, true, err
	}
	r.Progress = &p
	return r, true, nil
}

// ParseResult reads the whole stdout of a one-shot command: one JSON
// value, with spaces and newlines around it allowed. An empty stdout is
// the result null. Anything else is a *ProtocolError that quotes the start
// of stdout and says to keep logs on stderr.
func ParseResult(stdout []byte) (json.RawMessage, error) {
	b := bytes.TrimSpace(stdout)
	if len(b) == 0 {
		return json.RawMessage("null"), nil
	}
	if !json.Valid(b) {
		return nil, &ProtocolError{Problem: fmt.Sprintf("stdout is not one JSON value: %s; print only the result to stdout (such as json.dumps(result)) and write logs to stderr", excerpt(b))}
	}
	return append(json.RawMessage(nil), b...), nil
}
