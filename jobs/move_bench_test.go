package jobs

import (
	"bytes"
	"context"
	"testing"
)

// BenchmarkExport and BenchmarkImport move b.N queued jobs out of one
// embedded store and into another, and report jobs/s (and the file's
// bytes per job):
//
//	go test ./jobs -run '^$' -bench 'Export|Import' -benchtime 20000x -count 3
func BenchmarkExport(b *testing.B) {
	src := queuedStore(b, b.N)
	var file countWriter
	b.ResetTimer()
	if _, err := src.Export(context.Background(), &file); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
	b.ReportMetric(float64(file)/float64(b.N), "B/job")
}

func BenchmarkImport(b *testing.B) {
	file := exportN(b, b.N)
	dst := openBench(b)
	timeImport(b, dst, file)
}

// queuedStore opens an embedded store holding n queued no-op jobs.
func queuedStore(b *testing.B, n int) *Client {
	b.Helper()
	c := openBench(b)
	_ = c.Declare(context.Background(), "noop")
	submitN(b, c, n)
	return c
}

// exportN returns the export of a store holding n queued no-op jobs.
func exportN(b *testing.B, n int) *bytes.Buffer {
	b.Helper()
	var file bytes.Buffer
	if _, err := queuedStore(b, n).Export(context.Background(), &file); err != nil {
		b.Fatal(err)
	}
	return &file
}

// timeImport imports file, b.N jobs, into dst with the benchmark's timer
// running only then, and reports jobs/s.
func timeImport(b *testing.B, dst *Client, file *bytes.Buffer) {
	b.Helper()
	b.ResetTimer()
	st, err := dst.Import(context.Background(), file, ImportOptions{})
	b.StopTimer()
	if err != nil || st.Jobs != b.N {
		b.Fatalf("import: %+v, %v", st, err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}

// countWriter counts the bytes written to it and keeps none.
type countWriter int

func (w *countWriter) Write(b []byte) (int, error) {
	*w += countWriter(len(b))
	return len(b), nil
}

// BenchmarkImportR3: b.N queued jobs from an embedded store into a
// three-node loopback cluster at Replicas 3.
//
//	go test ./jobs -run '^$' -bench 'ImportR3' -benchtime 10000x -count 3
func BenchmarkImportR3(b *testing.B) {
	file := exportN(b, b.N)
	dst, err := Open(context.Background(), Config{URLs: startCluster(b), Replicas: 3})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = dst.Close() })
	timeImport(b, dst, file)
}
