package jobs

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// FuzzDecodeRecord: whatever the store holds, decoding never panics, and a
// record it accepts encodes and decodes to the same record.
func FuzzDecodeRecord(f *testing.F) {
	r := &record{ID: "01ARZ3NDEKTSV4RRFFQ69G5FAV", Kind: "k", Queue: "default", State: StateQueued, MaxAttempts: 3, Timeout: time.Minute, Args: []byte(`{"a":1}`), Created: 1}
	f.Add(r.encode())
	r.State, r.Result, r.Gen, r.Attempt = StateSucceeded, []byte(`"x"`), 2, 3
	f.Add(r.encode())
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"id":"01ARZ3NDEKTSV4RRFFQ69G5FAV","queue":"a.b","state":"queued","max_attempts":1,"timeout":1}`))
	f.Add([]byte(`{"id":"01ARZ3NDEKTSV4RRFFQ69G5FAV","queue":"q","state":"bogus"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		r2, err := decodeRecord(r.encode())
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if string(r2.encode()) != string(r.encode()) {
			t.Fatalf("round trip changed the record:\n%s\n%s", r.encode(), r2.encode())
		}
		_ = r.info()
	})
}

// FuzzParseCancel: a cancel broadcast from the network never panics the
// parser, and what it accepts is what cancelMsg writes.
func FuzzParseCancel(f *testing.F) {
	f.Add(cancelMsg("01ARZ3NDEKTSV4RRFFQ69G5FAV", 0))
	f.Add(cancelMsg("01ARZ3NDEKTSV4RRFFQ69G5FAV", 12))
	f.Add([]byte("x 1"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		id, gen, ok := parseCancel(b)
		if !ok {
			return
		}
		if id2, gen2, ok2 := parseCancel(cancelMsg(id, gen)); !ok2 || id2 != id || gen2 != gen {
			t.Fatalf("%q: round trip gave %q %d %v", b, id2, gen2, ok2)
		}
	})
}

// FuzzParseLine: whatever a file holds, the import parser never panics;
// a bad line is an *ImportError naming it, and a job it accepts is a
// record the store can hold, which exports to a line that parses to the
// same record.
func FuzzParseLine(f *testing.F) {
	f.Add([]byte(`{"herd_jobs":1,"prefix":"herd","exported":"2026-12-07T14:00:00Z"}`), true)
	f.Add([]byte(`{"herd_jobs":2}`), true)
	f.Add([]byte(`{"type":"job"}`), true)
	f.Add([]byte(`{"type":"kind","name":"resize","worker":"h:1"}`), false)
	f.Add([]byte(`{"type":"unique","key":"k","id":"01ARZ3NDEKTSV4RRFFQ69G5FAV","expires":"2026-12-08T14:00:00Z"}`), false)
	f.Add([]byte(`{"type":"end","jobs":1,"kinds":1,"unique":0}`), false)
	f.Add([]byte(`{"type":"end","jobs":-1}`), false)
	f.Add([]byte(`{"type":"job","id":"01ARZ3NDEKTSV4RRFFQ69G5FAV","kind":"k","queue":"default","priority":"high","state":"succeeded","gen":1,"attempt":2,"max_attempts":3,"timeout":"30m0s","progress":1,"args":{"a":[1,2]},"result":"x\u2028","error":"","retried":1,"created":"2026-12-07T14:00:00.123456789Z","started":"2026-12-07T14:00:01Z","finished":"2026-12-07T14:00:02Z","worker":"h:1"}`), false)
	f.Add([]byte(`{"type":"job","id":"01ARZ3NDEKTSV4RRFFQ69G5FAV","kind":"k","queue":"q","priority":-1,"state":"scheduled","max_attempts":1,"timeout":"1ns","run_at":"2030-01-01T00:00:00+02:00","args":null}`), false)
	f.Add([]byte(`{"type":"job","id":"01ARZ3NDEKTSV4RRFFQ69G5FAV","kind":"k","queue":"q","state":"queued","max_attempts":3,"timeout":"1s","progress":1e999}`), false)
	f.Add([]byte(`{"type":"job","bogus":1}`), false)
	f.Add([]byte(`[`), false)
	f.Add([]byte(``), false)
	f.Fuzz(func(t *testing.T, b []byte, first bool) {
		v, err := parseLine(b, 7, first)
		if err != nil {
			var ie *ImportError
			if !errors.As(err, &ie) || ie.Line != 7 || !errors.Is(err, ErrBadImport) {
				t.Fatalf("%q: error %v is not an *ImportError of line 7", b, err)
			}
			return
		}
		r, ok := v.(*record)
		if !ok {
			return
		}
		if _, err := decodeRecord(r.encode()); err != nil {
			t.Fatalf("%q: accepted a record the store refuses: %v", b, err)
		}
		line, err := json.Marshal(toJobLine(r, r.Result))
		if err != nil {
			t.Fatal(err)
		}
		v2, err := parseLine(line, 1, false)
		if err != nil {
			t.Fatalf("%s: the exported line does not parse: %v", line, err)
		}
		if a, b := string(r.encode()), string(v2.(*record).encode()); a != b {
			t.Fatalf("round trip changed the job:\n%s\n%s", a, b)
		}
	})
}
