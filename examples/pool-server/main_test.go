package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
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
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	env := map[string]string{"PORT": "0", "WORKERS": "2"}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, pw, func(k string) string { return env[k] })
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	base := strings.TrimSpace(strings.TrimPrefix(line, "listening on "))

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
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("server did not stop")
	}
}

func TestBadEnv(t *testing.T) {
	for _, env := range []map[string]string{{"PORT": "x"}, {"WORKERS": "0"}} {
		if err := run(context.Background(), io.Discard, func(k string) string { return env[k] }); err == nil {
			t.Errorf("%v: no error", env)
		}
	}
}
