package testutil

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// LogStamp matches the timestamp that starts a plain-text line of a herd
// log file: RFC 3339 with milliseconds, then a space.
var LogStamp = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d) `)

// ReadLines returns the lines of file p without their newlines, or nil for
// an empty file. It fails the test if p cannot be read.
func ReadLines(t testing.TB, p string) []string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// Unstamped returns the lines of log file p without their LogStamp,
// reporting an error for each line that has none.
func Unstamped(t testing.TB, p string) []string {
	t.Helper()
	var out []string
	for _, l := range ReadLines(t, p) {
		loc := LogStamp.FindStringIndex(l)
		if loc == nil {
			t.Errorf("%s: line without timestamp: %q", filepath.Base(p), l)
			continue
		}
		out = append(out, l[loc[1]:])
	}
	return out
}

// FDsOn counts this process's open descriptors on path p.
func FDsOn(t testing.TB, p string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && target == p {
			n++
		}
	}
	return n
}
