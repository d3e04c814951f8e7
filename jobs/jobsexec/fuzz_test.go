package jobsexec

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

var progressSeeds = []string{
	`{"progress":0.5,"note":"half"}`,
	`{"progress": 1}`,
	`  {"note": "first", "progress": 0}  `,
	`{"progress":1.5}`,
	`{"progress":"50%"}`,
	`{"progress":0.5,"note":7}`,
	`{"progress":null}`,
	`{"progress":-0}`,
	`{"progress":1e-320,"note":"\u2028"}`,
	`{"progress":0.5`,
	`{"result":1}`,
	`Traceback (most recent call last):`,
	`{}`,
	``,
	"{\"progress\":0.5,\"note\":\"\xff\"}",
}

func FuzzParseProgress(f *testing.F) {
	for _, s := range progressSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		p, ok, err := ParseProgress(line)
		if !ok {
			if err != nil || p != (Progress{}) {
				t.Fatalf("not a progress line, yet %+v, %v", p, err)
			}
			return
		}
		if err != nil {
			if p != (Progress{}) {
				t.Fatalf("error %v with %+v", err, p)
			}
			return
		}
		if !(p.Fraction >= 0 && p.Fraction <= 1) {
			t.Fatalf("fraction %v out of [0, 1]", p.Fraction)
		}
		// What herd accepts, written back, reads the same.
		b, merr := json.Marshal(p)
		if merr != nil {
			t.Fatal(merr)
		}
		q, ok, err := ParseProgress(b)
		if !ok || err != nil || q.Fraction != p.Fraction || (q.Note != p.Note && strings.ToValidUTF8(p.Note, "\uFFFD") != q.Note) {
			t.Fatalf("round trip of %+v: %s gives %+v, %v, %v", p, b, q, ok, err)
		}
	})
}

func FuzzParseReply(f *testing.F) {
	for _, s := range progressSeeds {
		f.Add([]byte(s))
	}
	for _, s := range []string{
		`{"id":"01J","result":{"width":64}}`,
		`{"result":null}`,
		`{"result":[1,2,3],"error":null}`,
		`{"result":1,"error":"x"}`,
		`{"error":"no such image","permanent":true}`,
		`{"error":{"code":7}}`,
		`{"error":""}`,
		`{"error":"x","permanent":"yes"}`,
		`{"id":7,"result":1}`,
		`"ready"`,
		`[1,2]`,
		`{"cmd":"NODE_HANDLE"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, ok, err := ParseReply(b)
		if !ok || err != nil {
			if r.Result != nil || r.Progress != nil || r.Error != "" {
				t.Fatalf("ok %v, err %v, yet %+v", ok, err, r)
			}
			return
		}
		kinds := 0
		if r.IsResult() {
			kinds++
			if !json.Valid(r.Result) {
				t.Fatalf("result %q is not JSON", r.Result)
			}
		}
		if r.IsError() {
			kinds++
		}
		if r.Progress != nil {
			kinds++
			if !(r.Progress.Fraction >= 0 && r.Progress.Fraction <= 1) {
				t.Fatalf("fraction %v", r.Progress.Fraction)
			}
		}
		if kinds != 1 {
			t.Fatalf("a reply of %d kinds: %+v", kinds, r)
		}
		if r.Permanent && !r.IsError() {
			t.Fatalf("permanent without an error: %+v", r)
		}
	})
}

func FuzzParseResult(f *testing.F) {
	for _, s := range []string{`{"width":64}`, "  42\n", "", "\n\n", `"text"`, "null", "not json", `{"a":1}{"b":2}`, "[1,", "\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseResult(b)
		if err != nil {
			if r != nil {
				t.Fatalf("error %v with result %q", err, r)
			}
			return
		}
		if !json.Valid(r) {
			t.Fatalf("result %q from %q is not JSON", r, b)
		}
	})
}

// FuzzLineWriter writes data in two pieces, split at cut, and checks the
// lines against a plain split.
func FuzzLineWriter(f *testing.F) {
	for _, s := range []string{"a\nb\n", "a\r\nbb", "", "\n\n\n", "0123456789abcdef\nx", "012345678901234567890\n1\n", "\r\r\n"} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, cut uint8) {
		const max = 16
		var got []string
		w := newLineWriter(max, func(b []byte, truncated bool) {
			if len(b) > max {
				t.Fatalf("line of %d bytes", len(b))
			}
			if truncated != (len(b) == max && truncated) {
				t.Fatalf("truncated line of %d bytes", len(b))
			}
			got = append(got, string(b))
		})
		c := min(int(cut), len(data))
		w.Write(data[:c])
		w.Write(data[c:])
		w.Close()
		var want []string
		lines := bytes.Split(data, []byte("\n"))
		if len(lines[len(lines)-1]) == 0 {
			lines = lines[:len(lines)-1]
		}
		for _, l := range lines {
			if len(l) > max {
				want = append(want, string(l[:max]))
				continue
			}
			want = append(want, string(bytes.TrimSuffix(l, []byte("\r"))))
		}
		if strings.Join(got, "|") != strings.Join(want, "|") || len(got) != len(want) {
			t.Fatalf("lines %q, want %q", got, want)
		}
	})
}
