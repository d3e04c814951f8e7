package jobs

import (
	"context"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The benchmarks report jobs/s (and latency) per operation; b.N is the
// number of jobs. Compare burn-down with raw JetStream:
//
//	go test ./jobs -run '^$' -bench 'BurnDown' -benchtime 50000x -count 3
//
// The burn-down benchmarks also report cpu-us/job, the process's CPU time
// (user + system, every thread, the embedded server's included) over the
// timed span per job: on a loaded machine jobs/s follows the share of the
// cores the process gets, CPU per job hardly.

// cpuTime is the process's CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// span is a timed burn-down: its wall and CPU time from startSpan.
type span struct {
	t0   time.Time
	cpu0 time.Duration
}

// startSpan starts a span now.
func startSpan() span { return span{time.Now(), cpuTime()} }

// stop ends the span and the benchmark's timer, and reports the span's
// CPU time per job (cpu-us/job) and jobs/s, for b.N jobs.
func (sp span) stop(b *testing.B) {
	el, cpu := time.Since(sp.t0), cpuTime()-sp.cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/job")
	b.ReportMetric(float64(b.N)/el.Seconds(), "jobs/s")
}

// rawStream makes c's work-queue stream "raw" holding n messages, each a
// no-op job, and a pull consumer of it that may have 64 messages
// unacknowledged.
func rawStream(b *testing.B, c *Client, n int) (jetstream.Stream, jetstream.Consumer) {
	b.Helper()
	ctx := context.Background()
	s, err := c.js.CreateStream(ctx, jetstream.StreamConfig{Name: "raw", Subjects: []string{"raw.>"}, Retention: jetstream.WorkQueuePolicy})
	if err != nil {
		b.Fatal(err)
	}
	for range n {
		for try := 0; ; try++ {
			_, err := c.js.PublishAsync("raw.q", []byte(`{"kind":"noop"}`))
			if err == nil {
				break
			}
			if try == 100 {
				b.Fatal(err)
			}
			<-c.js.PublishAsyncComplete() // too many pending: let them land
		}
	}
	<-c.js.PublishAsyncComplete()
	cons, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "raw", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 64})
	if err != nil {
		b.Fatal(err)
	}
	return s, cons
}

func openBench(b *testing.B) *Client {
	b.Helper()
	c, err := Open(context.Background(), Config{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}

func submitN(b *testing.B, c *Client, n int) {
	b.Helper()
	reqs := make([]Request, 0, 1000)
	for done := 0; done < n; done += len(reqs) {
		reqs = reqs[:0]
		for i := 0; i < min(1000, n-done); i++ {
			reqs = append(reqs, Request{Kind: "noop"})
		}
		if _, err := c.SubmitMany(context.Background(), reqs); err != nil {
			b.Fatal(err)
		}
	}
}

// waitEmpty waits until the stream holds at most left messages: every job
// acknowledged.
func waitEmpty(b *testing.B, s jetstream.Stream, left uint64) {
	for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		si, err := s.Info(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if si.State.Msgs <= left {
			return
		}
	}
	b.Fatal("the stream never emptied")
}

// BenchmarkBurnDown: b.N queued no-op jobs run by one worker at
// concurrency 64, with herd's state records.
func BenchmarkBurnDown(b *testing.B) {
	c := openBench(b)
	Register(c, "noop", func(ctx context.Context, j *Job[struct{}]) (struct{}, error) { return struct{}{}, nil })
	submitN(b, c, b.N)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	b.ResetTimer()
	sp := startSpan()
	go func() {
		done <- c.Work(ctx, WorkOptions{Queues: map[string]QueueConfig{DefaultQueue: {Concurrency: 64}}})
	}()
	waitEmpty(b, c.work, 1) // the keep message stays
	sp.stop(b)
	cancel()
	<-done
}

// BenchmarkBurnDownRawJetStream: the floor: b.N messages published to a
// work-queue stream, then consumed (pull, 64 outstanding, pipelined) and acknowledged, with
// no state kept.
func BenchmarkBurnDownRawJetStream(b *testing.B) {
	c := openBench(b)
	s, cons := rawStream(b, c, b.N)
	b.ResetTimer()
	sp := startSpan()
	var got atomic.Int64
	all := make(chan struct{})
	cc, err := cons.Consume(func(m jetstream.Msg) {
		_ = m.Ack()
		if got.Add(1) == int64(b.N) {
			close(all)
		}
	}, jetstream.PullMaxMessages(64))
	if err != nil {
		b.Fatal(err)
	}
	<-all
	cc.Stop()
	waitEmpty(b, s, 0)
	sp.stop(b)
}

// BenchmarkSubmit: one Submit at a time.
func BenchmarkSubmit(b *testing.B) {
	c := openBench(b)
	_ = c.Declare(context.Background(), "noop")
	ctx := context.Background()
	b.ResetTimer()
	t0 := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := c.Submit(ctx, "noop", nil, SubmitOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "jobs/s")
}

// BenchmarkSubmitMany: SubmitMany in batches of 1000.
func BenchmarkSubmitMany(b *testing.B) {
	c := openBench(b)
	_ = c.Declare(context.Background(), "noop")
	b.ResetTimer()
	t0 := time.Now()
	submitN(b, c, b.N)
	b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "jobs/s")
}

// BenchmarkSubmitToResult: Submit then Wait, one job at a time; reports
// the p50 and p99 of the round trip.
func BenchmarkSubmitToResult(b *testing.B) {
	c := openBench(b)
	Register(c, "noop", func(ctx context.Context, j *Job[struct{}]) (struct{}, error) { return struct{}{}, nil })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Work(ctx, WorkOptions{}) }()
	defer func() { cancel(); <-done }()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		id, err := c.Submit(ctx, "noop", nil, SubmitOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Wait(ctx, id); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkWaits: b.N concurrent Waits on queued jobs; reports the memory
// they add (heap and goroutine stacks) in MB.
func BenchmarkWaits(b *testing.B) {
	c := openBench(b)
	_ = c.Declare(context.Background(), "noop")
	ids := make([]string, 0, b.N)
	for done := 0; done < b.N; {
		reqs := make([]Request, min(1000, b.N-done))
		for i := range reqs {
			reqs[i] = Request{Kind: "noop"}
		}
		got, err := c.SubmitMany(context.Background(), reqs)
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, got...)
		done += len(got)
	}
	// Start the shared watch before measuring.
	w, _ := c.hub.add(context.Background(), "x")
	c.hub.remove("x", w)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var waiting atomic.Int64
	b.ResetTimer()
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			waiting.Add(1)
			_, _ = c.Wait(ctx, id)
		}()
	}
	for waiting.Load() < int64(len(ids)) {
		time.Sleep(time.Millisecond)
	}
	for {
		c.hub.mu.Lock()
		n := len(c.hub.w)
		c.hub.mu.Unlock()
		if n == len(ids) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // let the Gets return
	runtime.GC()
	runtime.GC() // a second cycle shrinks the stacks the Gets grew
	runtime.ReadMemStats(&after)
	b.StopTimer()
	added := float64(after.HeapInuse+after.StackInuse) - float64(before.HeapInuse+before.StackInuse)
	b.ReportMetric(added/(1<<20), "MB")
	b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/(1<<20), "heap-MB")
	b.ReportMetric(float64(after.StackInuse-before.StackInuse)/(1<<20), "stack-MB")
	cancel()
	wg.Wait()
}

// BenchmarkBurnDownRawJetStreamWrites: the floor of any engine that
// records a job's state per job: the raw burn-down (pull, 64 outstanding,
// ack) plus 1 or 2 compare-and-swap writes per message to a key of herd's
// state bucket, the message acknowledged once the last write is stored (as
// herd acknowledges once the outcome is stored). herd's burn-down writes
// two (running, then the outcome); the gap between this floor and
// BenchmarkBurnDown is herd's own code.
func BenchmarkBurnDownRawJetStreamWrites(b *testing.B) {
	for _, writes := range []int{1, 2} {
		b.Run(strconv.Itoa(writes), func(b *testing.B) { benchRawWrites(b, writes) })
	}
}

func benchRawWrites(b *testing.B, writes int) {
	c := openBench(b)
	s, cons := rawStream(b, c, b.N)
	rec := newBenchRecord().encode()
	b.ResetTimer()
	sp := startSpan()
	var got atomic.Int64
	all := make(chan struct{})
	done := func(m jetstream.Msg) {
		_ = m.Ack()
		if got.Add(1) == int64(b.N) {
			close(all)
		}
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		md, err := m.Metadata()
		if err != nil {
			b.Error(err)
			return
		}
		subj := c.stateSubj("k" + strconv.FormatUint(md.Sequence.Stream, 10))
		var rev uint64
		for w := 1; w <= writes; w++ {
			sm := nats.NewMsg(subj)
			sm.Data = rec
			f, err := c.js.PublishMsgAsync(sm, jetstream.WithExpectLastSequencePerSubject(rev))
			if err != nil {
				b.Error(err)
				return
			}
			if w < writes { // the running write: wait, as a worker does
				select {
				case a := <-f.Ok():
					rev = a.Sequence
				case err := <-f.Err():
					b.Error(err)
					return
				}
				continue
			}
			go func() { // the outcome: ack once stored
				select {
				case <-f.Ok():
				case err := <-f.Err():
					b.Error(err)
				}
				done(m)
			}()
		}
	}, jetstream.PullMaxMessages(64), jetstream.PullExpiry(time.Second))
	if err != nil {
		b.Fatal(err)
	}
	<-all
	cc.Stop()
	waitEmpty(b, s, 0)
	sp.stop(b)
}

// newBenchRecord is a running record of the size herd writes for a no-op
// job.
func newBenchRecord() *record {
	now := stampNow()
	return &record{ID: newID(), Kind: "noop", Queue: DefaultQueue, State: StateRunning, Attempt: 1, MaxAttempts: DefaultMaxAttempts,
		Timeout: DefaultTimeout, Created: now, Started: now, Worker: "host:1234"}
}
