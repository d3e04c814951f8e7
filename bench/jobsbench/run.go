package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/herdrun/herd/bench/internal/report"
)

// params sizes a run.
type params struct {
	rounds  int
	one     int // jobs per enqueue-one-at-a-time round
	bulk    int // jobs per bulk-enqueue round
	batch   int // jobs per bulk call (all contenders)
	burn    int // no-op jobs per burn-down round
	conc    int // workers in the burn-down and latency rounds
	lat     int // submit -> result samples per round, after warm
	warm    int
	waiters int // concurrent Waits in the memory row
	only    map[string]bool
	poll    time.Duration // River's FetchPollInterval
	profile string        // directory for CPU profiles of herd's side, "" for none
	// replicas, above 1, adds herd and raw JetStream on a three-node
	// loopback cluster with streams of that many replicas, and BullMQ on a
	// Redis with a replica, beside the usual contenders (-replicas).
	replicas int
}

var (
	full  = params{rounds: 3, one: 2000, bulk: 20000, batch: 1000, burn: 50000, conc: 64, lat: 1000, warm: 100, waiters: 10000, poll: 10 * time.Millisecond}
	quick = params{rounds: 1, one: 200, bulk: 2000, batch: 500, burn: 2000, conc: 64, lat: 100, warm: 20, waiters: 1000, poll: 10 * time.Millisecond}
	// smoke is the test's round: every contender does a little of everything.
	smoke = params{rounds: 1, one: 20, bulk: 200, batch: 100, burn: 200, conc: 64, lat: 20, warm: 5, waiters: 100, poll: 10 * time.Millisecond}
)

// Row groups, for -only.
var groups = []string{"one", "bulk", "burn", "latency", "waits"}

const (
	burnTimeout    = 5 * time.Minute  // one burn-down round
	latencyTimeout = 30 * time.Second // one job's submit -> result
)

// contender is one job system under test. Every method leaves the system
// empty for the next measurement.
type contender interface {
	// one enqueues n jobs one at a time, each acknowledged before the next,
	// and returns jobs/s.
	one(ctx context.Context, n int) (float64, error)
	// bulk enqueues n jobs in calls of batch jobs, one call at a time, and
	// returns jobs/s.
	bulk(ctx context.Context, n, batch int) (float64, error)
	// burn enqueues n no-op jobs (untimed), then starts conc workers and
	// returns jobs/s from the start until all n are recorded as completed,
	// and the CPU per job that the contender's processes used meanwhile.
	burn(ctx context.Context, n, conc, batch int) (burnResult, error)
	// latency submits warm+n jobs one at a time, each to a running worker,
	// and returns the milliseconds from submit to the result observed by the
	// submitter for the last n.
	latency(ctx context.Context, n, warm int) ([]float64, error)
	Close() error
}

// Contender names, as the table prints them.
const (
	nameHerd     = "herd"
	nameBull     = "bullmq"
	nameRiver    = "river"
	nameRiverCp  = "river COPY"
	nameJS       = "raw jetstream"
	nameTarget   = "target"
	nameBare     = "bare goroutines"
	nameBullRepl = "bullmq replica" // BullMQ on Redis with a replica, WAIT 1 (see jobs-bullmq.js)
	herdRowsNote = "herd: jobs package, embedded JetStream, SyncInterval 1s"
)

func rate(n int, t0 time.Time) float64 { return float64(n) / time.Since(t0).Seconds() }

func msSince(t0 time.Time) float64 { return float64(time.Since(t0).Nanoseconds()) / 1e6 }

// quietLogger drops the contenders' Go-side logs below warnings.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// nameR is a replicated contender's name: "herd R3".
func nameR(name string, replicas int) string { return fmt.Sprintf("%s R%d", name, replicas) }

// bench holds the started contenders.
type bench struct {
	p     params
	log   io.Writer
	herd  *herdBench
	bull  *bullBench
	river *riverBench
	js    *jsBench
	// With p.replicas > 1: the cluster, herd and raw JetStream on it, and
	// BullMQ on a Redis with a replica.
	cl       *cluster
	herdR    *herdBench
	jsR      *jsBench
	bullRepl *bullBench
	dirs     []string
}

// start starts every contender, each in a temporary directory of its own.
// Progress goes to log; the servers' own output goes to srvLog.
func start(ctx context.Context, p params, nodeDir string, log, srvLog io.Writer) (_ *bench, err error) {
	b := &bench{p: p, log: log}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	dir := func(name string) (string, error) {
		d, err := os.MkdirTemp("", "jobsbench-"+name+"-")
		if err == nil {
			b.dirs = append(b.dirs, d)
		}
		return d, err
	}
	d, err := dir("redis")
	if err != nil {
		return nil, err
	}
	fmt.Fprintln(log, "starting redis-server and BullMQ ...")
	if b.bull, err = startBullMQ(ctx, d, nodeDir, srvLog, false); err != nil {
		return nil, err
	}
	if d, err = dir("postgres"); err != nil {
		return nil, err
	}
	fmt.Fprintln(log, "starting PostgreSQL 15 and River ...")
	if b.river, err = startRiver(ctx, d, p.poll, srvLog); err != nil {
		return nil, err
	}
	if d, err = dir("jetstream"); err != nil {
		return nil, err
	}
	if b.js, err = startJetStream(d); err != nil {
		return nil, err
	}
	if d, err = dir("herd"); err != nil {
		return nil, err
	}
	if b.herd, err = startHerd(ctx, d); err != nil {
		return nil, err
	}
	if p.replicas <= 1 {
		return b, nil
	}
	if d, err = dir("cluster"); err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "starting a three-node JetStream cluster (R%d) ...\n", p.replicas)
	if b.cl, err = startCluster(ctx, d, p.replicas); err != nil {
		return nil, err
	}
	if b.jsR, err = startJetStreamCluster(b.cl, p.replicas); err != nil {
		return nil, err
	}
	if b.herdR, err = startHerdCluster(ctx, b.cl, p.replicas); err != nil {
		return nil, err
	}
	if d, err = dir("redis-replica"); err != nil {
		return nil, err
	}
	fmt.Fprintln(log, "starting redis-server with a replica and BullMQ ...")
	if b.bullRepl, err = startBullMQ(ctx, d, nodeDir, srvLog, true); err != nil {
		return nil, err
	}
	return b, nil
}

// Close stops every contender and removes their directories.
func (b *bench) Close() error {
	var errs []error
	for _, c := range []contender{b.herd, b.bull, b.river, b.js, b.herdR, b.jsR, b.bullRepl} {
		if c != nil && !isNil(c) {
			errs = append(errs, c.Close())
		}
	}
	if b.cl != nil {
		errs = append(errs, b.cl.Close())
	}
	for _, d := range b.dirs {
		errs = append(errs, os.RemoveAll(d))
	}
	return errors.Join(errs...)
}

func isNil(c contender) bool {
	switch c := c.(type) {
	case *herdBench:
		return c == nil
	case *bullBench:
		return c == nil
	case *riverBench:
		return c == nil
	case *jsBench:
		return c == nil
	}
	return false
}

// sampler turns measurements that may fail into report.Alternate's
// functions: the first error is kept and later samples are skipped.
type sampler struct{ err error }

func (s *sampler) f(name string, fn func() (float64, error)) func() float64 {
	return func() float64 {
		if s.err != nil {
			return math.NaN()
		}
		x, err := fn()
		if err != nil {
			s.err = fmt.Errorf("%s: %w", name, err)
			return math.NaN()
		}
		return x
	}
}

// profDir, when set (-profile), is where the in-process contenders (herd
// and raw JetStream) write a CPU profile of every timed span, as
// <contender>-<row>-<round>.pprof.
var profDir string

var profRounds = map[string]int{}

// profile starts a CPU profile of the timed span name and returns the
// function that stops it; without profDir both do nothing.
func profile(name string) (stop func()) {
	if profDir == "" {
		return func() {}
	}
	profRounds[name]++
	f, err := os.Create(filepath.Join(profDir, fmt.Sprintf("%s-%d.pprof", name, profRounds[name])))
	if err != nil {
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return func() {}
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

// run measures every row (or those of p.only) and returns the report.
func (b *bench) run(ctx context.Context, cmd string) (*report.Report, error) {
	p := b.p
	rep := report.New(cmd)
	want := func(g string) bool { return len(p.only) == 0 || p.only[g] }
	var s sampler
	profDir = p.profile
	var tail []report.Row // the -replicas rows, after the others

	if want("one") {
		fmt.Fprintf(b.log, "enqueue one at a time: %d jobs x %d rounds ...\n", p.one, p.rounds)
		fns := []func() float64{
			s.f(nameHerd, func() (float64, error) { return b.herd.one(ctx, p.one) }),
			s.f(nameBull, func() (float64, error) { return b.bull.one(ctx, p.one) }),
			s.f(nameRiver, func() (float64, error) { return b.river.one(ctx, p.one) }),
			s.f(nameJS, func() (float64, error) { return b.js.one(ctx, p.one) }),
		}
		xs := report.Alternate(p.rounds, append(fns, b.replicated(&s, func(c contender) (float64, error) { return c.one(ctx, p.one) })...)...)
		if s.err != nil {
			return nil, s.err
		}
		tail = append(tail, b.replicatedRows("enqueue one at a time", "jobs/s", "higher", [3][]float64{xs[0], xs[1], xs[3]}, xs[4:], 0)...)
		rep.Add(report.Row{
			Suite: "jobs", Name: "enqueue one at a time", Unit: "jobs/s", Better: "higher",
			Herd:       report.Series{Name: nameHerd, Samples: xs[0]},
			Peers:      []report.Series{{Name: nameBull, Samples: xs[1]}, {Name: nameRiver, Samples: xs[2]}, {Name: nameJS, Samples: xs[3]}},
			TargetPeer: nameBull, TargetRatio: 1.5,
			Note: fmt.Sprintf("%d jobs per round, each submit acknowledged before the next", p.one),
		})
	}

	if want("bulk") {
		fmt.Fprintf(b.log, "bulk enqueue: %d jobs in calls of %d x %d rounds ...\n", p.bulk, p.batch, p.rounds)
		fns := []func() float64{
			s.f(nameHerd, func() (float64, error) { return b.herd.bulk(ctx, p.bulk, p.batch) }),
			s.f(nameBull, func() (float64, error) { return b.bull.bulk(ctx, p.bulk, p.batch) }),
			s.f(nameRiver, func() (float64, error) { b.river.copied = false; return b.river.bulk(ctx, p.bulk, p.batch) }),
			s.f(nameRiverCp, func() (float64, error) { b.river.copied = true; return b.river.bulk(ctx, p.bulk, p.batch) }),
			s.f(nameJS, func() (float64, error) { return b.js.bulk(ctx, p.bulk, p.batch) }),
		}
		xs := report.Alternate(p.rounds, append(fns, b.replicated(&s, func(c contender) (float64, error) { return c.bulk(ctx, p.bulk, p.batch) })...)...)
		if s.err != nil {
			return nil, s.err
		}
		tail = append(tail, b.replicatedRows("bulk enqueue", "jobs/s", "higher", [3][]float64{xs[0], xs[1], xs[4]}, xs[5:], 0)...)
		herd := report.Series{Name: nameHerd, Samples: xs[0]}
		peers := []report.Series{{Name: nameBull, Samples: xs[1]}, {Name: nameRiver, Samples: xs[2]}, {Name: nameRiverCp, Samples: xs[3]}, {Name: nameJS, Samples: xs[4]}}
		note := fmt.Sprintf("%d jobs per round in calls of %d: herd SubmitMany, BullMQ addBulk, River InsertMany / InsertManyFast (COPY), JetStream PublishAsync then every ack", p.bulk, p.batch)
		rep.Add(report.Row{Suite: "jobs", Name: "bulk enqueue", Unit: "jobs/s", Better: "higher", Herd: herd, Peers: peers,
			TargetPeer: nameBull, TargetRatio: 2, Note: note})
		rep.Add(report.Row{Suite: "jobs", Name: "bulk enqueue vs River COPY", Unit: "jobs/s", Better: "higher", Herd: herd,
			Peers: peers[2:4], TargetPeer: nameRiverCp, TargetRatio: 0.8})
	}

	if want("burn") {
		fmt.Fprintf(b.log, "burn-down: %d no-op jobs, %d workers x %d rounds ...\n", p.burn, p.conc, p.rounds)
		cpu := make([][]float64, 7)
		cpuOf := map[contender]int{b.herd: 0, b.bull: 1, b.river: 2, b.js: 3}
		if b.cl != nil {
			cpuOf[b.herdR], cpuOf[b.bullRepl], cpuOf[b.jsR] = 4, 5, 6
		}
		burn := func(c contender) (float64, error) {
			r, err := c.burn(ctx, p.burn, p.conc, p.batch)
			cpu[cpuOf[c]] = append(cpu[cpuOf[c]], r.cpu)
			return r.rate, err
		}
		one := func(c contender) func() (float64, error) { return func() (float64, error) { return burn(c) } }
		fns := []func() float64{
			s.f(nameHerd, one(b.herd)),
			s.f(nameBull, one(b.bull)),
			s.f(nameRiver, one(b.river)),
			s.f(nameJS, one(b.js)),
		}
		xs := report.Alternate(p.rounds, append(fns, b.replicated(&s, burn)...)...)
		if s.err != nil {
			return nil, s.err
		}
		tail = append(tail, b.replicatedRows("burn-down", "jobs/s", "higher", [3][]float64{xs[0], xs[1], xs[3]}, xs[4:], 0.5)...)
		tail = append(tail, b.replicatedRows("burn-down CPU per job", "µs", "lower", [3][]float64{cpu[0], cpu[1], cpu[3]}, cpu[4:], 0)...)
		herd := report.Series{Name: nameHerd, Samples: xs[0]}
		peers := []report.Series{{Name: nameBull, Samples: xs[1]}, {Name: nameRiver, Samples: xs[2]}, {Name: nameJS, Samples: xs[3]}}
		note := fmt.Sprintf("%d no-op jobs queued first (untimed), then %d workers start; timed until every job is recorded as completed", p.burn, p.conc)
		rep.Add(report.Row{Suite: "jobs", Name: "burn-down", Unit: "jobs/s", Better: "higher", Herd: herd, Peers: peers,
			TargetPeer: nameBull, TargetRatio: 2, Note: note})
		rep.Add(report.Row{Suite: "jobs", Name: "burn-down vs raw JetStream", Unit: "jobs/s", Better: "higher", Herd: herd,
			Peers: peers[2:], TargetPeer: nameJS, TargetRatio: 0.6})
		rep.Add(report.Row{Suite: "jobs", Name: "burn-down CPU per job", Unit: "µs", Better: "lower",
			Herd:  report.Series{Name: nameHerd, Samples: cpu[0]},
			Peers: []report.Series{{Name: nameBull, Samples: cpu[1]}, {Name: nameRiver, Samples: cpu[2]}, {Name: nameJS, Samples: cpu[3]}},
			Note:  "user+system CPU over the timed span / jobs: herd and raw JetStream this process; BullMQ node + redis-server; River this process + the postmaster's process group"})
	}

	if want("latency") {
		fmt.Fprintf(b.log, "submit -> result: %d jobs one at a time x %d rounds ...\n", p.lat, p.rounds)
		p99 := make([][]float64, 7)
		p99Of := map[contender]int{b.herd: 0, b.bull: 1, b.river: 2, b.js: 3}
		if b.cl != nil {
			p99Of[b.herdR], p99Of[b.bullRepl], p99Of[b.jsR] = 4, 5, 6
		}
		lat := func(c contender) (float64, error) {
			ms, err := c.latency(ctx, p.lat, p.warm)
			if err != nil {
				return 0, err
			}
			p99[p99Of[c]] = append(p99[p99Of[c]], report.Percentile(ms, 99))
			return report.Median(ms), nil
		}
		one := func(c contender) func() (float64, error) { return func() (float64, error) { return lat(c) } }
		fns := []func() float64{
			s.f(nameHerd, one(b.herd)),
			s.f(nameBull, one(b.bull)),
			s.f(nameRiver, one(b.river)),
			s.f(nameJS, one(b.js)),
		}
		xs := report.Alternate(p.rounds, append(fns, b.replicated(&s, lat)...)...)
		if s.err != nil {
			return nil, s.err
		}
		tail = append(tail, b.replicatedRows("submit -> result p50", "ms", "lower", [3][]float64{xs[0], xs[1], xs[3]}, xs[4:], 0)...)
		tail = append(tail, b.replicatedRows("submit -> result p99", "ms", "lower", [3][]float64{p99[0], p99[1], p99[3]}, p99[4:], 0)...)
		note := fmt.Sprintf("%d jobs per round after %d warm-up, one at a time: herd Wait, BullMQ job.waitUntilFinished(QueueEvents), River JobGet every %s (worker completes in its own transaction), JetStream result on a core subject", p.lat, p.warm, riverGetInterval)
		for _, q := range []struct {
			name string
			xs   [][]float64
		}{{"submit -> result p50", xs}, {"submit -> result p99", p99}} {
			rep.Add(report.Row{Suite: "jobs", Name: q.name, Unit: "ms", Better: "lower",
				Herd:       report.Series{Name: nameHerd, Samples: q.xs[0]},
				Peers:      []report.Series{{Name: nameBull, Samples: q.xs[1]}, {Name: nameRiver, Samples: q.xs[2]}, {Name: nameJS, Samples: q.xs[3]}},
				TargetPeer: nameBull, TargetRatio: 0.5, Note: note})
		}
	}

	if want("waits") {
		fmt.Fprintf(b.log, "%d concurrent Waits x %d rounds ...\n", p.waiters, p.rounds)
		fns := []func() float64{
			s.f(nameHerd, func() (float64, error) { return b.herd.waits(ctx, p.waiters) }),
			s.f(nameBare, func() (float64, error) { return bareWaits(p.waiters) }),
		}
		if b.cl != nil {
			fns = append(fns, s.f(nameR(nameHerd, p.replicas), func() (float64, error) { return b.herdR.waits(ctx, p.waiters) }))
		}
		xs := report.Alternate(p.rounds, fns...)
		if s.err != nil {
			return nil, s.err
		}
		if b.cl != nil {
			name := fmt.Sprintf("%d concurrent Waits, memory added", p.waiters)
			tail = append(tail, report.Row{Suite: "jobs", Name: name + ", R" + strconv.Itoa(p.replicas), Unit: "MB", Better: "lower",
				Herd:  report.Series{Name: nameR(nameHerd, p.replicas), Samples: xs[2]},
				Peers: []report.Series{{Name: nameHerd, Samples: xs[0]}, {Name: nameTarget, Samples: []float64{50}}, {Name: nameBare, Samples: xs[1]}},
				Note:  "herd on the cluster: the process's RSS growth, which includes the three nodes' (in this process), as the R1 row includes the embedded server's"})
		}
		rep.Add(report.Row{Suite: "jobs", Name: fmt.Sprintf("%d concurrent Waits, memory added", p.waiters), Unit: "MB", Better: "lower",
			Herd:       report.Series{Name: nameHerd, Samples: xs[0]},
			Peers:      []report.Series{{Name: nameTarget, Samples: []float64{50}}, {Name: nameBare, Samples: xs[1]}},
			TargetPeer: nameTarget, TargetRatio: 1,
			Note: "herd only: the process's RSS growth while the waiters are parked, waiters' goroutines included; the target is an absolute 50 MB; the baseline is as many goroutines parked on a channel"})
	}
	for _, row := range tail {
		rep.Add(row)
	}
	return rep, nil
}

// replicated returns the sampling functions of the -replicas contenders
// (herd and raw JetStream on the cluster, BullMQ with a replica), each
// running measure on its contender; none without the cluster.
func (b *bench) replicated(s *sampler, measure func(contender) (float64, error)) []func() float64 {
	if b.cl == nil {
		return nil
	}
	var fns []func() float64
	for _, c := range []struct {
		name string
		c    contender
	}{{nameR(nameHerd, b.p.replicas), b.herdR}, {nameBullRepl, b.bullRepl}, {nameR(nameJS, b.p.replicas), b.jsR}} {
		fns = append(fns, s.f(c.name, func() (float64, error) { return measure(c.c) }))
	}
	return fns
}

// replicatedRows returns the -replicas rows of a measure: herd at R3
// against herd at R1 (with the target ratio, if any) and against the peers
// at the same durability; raw JetStream at R3 against R1; BullMQ with a
// replica against without. r1 holds the samples of herd, BullMQ and raw
// JetStream; rN those of their replicated runs in the same order. None
// without the cluster.
func (b *bench) replicatedRows(name, unit, better string, r1 [3][]float64, rN [][]float64, target float64) []report.Row {
	if b.cl == nil {
		return nil
	}
	r := "R" + strconv.Itoa(b.p.replicas)
	herdR, jsR := nameR(nameHerd, b.p.replicas), nameR(nameJS, b.p.replicas)
	rows := []report.Row{
		{Suite: "jobs", Name: name + ", " + r, Unit: unit, Better: better,
			Herd:  report.Series{Name: herdR, Samples: rN[0]},
			Peers: []report.Series{{Name: nameHerd, Samples: r1[0]}, {Name: nameBullRepl, Samples: rN[1]}, {Name: jsR, Samples: rN[2]}},
			Note:  "herd with jobs.Config{URLs, Replicas} on a three-node loopback cluster (in this process), against herd embedded (R1) and the peers at the same durability"},
		{Suite: "jobs", Name: name + ", raw jetstream " + r + " vs R1", Unit: unit, Better: better,
			Herd: report.Series{Name: jsR, Samples: rN[2]}, Peers: []report.Series{{Name: nameJS, Samples: r1[2]}}},
		{Suite: "jobs", Name: name + ", bullmq replica vs none", Unit: unit, Better: better,
			Herd: report.Series{Name: nameBullRepl, Samples: rN[1]}, Peers: []report.Series{{Name: nameBull, Samples: r1[1]}},
			Note: "redis-server --replicaof the first on loopback; WAIT 1 after each add and addBulk on the Queue's connection, and before the clock stops in the burn-down and after each result (bench/node/jobs-bullmq.js)"},
	}
	if target > 0 {
		rows[0].TargetPeer, rows[0].TargetRatio = nameHerd, target
	}
	return rows
}

// printVerdicts writes PASS or MISS for every target, and each series' range
// (min-max over the rounds).
func printVerdicts(w io.Writer, r *report.Report) {
	fmt.Fprintln(w, "\ntargets:")
	for _, row := range r.Rows {
		has, ok := row.Met()
		if !has {
			continue
		}
		verdict := map[bool]string{true: "PASS", false: "MISS"}[ok]
		op := ">="
		if row.Better == "lower" {
			op = "<="
		}
		fmt.Fprintf(w, "  %s  %-32s %s/%s = %.2fx (target %s %.2fx)\n", verdict, row.Name, row.Herd.Name, row.TargetPeer, row.Ratio(row.TargetPeer), op, row.TargetRatio)
	}
	fmt.Fprintln(w, "\nranges over the rounds (min-max):")
	seen := map[string]bool{}
	for _, row := range r.Rows {
		if seen[row.Name] || strings.Contains(row.Name, " vs ") {
			continue
		}
		seen[row.Name] = true
		var parts []string
		for _, s := range append([]report.Series{row.Herd}, row.Peers...) {
			if s.Name == nameTarget || len(s.Samples) == 0 {
				continue
			}
			parts = append(parts, fmt.Sprintf("%s %s-%s", s.Name, report.Fmt(slices.Min(s.Samples)), report.Fmt(slices.Max(s.Samples))))
		}
		fmt.Fprintf(w, "  %-32s %s %s\n", row.Name, row.Unit, strings.Join(parts, "; "))
	}
}
