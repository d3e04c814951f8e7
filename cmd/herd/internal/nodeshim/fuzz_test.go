package nodeshim

import "testing"

// FuzzParseRequest: a listen request line from a local process never
// panics, and one that parses has a port in range.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{`{"host":"127.0.0.1","port":3000}`, `{"host":"","port":0}`, `{"port":70000}`,
		`{"host":"::1","port":1}` + "\n", `{"x":1}`, `{}{}`, ``, `[`, `{"host":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRequest(b)
		if err == nil && (r.Port < 0 || r.Port > 65535 || len(r.Host) > 255) {
			t.Fatalf("accepted %+v from %q", r, b)
		}
	})
}
