// Command monitbench measures what watching costs the daemon: its resident
// memory and CPU with 10 apps of 4 instances, alone and with the web
// dashboard open (one page's event stream and one log stream), and the time
// of one /metrics scrape of those 40 instances. The two daemons run in
// alternation, round after round, and the tables quote medians.
//
//	go run ./bench/monitbench                 # 3 rounds of 20 s per mode
//	go run ./bench/monitbench -quick          # a smoke pass; numbers mean nothing
//	go run ./bench/monitbench -src ../main    # the herd of another tree
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/herdrun/herd/bench/internal/herdbin"
	"github.com/herdrun/herd/bench/internal/report"
)

// daemonGOGC, if set, is the daemons' GOGC.
var daemonGOGC string

// srcTree, if set, is the source tree herd is built from.
var srcTree string

// result is one daemon's measurement.
type result struct {
	rssMB, cpuPct, scrapeMs float64
	scrapeCPUms             float64 // the daemon's CPU time per scrape
}

type config struct {
	apps, instances, rounds, scrapes int
	measure                          time.Duration
}

func main() {
	quick := flag.Bool("quick", false, "a smoke pass of a few seconds (numbers mean nothing)")
	rounds := flag.Int("rounds", 3, "rounds per mode")
	measure := flag.Duration("measure", 20*time.Second, "time over which the daemon's CPU is measured")
	jsonPath := flag.String("json", "", "write the raw samples here")
	flag.StringVar(&daemonGOGC, "gogc", "", "GOGC of the daemons (default: the Go runtime's, 100)")
	flag.StringVar(&srcTree, "src", "", "build the herd measured from this source tree (default: this one), such as a checkout of main to compare")
	flag.Parse()
	cfg := config{apps: 10, instances: 4, rounds: *rounds, scrapes: 100, measure: *measure}
	if *quick {
		cfg = config{apps: 2, instances: 2, rounds: 1, scrapes: 5, measure: time.Second}
	}
	rep, err := run(context.Background(), cfg, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "monitbench:", err)
		os.Exit(1)
	}
	rep.Print(os.Stdout)
	if *jsonPath != "" {
		if err := rep.SaveJSON(*jsonPath); err != nil {
			fmt.Fprintln(os.Stderr, "monitbench:", err)
			os.Exit(1)
		}
	}
}

// run builds herd and measures both modes in alternation.
func run(ctx context.Context, cfg config, log io.Writer) (*report.Report, error) {
	root, err := report.RepoRoot()
	if err != nil {
		return nil, err
	}
	if srcTree != "" {
		root = srcTree
	}
	dir, err := os.MkdirTemp("", "monitbench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "herd")
	if err := herdbin.Build(ctx, root, bin); err != nil {
		return nil, err
	}
	var plain, dash []result
	for i := range cfg.rounds {
		for _, withDash := range []bool{false, true} {
			r, err := measureDaemon(ctx, bin, filepath.Join(dir, fmt.Sprintf("home-%d-%v", i, withDash)), withDash, cfg)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(log, "round %d, dashboard %v: RSS %.1f MB, CPU %.2f%%, scrape %.2f ms (daemon CPU %.2f ms)\n", i+1, withDash, r.rssMB, r.cpuPct, r.scrapeMs, r.scrapeCPUms)
			if withDash {
				dash = append(dash, r)
			} else {
				plain = append(plain, r)
			}
		}
	}
	pick := func(rs []result, f func(result) float64) []float64 {
		var out []float64
		for _, r := range rs {
			out = append(out, f(r))
		}
		return out
	}
	shape := fmt.Sprintf("%d apps x %d instances", cfg.apps, cfg.instances)
	rep := report.New("go run ./bench/monitbench")
	rep.Add(report.Row{Suite: "monit", Name: "daemon RSS, " + shape, Unit: "MB", Better: "lower",
		Herd:  report.Series{Name: "with dashboard", Samples: pick(dash, func(r result) float64 { return r.rssMB })},
		Peers: []report.Series{{Name: "daemon alone", Samples: pick(plain, func(r result) float64 { return r.rssMB })}},
		Note:  "target: at most +10 MB over the daemon alone"})
	rep.Add(report.Row{Suite: "monit", Name: "daemon CPU, " + shape, Unit: "% of a core", Better: "lower",
		Herd:  report.Series{Name: "with dashboard", Samples: pick(dash, func(r result) float64 { return r.cpuPct })},
		Peers: []report.Series{{Name: "daemon alone", Samples: pick(plain, func(r result) float64 { return r.cpuPct })}},
		Note:  "target: at most 1% of a core with the dashboard open"})
	rep.Add(report.Row{Suite: "monit", Name: "/metrics scrape, " + shape, Unit: "ms", Better: "lower",
		Herd: report.Series{Name: "herd", Samples: pick(append(plain, dash...), func(r result) float64 { return r.scrapeMs })},
		Note: "median of each daemon's scrapes; target: at most 5 ms"})
	rep.Add(report.Row{Suite: "monit", Name: "/metrics scrape, daemon CPU, " + shape, Unit: "ms", Better: "lower",
		Herd: report.Series{Name: "herd", Samples: pick(append(plain, dash...), func(r result) float64 { return r.scrapeCPUms })},
		Note: "the daemon's CPU time over the scrapes over their number (its other work included): what a scrape costs on a machine that is not loaded"})
	return rep, nil
}

// measureDaemon runs one daemon in home with cfg's apps and measures it.
func measureDaemon(ctx context.Context, bin, home string, withDash bool, cfg config) (res result, err error) {
	maddr, err := herdbin.FreeAddr()
	if err != nil {
		return res, err
	}
	args := []string{"--metrics", maddr}
	daddr := ""
	if withDash {
		if daddr, err = herdbin.FreeAddr(); err != nil {
			return res, err
		}
		args = append(args, "--dashboard", daddr)
	}
	var extra []string
	if daemonGOGC != "" {
		extra = append(extra, "GOGC="+daemonGOGC)
	}
	h, err := herdbin.New(bin, home, extra...)
	if err != nil {
		return res, err
	}
	d, stop, err := h.Daemon(ctx, args...)
	if err != nil {
		return res, err
	}
	defer stop()
	if err := h.StartApps(ctx, "a", cfg.apps, cfg.instances, "sleep", "600"); err != nil {
		return res, err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if withDash {
		tok, err := h.Token()
		if err != nil {
			return res, err
		}
		for _, path := range []string{"/api/stream", "/api/logs?app=a0"} {
			if err := herdbin.OpenStream(sctx, "http://"+daddr+path, tok); err != nil {
				return res, err
			}
		}
	}
	time.Sleep(min(3*time.Second, cfg.measure)) // the samplers settle
	pid := d.Process.Pid
	c0, err := herdbin.CPUTicks(pid)
	if err != nil {
		return res, err
	}
	t0 := time.Now()
	time.Sleep(cfg.measure)
	c1, err := herdbin.CPUTicks(pid)
	if err != nil {
		return res, err
	}
	res.cpuPct = float64(c1-c0) / 100 / time.Since(t0).Seconds() * 100 // USER_HZ is 100
	if res.rssMB, err = herdbin.RSSMB(pid); err != nil {
		return res, err
	}
	var lat []float64
	url := "http://" + maddr + "/metrics"
	c2, err := herdbin.CPUTicks(pid)
	if err != nil {
		return res, err
	}
	for range cfg.scrapes {
		began := time.Now()
		resp, err := http.Get(url)
		if err != nil {
			return res, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			return res, fmt.Errorf("scrape: %d %v", resp.StatusCode, err)
		}
		lat = append(lat, float64(time.Since(began).Microseconds())/1000)
	}
	res.scrapeMs = report.Median(lat)
	c3, err := herdbin.CPUTicks(pid)
	if err != nil {
		return res, err
	}
	res.scrapeCPUms = float64(c3-c2) * 10 / float64(cfg.scrapes) // USER_HZ is 100
	return res, nil
}
