package child

import (
	"bufio"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

func collect(t *testing.T, r interface{ Read([]byte) (int, error) }) ([]string, []error) {
	t.Helper()
	var lines []string
	var errs []error
	for l, err := range Lines(r) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		lines = append(lines, l)
	}
	return lines, errs
}

func TestLinesCRLF(t *testing.T) {
	lines, errs := collect(t, strings.NewReader("a\r\nb\n\r\nc\r"))
	if want := []string{"a", "b", "", "c"}; !slices.Equal(lines, want) || errs != nil {
		t.Fatalf("got %q %v, want %q", lines, errs, want)
	}
}

func TestLinesLong(t *testing.T) {
	long := strings.Repeat("x", 1<<20)
	lines, errs := collect(t, strings.NewReader("short\n"+long+"\r\nend"))
	if len(lines) != 3 || lines[0] != "short" || lines[1] != long || lines[2] != "end" || errs != nil {
		t.Fatalf("got %d lines, errs %v", len(lines), errs)
	}
	_, errs = collect(t, strings.NewReader(long+"x\n"))
	if len(errs) != 1 || !errors.Is(errs[0], bufio.ErrTooLong) {
		t.Fatalf("over 1 MiB: errs %v", errs)
	}
}

func TestLinesReadError(t *testing.T) {
	boom := errors.New("boom")
	r := iotest.DataErrReader(strings.NewReader("a\nb"))
	lines, errs := collect(t, r)
	if !slices.Equal(lines, []string{"a", "b"}) || errs != nil {
		t.Fatalf("EOF is not an error: %q %v", lines, errs)
	}
	n := 0
	for l, err := range Lines(iotest.ErrReader(boom)) {
		n++
		if l != "" || !errors.Is(err, boom) {
			t.Fatalf("got (%q, %v)", l, err)
		}
	}
	if n != 1 {
		t.Fatalf("error yielded %d times", n)
	}
}

func TestLinesBreak(t *testing.T) {
	n := 0
	for range Lines(strings.NewReader("1\n2\n3\n")) {
		n++
		if n == 2 {
			break
		}
	}
	if n != 2 {
		t.Fatalf("n = %d", n)
	}
}
