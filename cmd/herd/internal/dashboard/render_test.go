package dashboard

import "testing"

// TestDurations: the server writes durations as the pages' scripts do
// (app.js's dur and jobs.js's dur), so a row does not change when the
// script draws it again.
func TestDurations(t *testing.T) {
	for _, tc := range []struct {
		ms        int64
		app, jobs string
	}{
		{0, "-", "0ms"},
		{850, "0s", "850ms"},
		{4200, "4s", "4.2s"},
		{59_999, "59s", "60.0s"},
		{60_000, "1m00s", "1m00s"},
		{187_000, "3m07s", "3m07s"},
		{3_720_000, "1h02m", "1h02m"},
		{172_799_000, "47h59m", "47h59m"},
		{172_800_000, "2d", "2d"},
	} {
		if got := appDur(tc.ms); got != tc.app {
			t.Errorf("appDur(%d) = %q, want %q", tc.ms, got, tc.app)
		}
		if got := jobsDur(tc.ms); got != tc.jobs {
			t.Errorf("jobsDur(%d) = %q, want %q", tc.ms, got, tc.jobs)
		}
	}
}
