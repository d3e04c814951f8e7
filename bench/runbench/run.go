package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/herdrun/herd/bench/internal/contender"
	"github.com/herdrun/herd/bench/internal/herdbin"
	"github.com/herdrun/herd/bench/internal/probe"
	"github.com/herdrun/herd/bench/internal/report"
	"github.com/herdrun/herd/internal/loadgen"
)

type config struct {
	report.Options
}

// run takes every measurement and prints the table to out, progress to log.
func run(cfg *config, out, log io.Writer) error {
	cfg.SetRounds()
	root, err := report.RepoRoot()
	if err != nil {
		return err
	}
	nodeDir := filepath.Join(root, "bench", "node")
	if _, err := exec.LookPath("node"); err != nil {
		return errors.New("node is not on PATH; the app and the peers need it")
	}
	tmp, err := os.MkdirTemp("", "runbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	herdBin := filepath.Join(tmp, "herd")
	fmt.Fprintln(log, "building herd")
	if err := herdbin.Build(context.Background(), root, herdBin); err != nil {
		return err
	}
	rep := report.New(cfg.Command)
	rows, err := measureRPS(cfg, herdBin, nodeDir, log)
	if err != nil {
		return err
	}
	for _, r := range rows {
		rep.Add(r)
	}
	row, err := measureStart(cfg, herdBin, nodeDir, log)
	if err != nil {
		return err
	}
	rep.Add(row)
	row, err = measureRespawn(cfg, herdBin, nodeDir, log)
	if err != nil {
		return err
	}
	rep.Add(row)
	return cfg.Finish(rep, "run", out, log)
}

// measureRPS: keep-alive throughput with 2 instances, throughput with a
// new connection per request (where Node's round-robin primary accepts
// every connection), then each supervisor's RSS.
func measureRPS(cfg *config, herdBin, nodeDir string, log io.Writer) ([]report.Row, error) {
	fmt.Fprintln(log, "req/s: starting contenders")
	ss, stop, err := contender.StartAll(
		func() (*contender.Server, error) { return startHerd(herdBin, nodeDir, 2, log) },
		func() (*contender.Server, error) { return startNode("node-cluster-rr", nodeDir, "rr", 2, log) },
		func() (*contender.Server, error) { return startNode("node-cluster-none", nodeDir, "none", 2, log) },
		func() (*contender.Server, error) { return startPM2(nodeDir, 2, log) },
	)
	if err != nil {
		return nil, err
	}
	defer stop()
	dur := 3 * time.Second
	if cfg.Quick {
		dur = 300 * time.Millisecond
	}
	load := func(keepAlive bool, conns int) [][]float64 {
		fns := make([]func() float64, len(ss))
		for i, s := range ss {
			fns[i] = func() float64 {
				r := loadgen.Run(context.Background(), loadgen.Options{Addr: s.Addr, Conns: conns, KeepAlive: keepAlive, Duration: dur})
				fmt.Fprintf(log, "  %s (keep-alive %v): %.0f req/s (%d failed)\n", s.Name, keepAlive, r.RPS(), r.Failed)
				return r.RPS()
			}
		}
		return report.Alternate(cfg.Rounds, fns...)
	}
	samples := load(true, 32)
	names := make([]string, len(ss))
	for i, s := range ss {
		names[i] = s.Name
	}
	mk := func(name, peer string, ratio float64) report.Row {
		sr := report.NamedSeries(names, samples)
		return report.Row{Suite: "run", Name: name, Unit: "req/s", Better: "higher", TargetPeer: peer, TargetRatio: ratio,
			Herd: sr[0], Peers: sr[1:]}
	}
	rows := []report.Row{
		mk("hello-world, 2 instances, keep-alive, 32 conns", "node-cluster-rr", 1.1),
		mk("same samples, target against PM2", "pm2", 1.2),
	}
	samples = load(false, 16)
	rows = append(rows, mk("hello-world, 2 instances, new connection per request, 16 clients", "", 0))
	// RSS of each supervisor after the load (herd; Node cluster's primary;
	// PM2's daemon).
	rss := report.Row{Suite: "run", Name: "supervisor RSS with 2 instances (target herd <= 15 MB)", Unit: "MB", Better: "lower", TargetPeer: "pm2", TargetRatio: 0.25}
	for i, s := range ss {
		kb, err := rssKB(s.SupervisorPID())
		if err != nil {
			return nil, fmt.Errorf("%s RSS: %w", s.Name, err)
		}
		sr := report.Series{Name: s.Name, Samples: []float64{kb / 1024}}
		if i == 0 {
			rss.Herd = sr
		} else {
			rss.Peers = append(rss.Peers, sr)
		}
	}
	rows = append(rows, rss)
	return rows, nil
}

// measureStart: from exec until every one of 2 instances answers.
func measureStart(cfg *config, herdBin, nodeDir string, log io.Writer) (report.Row, error) {
	fmt.Fprintln(log, "start until 2 instances answer")
	var firstErr error
	timed := func(start func() (*contender.Server, error)) func() float64 {
		return func() float64 {
			s, err := start()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return 0
			}
			s.Stop()
			ms := float64(s.Start) / float64(time.Millisecond)
			fmt.Fprintf(log, "  %s: %.0f ms\n", s.Name, ms)
			return ms
		}
	}
	samples := report.Alternate(cfg.Rounds,
		timed(func() (*contender.Server, error) { return startHerd(herdBin, nodeDir, 2, log) }),
		timed(func() (*contender.Server, error) { return startPM2(nodeDir, 2, log) }),
		timed(func() (*contender.Server, error) { return startNode("node-cluster-rr", nodeDir, "rr", 2, log) }),
	)
	if firstErr != nil {
		return report.Row{}, firstErr
	}
	return report.Row{Suite: "run", Name: "start until every instance answers (2 instances)", Unit: "ms", Better: "lower",
		TargetPeer: "pm2", TargetRatio: 0.5,
		Herd:  report.Series{Name: "herd-run", Samples: samples[0]},
		Peers: []report.Series{{Name: "pm2", Samples: samples[1]}, {Name: "node-cluster-rr", Samples: samples[2]}}}, nil
}

// measureRespawn: kill -9 of herd's only instance until its replacement
// answers, against Node's bare start-up of the same app (exec until it
// answers).
func measureRespawn(cfg *config, herdBin, nodeDir string, log io.Writer) (report.Row, error) {
	fmt.Fprintln(log, "kill -9 until the replacement answers")
	// Every kill counts as a crash: lift the crash-loop limit.
	s, err := startHerd(herdBin, nodeDir, 1, log, "--max-restarts", "-1")
	if err != nil {
		return report.Row{}, err
	}
	defer s.Stop()
	per := 10
	if cfg.Quick {
		per = 3
	}
	var firstErr error
	respawn := func() float64 {
		if firstErr != nil {
			return 0
		}
		var total []float64
		for range per {
			ms, err := respawnOnce(s)
			if err != nil {
				firstErr = err
				return 0
			}
			total = append(total, ms)
			time.Sleep(1100 * time.Millisecond) // past min uptime: the backoff starts afresh
		}
		m := report.Median(total)
		fmt.Fprintf(log, "  herd respawn p50 %.1f ms\n", m)
		return m
	}
	nodeStart := func() float64 {
		if firstErr != nil {
			return 0
		}
		var total []float64
		for range per {
			ns, err := startNodeAlone(nodeDir, log)
			if err != nil {
				firstErr = err
				return 0
			}
			ns.Stop()
			total = append(total, float64(ns.Start)/float64(time.Millisecond))
		}
		m := report.Median(total)
		fmt.Fprintf(log, "  node start-up p50 %.1f ms\n", m)
		return m
	}
	samples := report.Alternate(cfg.Rounds, respawn, nodeStart)
	if firstErr != nil {
		return report.Row{}, firstErr
	}
	return report.Row{Suite: "run", Name: "kill -9 until the replacement answers, p50 (target <= node start-up + 20 ms)", Unit: "ms", Better: "lower",
		Herd:  report.Series{Name: "herd-run", Samples: samples[0]},
		Peers: []report.Series{{Name: "node start-up", Samples: samples[1]}}}, nil
}

// respawnTimeout bounds the wait for a replacement instance after a kill
// (a variable so that a test can shorten it).
var respawnTimeout = 30 * time.Second

// respawnOnce kills the instance of s that answers and returns the
// milliseconds until a different pid answers. It fails, naming s, if no
// instance answers before the kill or no replacement within respawnTimeout.
func respawnOnce(s *contender.Server) (float64, error) {
	old, err := probe.WhoAnswers(s.Addr, 5*time.Second)
	if err != nil {
		return 0, fmt.Errorf("%s respawn: no instance answers before the kill: %w", s.Name, err)
	}
	t0 := time.Now()
	syscall.Kill(old, syscall.SIGKILL)
	for time.Since(t0) < respawnTimeout {
		pid, err := probe.WhoAnswers(s.Addr, 5*time.Second)
		if err == nil && pid != old {
			s.PIDs[pid] = true
			return float64(time.Since(t0)) / float64(time.Millisecond), nil
		}
		time.Sleep(time.Millisecond)
	}
	return 0, fmt.Errorf("%s respawn: no replacement for pid %d answered within %v of kill -9", s.Name, old, respawnTimeout)
}
