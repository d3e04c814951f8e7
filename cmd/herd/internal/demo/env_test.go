package demo

import "testing"

func TestParseLimit(t *testing.T) {
	for s, want := range map[string]int64{"": 0, "1": 1, "1000": 1000, "1e8": 1e8, "1e15": 1e15} {
		if got, err := ParseLimit(s); err != nil || got != want {
			t.Errorf("ParseLimit(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"0", "-5", "1.5", "abc", "1e30", "NaN"} {
		if got, err := ParseLimit(s); err == nil {
			t.Errorf("ParseLimit(%q) = %d, want an error", s, got)
		}
	}
}

func TestParsePort(t *testing.T) {
	for s, want := range map[string]int{"": 3000, "0": 0, "8080": 8080, "65535": 65535} {
		if got, err := ParsePort(s); err != nil || got != want {
			t.Errorf("ParsePort(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"-1", "65536", "http", "80x"} {
		if got, err := ParsePort(s); err == nil {
			t.Errorf("ParsePort(%q) = %d, want an error", s, got)
		}
	}
}
