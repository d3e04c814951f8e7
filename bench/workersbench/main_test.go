package main

import (
	"io"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/internal/testutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	child.Dispatch()
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/herdrun/herd/child.startLoop"),
		// ants starts a default pool, with these, when its package loads.
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers"),
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).ticktock"),
	)
}

// TestQuick runs the -quick smoke pass: every row must have measured
// something on every side. It asserts no speed: the machine may be busy.
func TestQuick(t *testing.T) {
	dir, _ := filepath.Abs("../node")
	testutil.RequireNode(t, filepath.Join(dir, "node_modules", "piscina"))
	r, err := run(quick, "test", dir, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Rows) != 13 {
		t.Fatalf("%d rows, want 13", len(r.Rows))
	}
	for _, row := range r.Rows {
		check := func(name string, xs []float64) {
			if len(xs) == 0 {
				t.Errorf("%s / %s: no samples", row.Name, name)
			}
			for _, x := range xs {
				if math.IsNaN(x) || math.IsInf(x, 0) || x <= 0 {
					t.Errorf("%s / %s: bad sample %v", row.Name, name, x)
				}
			}
		}
		check(row.Herd.Name, row.Herd.Samples)
		for _, p := range row.Peers {
			check(p.Name, p.Samples)
		}
	}
	var sb strings.Builder
	r.Print(&sb)
	t.Log("\n" + sb.String())
}
