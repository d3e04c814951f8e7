// Command workersbench measures package workers against Node's Piscina and
// worker_threads, and against the Go pools ants and pond, in one run with
// alternating rounds, and prints the table of medians (bench/workers.md).
//
//	go run ./bench/workersbench            # full run, a few minutes
//	go run ./bench/workersbench -quick     # smoke run, under 30s
//
// It needs node and bench/node/node_modules (cd bench/node && npm ci).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/herdrun/herd/bench/internal/report"
	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/workers"
	"github.com/herdrun/herd/workers/shm"
)

// params sizes a run.
type params struct {
	rounds                   int
	goNoop, procNoop, piNoop int // tasks per throughput round
	spinTasks                int // 1ms tasks per efficiency round
	startups                 int // samples per start-up round
	pings                    int // round trips per atomics round
	respRounds               int
	respDur                  time.Duration
	only                     map[string]bool // groups to run; nil runs all
}

// groups are the names -only takes, in the order they run.
var groups = []string{"noop", "spin", "startup", "atomics", "resp"}

// want reports whether the group named g is to run.
func (p params) want(g string) bool { return p.only == nil || p.only[g] }

var full = params{rounds: 5, goNoop: 1_000_000, procNoop: 200_000, piNoop: 60_000, spinTasks: 1000, startups: 20, pings: 5000, respRounds: 5, respDur: 3 * time.Second}
var quick = params{rounds: 1, goNoop: 100_000, procNoop: 20_000, piNoop: 5_000, spinTasks: 100, startups: 3, pings: 500, respRounds: 1, respDur: 700 * time.Millisecond}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "workersbench:", err)
	os.Exit(1)
}

func main() {
	child.Dispatch() // worker processes and the benchmark's herd server
	q := flag.Bool("quick", false, "smoke run: one short round of each row (under 30s)")
	outDir := flag.String("out", "", "save the raw samples as DIR/workers.json (default: a new temp dir; -out bench/results keeps them in the repo)")
	jsonOut := flag.String("json", "", "save the raw samples to this file (overrides -out)")
	md := flag.Bool("md", false, "print the table as Markdown")
	nodeDir := flag.String("node", "", "directory of the Node scripts (default: bench/node next to this package)")
	from := flag.String("from", "", "print the report saved in this JSON file (by -json) instead of measuring")
	only := flag.String("only", "", "comma-separated groups to run, of "+strings.Join(groups, ",")+" (default: all)")
	rounds := flag.Int("rounds", 0, "alternating rounds per row (default 5; 1 with -quick)")
	flag.Parse()
	if *from != "" {
		b, err := os.ReadFile(*from)
		if err != nil {
			fatal(err)
		}
		var r report.Report
		if err := json.Unmarshal(b, &r); err != nil {
			fatal(err)
		}
		if *md {
			r.Markdown(os.Stdout)
		} else {
			r.Print(os.Stdout)
		}
		return
	}
	p := full
	cmd := "go run ./bench/workersbench"
	if *q {
		p = quick
		cmd += " -quick"
	}
	if *only != "" {
		p.only = map[string]bool{}
		for _, g := range strings.Split(*only, ",") {
			if !slices.Contains(groups, g) {
				fatal(fmt.Errorf("-only %s: no group %q; write some of %s", *only, g, strings.Join(groups, ",")))
			}
			p.only[g] = true
		}
		cmd += " -only " + *only
	}
	if *rounds > 0 {
		p.rounds, p.respRounds = *rounds, *rounds
		cmd += fmt.Sprintf(" -rounds %d", *rounds)
	}
	dir := *nodeDir
	if dir == "" {
		dir = findNodeDir()
	}
	r, err := run(p, cmd, dir, os.Stderr)
	if err != nil {
		fatal(err)
	}
	if *md {
		r.Markdown(os.Stdout)
	} else {
		r.Print(os.Stdout)
	}
	path, err := report.SamplesPath(*jsonOut, *outDir, "workers")
	if err != nil {
		fatal(err)
	}
	if err := r.Save(path, ""); err != nil {
		fatal(err)
	}
	fmt.Fprintln(os.Stderr, "raw samples:", path)
}

// findNodeDir finds bench/node from the working directory upwards.
func findNodeDir() string {
	wd, _ := os.Getwd()
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "bench", "node", "workers-bench.js")); err == nil {
			return filepath.Join(d, "bench", "node")
		}
		if filepath.Dir(d) == d {
			return filepath.Join(wd, "bench", "node")
		}
	}
}

// run measures every row.
func run(p params, cmd, nodeDir string, log io.Writer) (*report.Report, error) {
	rep := report.New(cmd)
	ctx := context.Background()
	ncpu := runtime.NumCPU()
	var nb *nodeBench
	if p.want("noop") || p.want("spin") || p.want("startup") || p.want("atomics") {
		var err error
		nb, err = startNodeBench(nodeDir)
		if err != nil {
			return nil, err
		}
		defer nb.close()
	}

	if p.want("noop") {
		gp, err := workers.New(taskNoop, &workers.Options{Size: ncpu})
		if err != nil {
			return nil, err
		}
		defer gp.Close(ctx)
		pp, err := workers.New(taskNoop, &workers.Options{Backend: workers.Processes, Size: ncpu, InFlight: 64 / ncpu})
		if err != nil {
			return nil, err
		}
		defer pp.Close(ctx)
		window(pp, struct{}{}, 2000, 64) // wait for the workers
		noop := func() {}

		fmt.Fprintln(log, "no-op throughput ...")
		piscina := func(n, inflight int) float64 {
			var r struct{ Seconds float64 }
			nb.call(map[string]any{"kind": "noop", "n": n, "inflight": inflight}, &r)
			return float64(n) / r.Seconds
		}
		s := report.Alternate(p.rounds,
			func() float64 { return float64(p.goNoop) / window(gp, struct{}{}, p.goNoop, 1024) },
			func() float64 { return piscina(p.piNoop, 64) },
			func() float64 { return float64(p.goNoop) / antsRun(p.goNoop, noop) },
			func() float64 { return float64(p.goNoop) / pondRun(p.goNoop, 1024, noop) },
			func() float64 { return float64(p.goNoop) / floorRun(p.goNoop, noop) },
			func() float64 { return float64(p.procNoop) / window(pp, struct{}{}, p.procNoop, 64) },
		)
		rep.Add(report.Row{
			Suite: "workers", Name: "no-op throughput, goroutine backend", Unit: "tasks/s", Better: "higher",
			Herd:       report.Series{Name: "herd goroutines", Samples: s[0]},
			Peers:      []report.Series{{Name: "piscina", Samples: s[1]}, {Name: "ants", Samples: s[2]}, {Name: "pond", Samples: s[3]}, {Name: "goroutine floor", Samples: s[4]}},
			TargetPeer: "piscina", TargetRatio: 50,
			Note: fmt.Sprintf("%d workers; herd and pond keep 1024 tasks in flight and wait on each result, ants is fed by a blocking Submit, Piscina keeps 64 in flight (maxThreads=2, its fastest settings of this run: %s)", ncpu, nb.noopVariant),
		})
		rep.Add(report.Row{
			Suite: "workers", Name: "no-op throughput, process backend, 64 in flight", Unit: "tasks/s", Better: "higher",
			Herd:       report.Series{Name: "herd processes", Samples: s[5]},
			Peers:      []report.Series{{Name: "piscina", Samples: s[1]}, {Name: "goroutine floor", Samples: s[4]}},
			TargetPeer: "piscina", TargetRatio: 3,
			Note: fmt.Sprintf("%d worker processes x %d tasks in flight; Piscina: %s", ncpu, 64/ncpu, nb.noopVariant),
		})
	}
	if p.want("spin") {
		fmt.Fprintln(log, "1ms CPU tasks ...")
		gs, _ := workers.New(taskSpin, &workers.Options{Size: ncpu})
		defer gs.Close(ctx)
		ps, _ := workers.New(taskSpin, &workers.Options{Backend: workers.Processes, Size: ncpu, InFlight: 1})
		defer ps.Close(ctx)
		window(ps, 10, 100, 8)
		ideal := float64(p.spinTasks) * 1e-3 / float64(ncpu)
		spin1 := func() { sink.Add(int64(spin(time.Millisecond))) }
		s := report.Alternate(p.rounds,
			func() float64 { return ideal / window(gs, 1000, p.spinTasks, 4*ncpu) },
			func() float64 { return ideal / window(ps, 1000, p.spinTasks, 4*ncpu) },
			func() float64 {
				var r struct{ Seconds float64 }
				nb.call(map[string]any{"kind": "spin", "n": p.spinTasks, "us": 1000, "inflight": 4 * ncpu}, &r)
				return ideal / r.Seconds
			},
			func() float64 { return ideal / antsRun(p.spinTasks, spin1) },
			func() float64 { return ideal / pondRun(p.spinTasks, 64, spin1) },
		)
		target := report.Series{Name: "target", Samples: []float64{0.95}}
		for i, name := range []string{"goroutine", "process"} {
			rep.Add(report.Row{
				Suite: "workers", Name: "1ms CPU tasks, efficiency vs ideal on " + fmt.Sprint(ncpu) + " cores, " + name + " backend", Unit: "fraction", Better: "higher",
				Herd:       report.Series{Name: "herd " + name, Samples: s[i]},
				Peers:      []report.Series{target, {Name: "piscina", Samples: s[2]}, {Name: "ants", Samples: s[3]}, {Name: "pond", Samples: s[4]}},
				TargetPeer: "target", TargetRatio: 1,
				Note: "ideal = tasks x 1ms / cores; the target is an absolute 0.95; Piscina at its fastest settings of this run: " + nb.spinVariant,
			})
		}
		rep.Add(report.Row{
			Suite: "workers", Name: "1ms CPU tasks, process backend vs piscina", Unit: "fraction", Better: "higher",
			Herd:       report.Series{Name: "herd process", Samples: s[1]},
			Peers:      []report.Series{{Name: "piscina", Samples: s[2]}},
			TargetPeer: "piscina", TargetRatio: 1,
			Note: "same samples as the row above; the process backend must also be at least as efficient as Piscina at its fastest settings (" + nb.spinVariant + ")",
		})
	}
	if p.want("startup") {
		fmt.Fprintln(log, "start-up to ready ...")
		s := report.Alternate(p.rounds,
			func() float64 { return report.Median(startupSamples(p.startups)) },
			func() float64 {
				var r struct{ Ms []float64 }
				nb.call(map[string]any{"kind": "startup", "n": p.startups}, &r)
				return report.Median(r.Ms)
			},
		)
		rep.Add(report.Row{
			Suite: "workers", Name: "worker start to ready, p50", Unit: "ms", Better: "lower",
			Herd:       report.Series{Name: "herd process worker", Samples: s[0]},
			Peers:      []report.Series{{Name: "node new Worker", Samples: s[1]}},
			TargetPeer: "node new Worker", TargetRatio: 0.15,
			Note: "herd: workers.Start (process) until online; node: new Worker until 'online'; each sample is a round's median",
		})
	}
	if p.want("atomics") {
		fmt.Fprintln(log, "SharedBuffer wait/notify ...")
		s := report.Alternate(p.rounds,
			func() float64 { return report.Median(pingSamples(p.pings)) },
			func() float64 {
				var r struct{ Us []float64 }
				nb.call(map[string]any{"kind": "atomics", "n": p.pings}, &r)
				return report.Median(r.Us)
			},
		)
		rep.Add(report.Row{
			Suite: "workers", Name: "SharedBuffer wait/notify round trip, p50", Unit: "µs", Better: "lower",
			Herd:       report.Series{Name: "herd across processes", Samples: s[0]},
			Peers:      []report.Series{{Name: "node Atomics between threads", Samples: s[1]}},
			TargetPeer: "node Atomics between threads", TargetRatio: 0.7,
		})
	}
	if p.want("resp") {
		fmt.Fprintln(log, "responsiveness ...")
		rows, err := responsiveness(p, nodeDir, log)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			rep.Add(r)
		}
	}
	return rep, nil
}

// window runs n tasks on pool keeping inflight of them in flight and
// returns the seconds it took.
func window[In, Out any](pool *workers.Pool[In, Out], in In, n, inflight int) float64 {
	ctx := context.Background()
	hs := make([]*workers.Handle[Out], inflight)
	start := time.Now()
	for i := range n {
		k := i % inflight
		if hs[k] != nil {
			if _, err := hs[k].Wait(ctx); err != nil {
				fatal(err)
			}
		}
		h, err := pool.Submit(ctx, in)
		if err != nil {
			fatal(err)
		}
		hs[k] = h
	}
	for _, h := range hs {
		if h != nil {
			if _, err := h.Wait(ctx); err != nil {
				fatal(err)
			}
		}
	}
	return time.Since(start).Seconds()
}

// startupSamples starts and terminates n process workers, returning the
// milliseconds from Start to online.
func startupSamples(n int) []float64 {
	var ms []float64
	for range n {
		t0 := time.Now()
		w, err := workers.Start(context.Background(), workerIdle, nil, &workers.ThreadOptions{Backend: workers.Processes})
		if err != nil {
			fatal(err)
		}
		<-w.Online()
		ms = append(ms, float64(time.Since(t0).Microseconds())/1e3)
		w.Terminate()
	}
	return ms
}

// pingSamples plays n rounds of ping-pong with a process worker over a
// SharedBuffer, returning each round trip in microseconds.
func pingSamples(n int) []float64 {
	buf, err := shm.New(64)
	if err != nil {
		fatal(err)
	}
	defer buf.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w, err := workers.Start(ctx, workerPong, n, &workers.ThreadOptions{Backend: workers.Processes, Shared: []*shm.Buffer{buf}})
	if err != nil {
		fatal(err)
	}
	defer w.Terminate()
	ping, _ := buf.Int32(0)
	pong, _ := buf.Int32(4)
	us := make([]float64, 0, n)
	for i := int32(1); i <= int32(n); i++ {
		t0 := time.Now()
		ping.Store(i)
		ping.Notify(1)
		for pong.Load() < i {
			if _, err := pong.Wait(ctx, i-1); err != nil {
				fatal(err)
			}
		}
		us = append(us, float64(time.Since(t0).Nanoseconds())/1e3)
	}
	return us
}
