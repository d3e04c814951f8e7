package main

import (
	"context"
	"io"
	"math"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The smoke pass: both daemons start, take their apps, serve their streams
// and metrics, and every row has a positive, finite sample (the numbers
// themselves are not checked: the machine is shared).
func TestQuick(t *testing.T) {
	rep, err := run(context.Background(), config{apps: 2, instances: 2, rounds: 1, scrapes: 3, measure: 500 * time.Millisecond}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Rows {
		for _, s := range append(r.Peers, r.Herd) {
			for _, v := range s.Samples {
				if !(v >= 0) || math.IsInf(v, 0) {
					t.Errorf("%s, %s: sample %v", r.Name, s.Name, v)
				}
			}
			if len(s.Samples) == 0 {
				t.Errorf("%s, %s: no samples", r.Name, s.Name)
			}
		}
	}
}
