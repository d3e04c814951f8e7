package logsink

import (
	"strings"
	"testing"
	"time"
)

func TestDateFormat(t *testing.T) {
	tm := time.Date(2026, time.March, 7, 15, 4, 5, 67e6, time.FixedZone("X", 90*60))
	for _, tc := range []struct{ in, want string }{
		{"YYYY-MM-DDTHH:mm:ss", "2026-03-07T15:04:05"}, // PM2's for time: true
		{"YYYY-MM-DD HH:mm:ss.SSS Z", "2026-03-07 15:04:05.067 +01:30"},
		{"YY/M/D h:m:s A ZZ", "26/3/7 3:4:5 PM +0130"},
		{"dddd ddd dd d, MMMM MMM", "Saturday Sat Sa 6, March Mar"},
		{"[at] HH[h] a", "at 15h pm"},
		{"MMMMM", "March3"}, // MMMM then M
		{"S SS SSS", "S SS 067"},
		{"", ""},
	} {
		f, err := ParseDateFormat(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got := f.Format(tm); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{"Y-MM", "YYY", "[open"} {
		if _, err := ParseDateFormat(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("%q: error %v, want one naming the format", bad, err)
		}
	}
}

// FuzzDateFormat: any format parses or fails cleanly, and formats.
func FuzzDateFormat(f *testing.F) {
	for _, s := range []string{"YYYY-MM-DDTHH:mm:ss", "[x] Z ZZ A a", "Y", "[", "SSSS hhh"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if df, err := ParseDateFormat(s); err == nil {
			_ = df.Format(time.Now())
		}
	})
}
