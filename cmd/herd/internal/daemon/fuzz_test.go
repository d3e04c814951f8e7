package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ReadDump reads files from disk that anything may have written: it
// returns a Dump or an error, never panics.
func FuzzReadDump(f *testing.F) {
	f.Add([]byte(`{"format": 1, "herd": "x", "saved": "2026-01-02T03:04:05Z", "apps": [{"app": {"name": "a", "command": ["/bin/true"]}, "env": ["A=1"], "stopped": true}]}`))
	f.Add([]byte(`{"format": 1, "apps": [`))
	f.Add([]byte(`{"format": 1, "apps": [{"app": {"name": "all", "command": ["x"]}}]}`))
	f.Add([]byte(`{"format": 1, "apps": [{"app": {"name": "a", "command": ["x"], "instances": -5}}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "dump.json")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		d, _, err := ReadDump(p)
		if err == nil {
			for _, a := range d.Apps {
				if a.App.Name == "" || len(a.App.Command) == 0 {
					t.Fatalf("accepted an app without name or command: %+v", a)
				}
			}
		}
	})
}

// parseLine reads log files: it never panics, and what it accepts formats
// back to the same line.
func FuzzParseLine(f *testing.F) {
	f.Add("2026-01-02T03:04:05.006Z web[0] | hello")
	f.Add("2026-01-02T03:04:05.006Z herd web | instance ready")
	f.Add("2026-01-02T03:04:05.006+02:00 a[b][12] | x | y")
	f.Add("garbage")
	f.Fuzz(func(t *testing.T, s string) {
		l, ok := parseLine(s, "stdout")
		if !ok || strings.ContainsAny(s, "\n") {
			return
		}
		if got := strings.TrimSuffix(formatLine(l), "\n"); got != s {
			// The time may be spelled differently (a zone name);
			// the rest must be equal.
			_, r1, _ := strings.Cut(got, " ")
			_, r2, _ := strings.Cut(s, " ")
			if r1 != r2 {
				t.Fatalf("%q formats back as %q", s, got)
			}
		}
	})
}
