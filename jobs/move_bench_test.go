package jobs

import (
	"bytes"
	"context"
	"runtime"
	"testing"
	"time"
)

// BenchmarkExport and BenchmarkImport move b.N queued jobs (with small
// args) out of one embedded store and into another; they report jobs/s,
// the file's bytes per job, and the largest heap seen while it runs above
// the heap before (Export streams: it should not grow with b.N).
//
//	go test ./jobs -run '^$' -bench 'Export|Import' -benchtime 20000x -count 3
func BenchmarkExport(b *testing.B) {
	src := openBench(b)
	_ = src.Declare(context.Background(), "noop")
	submitN(b, src, b.N)
	var file bytes.Buffer
	file.Grow(b.N * 400)
	peak := heapPeak(b, func() {
		if _, err := src.Export(context.Background(), &file); err != nil {
			b.Fatal(err)
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
	b.ReportMetric(float64(file.Len())/float64(b.N), "B/job")
	b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
}

func BenchmarkImport(b *testing.B) {
	src := openBench(b)
	_ = src.Declare(context.Background(), "noop")
	submitN(b, src, b.N)
	var file bytes.Buffer
	if _, err := src.Export(context.Background(), &file); err != nil {
		b.Fatal(err)
	}
	dst := openBench(b)
	peak := heapPeak(b, func() {
		st, err := dst.Import(context.Background(), bytes.NewReader(file.Bytes()), ImportOptions{})
		if err != nil || st.Jobs != b.N {
			b.Fatalf("import: %+v, %v", st, err)
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
}

// heapPeak times fn and returns the largest heap growth seen while it
// ran, sampled every 5 ms.
func heapPeak(b *testing.B, fn func()) uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	base := m.HeapAlloc
	stop := make(chan struct{})
	done := make(chan uint64)
	go func() {
		var peak uint64
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > base && m.HeapAlloc-base > peak {
				peak = m.HeapAlloc - base
			}
			select {
			case <-stop:
				done <- peak
				return
			case <-t.C:
			}
		}
	}()
	b.ResetTimer()
	fn()
	b.StopTimer()
	close(stop)
	return <-done
}
