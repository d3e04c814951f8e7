package jobs

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// FuzzRecordCodec: the fast decoder reads every input it accepts exactly
// as encoding/json does, and what the encoder writes encoding/json reads
// back as the same record.
func FuzzRecordCodec(f *testing.F) {
	r := &record{ID: "01ARZ3NDEKTSV4RRFFQ69G5FAV", Kind: "k", Queue: "default", State: StateQueued, MaxAttempts: 3, Timeout: time.Minute, Args: []byte(`{"a": [1, "x\"y"]}`), Created: 1}
	f.Add(r.encode())
	r.State, r.Result, r.Gen, r.Attempt, r.Priority, r.Progress, r.Note = StateSucceeded, []byte(`"x"`), 2, 3, PriorityLow, 0.25, "half <way> & \u2028 é"
	r.ResultRef, r.Error, r.Retried, r.Started, r.Finished, r.RunAt, r.Worker = true, "boom\n", 1, 2, 3, 4, "host:1"
	f.Add(r.encode())
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"ID":"x","id":"y"}`))
	f.Add([]byte(`{"id":"a","id":"b","progress":1e-7,"gen":-0,"attempt":01}`))
	f.Add([]byte(`{"args": {"a":1},"result":null,"note":null,"unknown":1}`))
	f.Add([]byte(`{"args":{"a":1} ,"result_ref":false}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast, slow record
		if fast.decodeFast(b) {
			if err := json.Unmarshal(b, &slow); err != nil {
				t.Fatalf("%q: the fast decoder accepted what encoding/json refuses: %v", b, err)
			}
			if !reflect.DeepEqual(fast, slow) {
				t.Fatalf("%q: decoders differ:\nfast %+v\nslow %+v", b, fast, slow)
			}
		} else if err := json.Unmarshal(b, &slow); err != nil {
			return
		}
		if len(slow.Args) > 0 && !json.Valid(slow.Args) || len(slow.Result) > 0 && !json.Valid(slow.Result) {
			return
		}
		enc := slow.encode()
		var back record
		if err := json.Unmarshal(enc, &back); err != nil {
			t.Fatalf("%q: encoding/json refuses the encoding %q: %v", b, enc, err)
		}
		want := slow
		if string(want.Args) == "null" {
			want.Args = back.Args // omitempty keeps "null" as is
		}
		if !reflect.DeepEqual(back, want) && !(want.Progress != want.Progress) {
			t.Fatalf("%q: encode changed the record:\n%+v\n%+v", enc, want, back)
		}
		var again record
		if !again.decodeFast(enc) && plainString(slow.ID+slow.Kind+slow.Queue+string(slow.State)+slow.Note+slow.Error+slow.Worker) {
			t.Fatalf("the fast decoder refuses the plain encoding %q", enc)
		}
	})
}

// FuzzValidToken: validToken agrees with tokenRE.
func FuzzValidToken(f *testing.F) {
	for _, s := range []string{"", "default", "a-b_c9", "a.b", "é", "a b", "-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if validToken(s) != tokenRE.MatchString(s) {
			t.Fatalf("%q: validToken %v, tokenRE %v", s, validToken(s), tokenRE.MatchString(s))
		}
	})
}
