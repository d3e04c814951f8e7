package daemon

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/herdrun/herd/cmd/herd/internal/app"
	"github.com/herdrun/herd/cmd/herd/internal/runner"
	"github.com/herdrun/herd/internal/guard"
)

// BenchmarkMetricsScrape times one /metrics scrape of a daemon with 10
// apps of 4 instances each, every instance under a guard as in the herd
// command (this test binary acts as the guard: TestMain) (go test -bench
// MetricsScrape -run '^$').
func BenchmarkMetricsScrape(b *testing.B) {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	saved := runner.Guard
	runner.Guard = func(cmd []string, _ string, grace time.Duration, stop syscall.Signal) []string {
		return guard.CommandSignal(exe, os.Getpid(), grace, stop, cmd)
	}
	defer func() { runner.Guard = saved }()
	h := HomeAt(filepath.Join(b.TempDir(), "home"))
	d := New(Config{Home: h, Version: "bench"})
	ran := make(chan error, 1)
	go func() { ran <- d.Run(context.Background()) }()
	c := NewClient(h, "bench")
	defer c.Close()
	ctx := context.Background()
	for end := 0; ; end++ {
		if _, err := c.Ping(ctx); err == nil {
			break
		}
		if end > 1000 {
			b.Fatal("no daemon")
		}
	}
	var specs []Spec
	for i := range 10 {
		specs = append(specs, Spec{App: app.App{Name: fmt.Sprintf("a%d", i), Command: []string{"/bin/sh", "-c", "exec sleep 300"}, Instances: 4}})
	}
	if rs, err := c.Start(ctx, specs); err != nil || len(rs.Results) != 10 {
		b.Fatalf("start: %+v %v", rs, err)
	}
	defer func() {
		c.Kill(ctx)
		<-ran
	}()
	srv := httptest.NewServer(d.MetricsHandler())
	defer srv.Close()
	// cpu-ms/op is the CPU time of this process (the daemon and the
	// client) per scrape: steadier than the time on a loaded machine.
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	b.ResetTimer()
	for b.Loop() {
		resp, err := http.Get(srv.URL)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	b.ReportMetric(float64(cpu.Microseconds())/1e3/float64(b.N), "cpu-ms/op")
}
