package loadgen

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func server(t *testing.T, h http.HandlerFunc) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func TestCounts(t *testing.T) {
	var hits atomic.Int64
	addr := server(t, func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		if n%10 == 0 {
			http.Error(w, "nope", 500)
			return
		}
		fmt.Fprint(w, "hello")
	})
	for _, ka := range []bool{true, false} {
		hits.Store(0)
		var observed atomic.Int64
		r := Run(context.Background(), Options{Addr: addr, Conns: 4, Requests: 25, KeepAlive: ka, CountBodies: true,
			Observe: func(Sample) { observed.Add(1) }})
		if r.OK+r.Failed != 100 || r.Failed != 10 || r.Bodies["hello"] != 90 || observed.Load() != 100 {
			t.Fatalf("keepalive=%v: %+v observed %d", ka, r, observed.Load())
		}
	}
}

func TestRefused(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	r := Run(context.Background(), Options{Addr: addr, Conns: 2, Requests: 3, Timeout: time.Second})
	if r.OK != 0 || r.Failed != 6 {
		t.Fatalf("%+v", r)
	}
}

func TestDuration(t *testing.T) {
	addr := server(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "x") })
	r := Run(context.Background(), Options{Addr: addr, Conns: 2, KeepAlive: true, Duration: 200 * time.Millisecond})
	if r.OK == 0 || r.Failed != 0 || r.RPS() <= 0 {
		t.Fatalf("%+v", r)
	}
}
