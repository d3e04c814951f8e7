package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/herdrun/herd/bench/internal/contender"
	"github.com/herdrun/herd/bench/internal/probe"
	"github.com/herdrun/herd/bench/internal/report"
	"github.com/herdrun/herd/internal/loadgen"
)

type config struct {
	report.Options
	NodeDir string
	Only    string
}

func (c *config) want(group string) bool {
	if c.Only == "" {
		return true
	}
	for _, g := range strings.Split(c.Only, ",") {
		if strings.TrimSpace(g) == group {
			return true
		}
	}
	return false
}

// run takes every measurement and prints the table to out, progress to log.
func run(cfg *config, out, log io.Writer) error {
	cfg.SetRounds()
	if cfg.NodeDir == "" {
		root, err := report.RepoRoot()
		if err != nil {
			return err
		}
		cfg.NodeDir = filepath.Join(root, "bench", "node")
	}
	if _, err := exec.LookPath("node"); err != nil {
		return errors.New("node is not on PATH; the Node peers need it")
	}
	rep := report.New(cfg.Command)
	if cfg.want("rps") {
		row, err := measureRPS(cfg, log)
		if err != nil {
			return err
		}
		rep.Add(row)
	}
	if cfg.want("respawn") {
		row, err := measureRespawn(cfg, log)
		if err != nil {
			return err
		}
		rep.Add(row)
	}
	if cfg.want("balance") {
		rows, err := measureBalance(cfg, log)
		if err != nil {
			return err
		}
		for _, r := range rows {
			rep.Add(r)
		}
	}
	return cfg.Finish(rep, "cluster", out, log)
}

// measureRPS: keep-alive hello-world throughput with 2 workers.
func measureRPS(cfg *config, log io.Writer) (report.Row, error) {
	fmt.Fprintln(log, "req/s: starting contenders")
	ss, stop, err := contender.StartAll(
		func() (*contender.Server, error) { return startGo("herd-cluster", "cluster", "shared", 2, log) },
		func() (*contender.Server, error) { return startGo("go-single", "single", "", 0, log) },
		func() (*contender.Server, error) { return startNode("node-cluster-rr", cfg.NodeDir, "rr", 2, log) },
		func() (*contender.Server, error) { return startNode("node-cluster-none", cfg.NodeDir, "none", 2, log) },
		func() (*contender.Server, error) { return startPM2(cfg.NodeDir, 2, log) },
	)
	if err != nil {
		return report.Row{}, err
	}
	defer stop()
	dur := 3 * time.Second
	if cfg.Quick {
		dur = 300 * time.Millisecond
	}
	var fns []func() float64
	var names []string
	for _, s := range ss {
		names = append(names, s.Name)
		fns = append(fns, func() float64 {
			o := loadgen.Options{Addr: s.Addr, Conns: 32, KeepAlive: true}
			o.Duration = dur / 5
			loadgen.Run(context.Background(), o) // warm-up
			o.Duration = dur
			r := loadgen.Run(context.Background(), o)
			fmt.Fprintf(log, "  %-18s %8.0f req/s (%d failed)\n", s.Name, r.RPS(), r.Failed)
			return r.RPS()
		})
	}
	samples := report.Alternate(cfg.Rounds, fns...)
	sr := report.NamedSeries(names, samples)
	return report.Row{
		Suite: "cluster", Name: "hello-world req/s, 2 workers, keep-alive, 32 conns", Unit: "req/s", Better: "higher",
		Herd: sr[0], Peers: sr[1:], TargetPeer: "go-single", TargetRatio: 0.95,
		Note: "herd: cluster.Run with 2 Go workers, shared socket; go-single: one Go process (GOMAXPROCS=2); Node: cluster module; PM2: pm2 start -i 2",
	}, nil
}

// measureRespawn: SIGKILL of the only worker until its replacement answers.
func measureRespawn(cfg *config, log io.Writer) (report.Row, error) {
	fmt.Fprintln(log, "respawn: starting contenders (1 worker each)")
	ss, stop, err := contender.StartAll(
		func() (*contender.Server, error) { return startGo("herd-cluster", "cluster", "shared", 1, log) },
		func() (*contender.Server, error) { return startNode("node-cluster-rr", cfg.NodeDir, "rr", 1, log) },
		func() (*contender.Server, error) { return startPM2(cfg.NodeDir, 1, log) },
	)
	if err != nil {
		return report.Row{}, err
	}
	defer stop()
	rounds := cfg.Rounds * 3
	var fns []func() float64
	var names []string
	for _, s := range ss {
		names = append(names, s.Name)
		fns = append(fns, func() float64 {
			ms, err := respawnOnce(s)
			if err != nil {
				fmt.Fprintf(log, "  %-18s respawn failed: %v\n", s.Name, err)
				return math.NaN()
			}
			fmt.Fprintf(log, "  %-18s %6.1f ms\n", s.Name, ms)
			// Let the new worker pass its minimum uptime (herd's 1s) so that
			// every kill is a first failure, as a user's occasional crash is.
			time.Sleep(1100 * time.Millisecond)
			return ms
		})
	}
	samples := report.Alternate(rounds, fns...)
	for i := range samples {
		samples[i] = dropNaN(samples[i])
	}
	sr := report.NamedSeries(names, samples)
	return report.Row{
		Suite: "cluster", Name: "respawn: SIGKILL of the worker until the replacement answers", Unit: "ms", Better: "lower",
		Herd: sr[0], Peers: sr[1:], TargetPeer: "node-cluster-rr", TargetRatio: 20.0 / 140,
		Note: "target: herd p50 <= 20 ms (ratio vs node is informative); 1 worker each, so the answer must come from the replacement",
	}, nil
}

// respawnOnce kills the worker that answers and times until a different
// pid answers.
func respawnOnce(s *contender.Server) (float64, error) {
	pid, err := probe.WhoAnswers(s.Addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	if s.PIDs != nil {
		s.PIDs[pid] = true
	}
	start := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return 0, err
	}
	for time.Since(start) < 20*time.Second {
		// Short attempts: a connection handed to the dying worker (Node's
		// round-robin primary does that) would otherwise hang until a long
		// timeout. A request queued in a shared accept queue is answered as
		// soon as the replacement accepts, well within one attempt.
		got, err := probe.WhoAnswers(s.Addr, 100*time.Millisecond)
		if err == nil && got != pid {
			if s.PIDs != nil {
				s.PIDs[got] = true
			}
			return float64(time.Since(start).Microseconds()) / 1000, nil
		}
		if err != nil {
			time.Sleep(500 * time.Microsecond) // refused: nobody listens yet
		}
	}
	return 0, errors.New("no replacement answered within 20s")
}

func dropNaN(xs []float64) []float64 {
	out := xs[:0]
	for _, x := range xs {
		if !math.IsNaN(x) {
			out = append(out, x)
		}
	}
	return out
}

// measureBalance: max/min requests per worker under new-connection load,
// and the req/s of that load, per policy.
func measureBalance(cfg *config, log io.Writer) ([]report.Row, error) {
	fmt.Fprintln(log, "balance: starting contenders (2 workers each)")
	ss, stop, err := contender.StartAll(
		func() (*contender.Server, error) { return startGo("herd-shared", "cluster", "shared", 2, log) },
		func() (*contender.Server, error) { return startGo("herd-reuseport", "cluster", "reuseport", 2, log) },
		func() (*contender.Server, error) { return startGo("herd-dispatch", "cluster", "dispatch", 2, log) },
		func() (*contender.Server, error) { return startNode("node-cluster-rr", cfg.NodeDir, "rr", 2, log) },
		func() (*contender.Server, error) { return startNode("node-cluster-none", cfg.NodeDir, "none", 2, log) },
	)
	if err != nil {
		return nil, err
	}
	defer stop()
	dur := 2 * time.Second
	if cfg.Quick {
		dur = 300 * time.Millisecond
	}
	rps := make([][]float64, len(ss))
	var fns []func() float64
	var names []string
	for i, s := range ss {
		names = append(names, s.Name)
		fns = append(fns, func() float64 {
			r := loadgen.Run(context.Background(), loadgen.Options{Addr: s.Addr, Conns: 16, Duration: dur, CountBodies: true})
			lo, hi := int64(math.MaxInt64), int64(0)
			for _, n := range r.Bodies {
				lo, hi = min(lo, n), max(hi, n)
			}
			if len(r.Bodies) < 2 {
				lo = 1 // one worker got everything
			}
			ratio := float64(hi) / float64(max(lo, 1))
			rps[i] = append(rps[i], r.RPS())
			fmt.Fprintf(log, "  %-18s max/min %.2f over %d workers, %6.0f req/s new connections (%d failed %v)\n", s.Name, ratio, len(r.Bodies), r.RPS(), r.Failed, r.Errors)
			return ratio
		})
	}
	samples := report.Alternate(cfg.Rounds, fns...)
	sr := report.NamedSeries(names, samples)
	rs := report.NamedSeries(names, rps)
	return []report.Row{{
		Suite: "cluster", Name: "balance: max/min requests per worker, 2 workers, new connection per request", Unit: "max/min", Better: "lower",
		Herd: sr[0], Peers: sr[1:],
		Note: "target: herd default policy (shared) <= 1.5; peers are herd's other policies and Node's",
	}, {
		Suite: "cluster", Name: "new-connection req/s, 2 workers, 16 clients", Unit: "req/s", Better: "higher",
		Herd: rs[0], Peers: rs[1:],
	}}, nil
}
