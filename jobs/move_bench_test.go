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
	src := openBench(b)
	_ = src.Declare(context.Background(), "noop")
	submitN(b, src, b.N)
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
	src := openBench(b)
	_ = src.Declare(context.Background(), "noop")
	submitN(b, src, b.N)
	var file bytes.Buffer
	if _, err := src.Export(context.Background(), &file); err != nil {
		b.Fatal(err)
	}
	dst := openBench(b)
	b.ResetTimer()
	st, err := dst.Import(context.Background(), &file, ImportOptions{})
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
	src := openBench(b)
	_ = src.Declare(context.Background(), "noop")
	submitN(b, src, b.N)
	var file bytes.Buffer
	if _, err := src.Export(context.Background(), &file); err != nil {
		b.Fatal(err)
	}
	dst, err := Open(context.Background(), Config{URLs: startCluster(b), Replicas: 3})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = dst.Close() })
	b.ResetTimer()
	st, err := dst.Import(context.Background(), &file, ImportOptions{})
	b.StopTimer()
	if err != nil || st.Jobs != b.N {
		b.Fatalf("import: %+v, %v", st, err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}
