package main

import (
	"context"
	"testing"
	"time"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/internal/testutil"
)

func TestMain(m *testing.M) {
	child.Dispatch()
	testutil.VerifyTestMain(m)
}

func TestExactTotal(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for range 3 {
		total, err := count(ctx, numWorkers, perWorker)
		if err != nil {
			t.Fatal(err)
		}
		if total != numWorkers*perWorker {
			t.Fatalf("counter = %d, want %d", total, numWorkers*perWorker)
		}
	}
}
