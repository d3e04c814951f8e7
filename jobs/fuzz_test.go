package jobs

import (
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
