package main

import (
	"context"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/internal/testutil"
)

func TestMain(m *testing.M) {
	child.Dispatch()
	testutil.VerifyTestMain(m)
}

func get(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 60 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s %s", url, resp.Status, b)
	}
	return string(b)
}

func TestServer(t *testing.T) {
	base, _, stop := testutil.StartRun(t, run, map[string]string{"PORT": "0", "WORKERS": "2"}, "listening on ")

	if got := get(t, base+"/"); got != "OK" {
		t.Fatalf("GET / = %q", got)
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got := get(t, base+"/heavy"); got != "Result is 209999997829288740" {
				t.Errorf("GET /heavy = %q", got)
			}
		}()
	}
	// The server answers / while /heavy runs on the pool.
	if got := get(t, base+"/"); got != "OK" {
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
