package main

import (
	"context"
	"math"
	"os"
	"os/exec"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The smoke pass: the daemon, the demo and the browser start, both pages
// load and paint, and every row has positive, finite samples (the numbers
// themselves are not checked: the machine is shared).
func TestQuick(t *testing.T) {
	chrome, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed: .ci/run installs it")
		}
		t.Skip("chromium is not installed (apt-get install chromium)")
	}
	rep, err := run(context.Background(), 2, "", chrome)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 8 {
		t.Errorf("%d rows, want 8 (the floor, the page of one line after a dashboard page, and 3 per page)", len(rep.Rows))
	}
	for _, r := range rep.Rows {
		if want := 2 + 2*boolInt(strings.HasPrefix(r.Name, "a page of one line")); len(r.Herd.Samples) != want {
			t.Errorf("%s: %d samples, want %d", r.Name, len(r.Herd.Samples), want)
		}
		for _, v := range r.Herd.Samples {
			if !(v > 0) || math.IsInf(v, 0) {
				t.Errorf("%s: sample %v", r.Name, v)
			}
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
