package jobs

import (
	"encoding/json"
	"strconv"
)

// The record codec: a hand-written encoder and a fast decoder for the JSON
// that the encoder writes, because encoding/json's reflection cost a tenth
// of a worker's CPU per job. The format is the one encoding/json gives
// the record's struct tags; the decoder takes the fast path only for the
// plain form the encoder writes (exact keys, no whitespace, no escapes, no
// null) and hands anything else to encoding/json, so both read every input
// alike (FuzzRecordCodec compares them).

// appendTo appends r as JSON to b.
func (r *record) appendTo(b []byte) []byte {
	b = append(b, '{')
	b = appendStrField(b, `"id":`, r.ID)
	b = appendStrField(b, `,"kind":`, r.Kind)
	b = appendStrField(b, `,"queue":`, r.Queue)
	if r.Priority != 0 {
		b = strconv.AppendInt(append(b, `,"priority":`...), int64(r.Priority), 10)
	}
	b = appendStrField(b, `,"state":`, string(r.State))
	b = appendIntField(b, `,"gen":`, int64(r.Gen), true)
	b = appendIntField(b, `,"attempt":`, int64(r.Attempt), true)
	b = appendIntField(b, `,"max_attempts":`, int64(r.MaxAttempts), false)
	b = appendIntField(b, `,"timeout":`, int64(r.Timeout), false)
	if r.Progress != 0 {
		b = strconv.AppendFloat(append(b, `,"progress":`...), r.Progress, 'g', -1, 64)
	}
	if r.Note != "" {
		b = appendStrField(b, `,"note":`, r.Note)
	}
	if len(r.Args) > 0 {
		b = append(append(b, `,"args":`...), r.Args...)
	}
	if len(r.Result) > 0 {
		b = append(append(b, `,"result":`...), r.Result...)
	}
	if r.ResultRef {
		b = append(b, `,"result_ref":true`...)
	}
	if r.Error != "" {
		b = appendStrField(b, `,"error":`, r.Error)
	}
	b = appendIntField(b, `,"retried":`, int64(r.Retried), true)
	b = appendIntField(b, `,"created":`, int64(r.Created), true)
	b = appendIntField(b, `,"started":`, int64(r.Started), true)
	b = appendIntField(b, `,"finished":`, int64(r.Finished), true)
	b = appendIntField(b, `,"run_at":`, int64(r.RunAt), true)
	if r.Worker != "" {
		b = appendStrField(b, `,"worker":`, r.Worker)
	}
	return append(b, '}')
}

func appendIntField(b []byte, key string, v int64, omitZero bool) []byte {
	if v == 0 && omitZero {
		return b
	}
	return strconv.AppendInt(append(b, key...), v, 10)
}

func appendStrField(b []byte, key, s string) []byte {
	b = append(b, key...)
	if !plainString(s) {
		q, _ := json.Marshal(s) // a string always encodes
		return append(b, q...)
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// plainString reports whether s needs no escaping in JSON: printable ASCII
// other than " \ and the characters encoding/json escapes for HTML.
func plainString[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// decodeFast fills the zero record r from b if b has the encoder's plain
// form; it reports false (r then holds garbage) for anything else.
func (r *record) decodeFast(b []byte) bool {
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return false
	}
	p := 1
	end := len(b) - 1
	if p == end {
		return true
	}
	for {
		// "key":
		if b[p] != '"' {
			return false
		}
		k := p + 1
		for k < end && b[k] != '"' && b[k] != '\\' {
			k++
		}
		if k+1 >= end || b[k] != '"' || b[k+1] != ':' {
			return false
		}
		key := b[p+1 : k]
		p = k + 2
		// The value ends at the next ',' or '}' at depth 0.
		v, ok := valueEnd(b, p, end)
		if !ok {
			return false
		}
		if !r.setField(key, b[p:v]) {
			return false
		}
		p = v
		if p == end {
			return true
		}
		if b[p] != ',' {
			return false
		}
		p++
		if p >= end {
			return false
		}
	}
}

// valueEnd finds where the JSON value at b[p:] ends, before end; the value
// itself is checked later.
func valueEnd(b []byte, p, end int) (int, bool) {
	depth := 0
	for i := p; i < end; i++ {
		switch b[i] {
		case '"':
			i++
			for i < end && b[i] != '"' {
				if b[i] == '\\' {
					i++
				}
				i++
			}
			if i >= end {
				return 0, false
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth < 0 {
				return 0, false
			}
		case ',':
			if depth == 0 {
				return i, i > p
			}
		}
	}
	return end, depth == 0 && end > p
}

func (r *record) setField(key, v []byte) bool {
	var ok bool
	switch string(key) {
	case "id":
		r.ID, ok = plainStr(v)
	case "kind":
		r.Kind, ok = plainStr(v)
	case "queue":
		r.Queue, ok = plainStr(v)
	case "priority":
		ok = setInt(&r.Priority, v)
	case "state":
		r.State, ok = plainState(v)
	case "gen":
		ok = setInt(&r.Gen, v)
	case "attempt":
		ok = setInt(&r.Attempt, v)
	case "max_attempts":
		ok = setInt(&r.MaxAttempts, v)
	case "timeout":
		ok = setInt(&r.Timeout, v)
	case "progress":
		if !jsonNumber(v) {
			return false
		}
		f, err := strconv.ParseFloat(string(v), 64)
		r.Progress, ok = f, err == nil
	case "note":
		r.Note, ok = plainStr(v)
	case "args":
		r.Args, ok = rawValue(v)
	case "result":
		r.Result, ok = rawValue(v)
	case "result_ref":
		switch string(v) {
		case "true":
			r.ResultRef, ok = true, true
		case "false":
			r.ResultRef, ok = false, true
		}
	case "error":
		r.Error, ok = plainStr(v)
	case "retried":
		ok = setInt(&r.Retried, v)
	case "created":
		ok = setInt(&r.Created, v)
	case "started":
		ok = setInt(&r.Started, v)
	case "finished":
		ok = setInt(&r.Finished, v)
	case "run_at":
		ok = setInt(&r.RunAt, v)
	case "worker":
		r.Worker, ok = plainStr(v)
	}
	return ok
}

// setInt reads v as a plain JSON integer (plainInt) into *dst.
func setInt[T ~int | ~int64](dst *T, v []byte) bool {
	n, ok := plainInt(v)
	*dst = T(n)
	return ok
}

// plainStr reads a JSON string without escapes or non-ASCII bytes.
func plainStr(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	s := v[1 : len(v)-1]
	for _, c := range s {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return "", false
		}
	}
	return string(s), true
}

// plainState reads a state; the known ones cost no allocation.
func plainState(v []byte) (State, bool) {
	if len(v) >= 2 {
		for _, s := range [...]State{StateQueued, StateScheduled, StateRunning, StateRetrying, StateSucceeded, StateFailed, StateCancelled} {
			if string(v[1:len(v)-1]) == string(s) && v[0] == '"' && v[len(v)-1] == '"' {
				return s, true
			}
		}
	}
	s, ok := plainStr(v)
	return State(s), ok
}

// plainInt reads a JSON integer: an optional '-' and digits without a
// leading zero, in int64 (int is 64 bits where herd runs; a 32-bit int
// takes the slow path through the range check below).
func plainInt(v []byte) (int64, bool) {
	d := v
	if len(d) > 0 && d[0] == '-' {
		d = d[1:]
	}
	if len(d) == 0 || len(d) > 1 && d[0] == '0' {
		return 0, false
	}
	for _, c := range d {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil || int64(int(n)) != n {
		return 0, false
	}
	return n, true
}

// jsonNumber reports whether v is a number in JSON's grammar.
func jsonNumber(v []byte) bool {
	i := 0
	if i < len(v) && v[i] == '-' {
		i++
	}
	digits := func() bool {
		s := i
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			i++
		}
		return i > s
	}
	if i < len(v) && v[i] == '0' {
		i++
	} else if !digits() {
		return false
	}
	if i < len(v) && v[i] == '.' {
		i++
		if !digits() {
			return false
		}
	}
	if i < len(v) && (v[i] == 'e' || v[i] == 'E') {
		i++
		if i < len(v) && (v[i] == '+' || v[i] == '-') {
			i++
		}
		if !digits() {
			return false
		}
	}
	return i == len(v)
}

// rawValue copies a valid JSON value.
func rawValue(v []byte) (json.RawMessage, bool) {
	if len(v) == 0 || isSpace(v[0]) || isSpace(v[len(v)-1]) || !json.Valid(v) {
		return nil, false
	}
	return append(json.RawMessage(nil), v...), true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
