package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/internal/testutil"
	"github.com/herdrun/herd/workers"
)

func TestMain(m *testing.M) {
	child.Dispatch()
	testutil.VerifyTestMain(m)
}

const want = "209999997829288740"

func TestRunHeavyTask(t *testing.T) {
	for _, be := range []workers.Backend{workers.Goroutines, workers.Processes} {
		t.Run(be.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			got, err := runHeavyTask(ctx, 42, be)
			if err != nil {
				t.Fatal(err)
			}
			if s := jsNumber(got); s != want {
				t.Fatalf("Result: %s, want %s", s, want)
			}
		})
	}
}

// TestMatchesNode checks the number against Node's own output for the same
// loop.
func TestMatchesNode(t *testing.T) {
	node := testutil.RequireNode(t)
	out, err := exec.Command(node, "-e", "let s=0; for (let i=0;i<1e8;i++) s+=i*42; console.log(`Result: ${s}`)").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != "Result: "+want {
		t.Fatalf("node printed %q", got)
	}
}
