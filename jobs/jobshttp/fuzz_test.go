package jobshttp

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var fuzzNow = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

// checkError checks what every refusal must be: a 4xx naming a field, in
// one line of valid text.
func checkError(t *testing.T, e *reqError) {
	t.Helper()
	if e.Status < 400 || e.Status > 499 || e.Field == "" || e.Message == "" || strings.Contains(e.Message, "\n") || !utf8.ValidString(e.Field) {
		t.Fatalf("bad error %+v", e)
	}
}

func FuzzDecodeSubmit(f *testing.F) {
	for _, s := range []string{
		`{"kind":"resize"}`,
		`{"kind":"resize","args":{"width":64,"height":48}}`,
		`{"kind":"echo","args":"x","queue":"q","priority":"high","delay":"90s","max_attempts":3,"timeout":"5m","unique_key":"k"}`,
		`{"kind":"echo","priority":-1,"run_at":"2030-01-02T03:04:05Z"}`,
		`{"kind":"echo","priority":2.5}`,
		`{"kind":"echo","priority":null,"args":null}`,
		`{"kind":"echo","delay":"1s","run_at":"2030-01-02T03:04:05+02:00"}`,
		`{"kind":"echo","kinds":1}`,
		`{"kind":"echo"} {"kind":"echo"}`,
		`[]`, `null`, `"x"`, `{`, ``, `{"kind":"\u0000"}`,
		`{"kind":"echo","max_attempts":1e3}`,
		`{"kind":"echo","timeout":"-5m"}`,
		`{"Kind":"echo","MAX_ATTEMPTS":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, e := decodeSubmit(strings.NewReader(string(b)), fuzzNow)
		if e != nil {
			checkError(t, e)
			return
		}
		o := req.Options
		if req.Kind == "" || strings.TrimSpace(req.Kind) != req.Kind {
			t.Fatalf("accepted kind %q", req.Kind)
		}
		if o.Delay < 0 || o.Timeout < 0 || o.MaxAttempts < 0 || (o.Delay > 0 && !o.RunAt.IsZero()) {
			t.Fatalf("accepted options %+v", o)
		}
		if PriorityName(o.Priority) == "" {
			t.Fatalf("accepted priority %d", o.Priority)
		}
		if raw, ok := req.Args.(json.RawMessage); ok && !json.Valid(raw) {
			t.Fatalf("accepted args %q", raw)
		}
		// What was accepted, written back as a SubmitRequest, decodes to the
		// same request.
		sr := SubmitRequest{Kind: req.Kind, Queue: o.Queue, Priority: PriorityName(o.Priority),
			MaxAttempts: o.MaxAttempts, UniqueKey: o.UniqueKey}
		if raw, ok := req.Args.(json.RawMessage); ok {
			sr.Args = raw
		}
		if o.Delay > 0 {
			sr.Delay = o.Delay.String()
		}
		if o.Timeout > 0 {
			sr.Timeout = o.Timeout.String()
		}
		if !o.RunAt.IsZero() {
			sr.RunAt = o.RunAt.Format(time.RFC3339Nano)
		}
		enc, err := json.Marshal(sr)
		if err != nil {
			t.Fatal(err)
		}
		back, e := decodeSubmit(strings.NewReader(string(enc)), fuzzNow)
		if e != nil {
			t.Fatalf("re-encoded %s refused: %v", enc, e)
		}
		bo := back.Options
		if back.Kind != req.Kind || bo.Queue != o.Queue || bo.Priority != o.Priority || bo.Delay != o.Delay ||
			bo.Timeout != o.Timeout || !bo.RunAt.Equal(o.RunAt) || bo.MaxAttempts != o.MaxAttempts || bo.UniqueKey != o.UniqueKey {
			t.Fatalf("%s -> %+v, re-encoded %s -> %+v", b, req, enc, back)
		}
	})
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"", "state=queued&queue=q&kind=k&limit=10&cursor=abc", "limit=0", "limit=-1",
		"state=nope", "x=1", "limit=1&limit=2", "state=", "limit=99999999999999999999", "%zz", "order=newest&cursor=abc", "order=up"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		flt, e := parseFilter(q, 100)
		if e != nil {
			checkError(t, e)
			return
		}
		if flt.Limit < 0 || flt.Limit > 100 || (flt.State != "" && !strings.Contains("queued scheduled running retrying succeeded failed cancelled", string(flt.State))) {
			t.Fatalf("accepted %+v", flt)
		}
	})
}

func FuzzParseWait(f *testing.F) {
	for _, s := range []string{"", "timeout=30s", "timeout=1h", "timeout=-1s", "timeout=x", "timeout=0", "t=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		d, e := parseWait(q, 30*time.Second, time.Hour)
		if e != nil {
			checkError(t, e)
			return
		}
		if d < 0 || d > time.Hour {
			t.Fatalf("accepted %v", d)
		}
	})
}

func FuzzParsePriority(f *testing.F) {
	for _, s := range []string{"low", "normal", "HIGH", " critical ", "-1", "0", "1", "2", "3", "", "urgent", "+1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePriority(s)
		if err != nil {
			if !strings.Contains(err.Error(), "low, normal, high or critical") {
				t.Fatalf("error %q does not say what to write", err)
			}
			return
		}
		if back, err := ParsePriority(PriorityName(p)); err != nil || back != p {
			t.Fatalf("%q -> %d -> %q -> %d, %v", s, p, PriorityName(p), back, err)
		}
	})
}
