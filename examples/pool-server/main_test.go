package main

import (
	"context"
	"io"
	"sync"
	"testing"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/internal/testutil"
)

func TestMain(m *testing.M) {
	child.Dispatch()
	testutil.VerifyTestMain(m)
}

func TestServer(t *testing.T) {
	base, _, stop := testutil.StartRun(t, run, map[string]string{"PORT": "0", "WORKERS": "2"}, "listening on ")

	if got := testutil.GetOK(t, base+"/"); got != "OK" {
		t.Fatalf("GET / = %q", got)
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got := testutil.GetOK(t, base+"/heavy"); got != "Result is 209999997829288740" {
				t.Errorf("GET /heavy = %q", got)
			}
		}()
	}
	// The server answers / while /heavy runs on the pool.
	if got := testutil.GetOK(t, base+"/"); got != "OK" {
		t.Fatalf("GET / = %q", got)
	}
	wg.Wait()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestBadEnv(t *testing.T) {
	for _, env := range []map[string]string{{"PORT": "x"}, {"WORKERS": "0"}} {
		if err := run(context.Background(), io.Discard, func(k string) string { return env[k] }); err == nil {
			t.Errorf("%v: no error", env)
		}
	}
}
