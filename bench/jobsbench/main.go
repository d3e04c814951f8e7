// Command jobsbench measures herd's jobs package against BullMQ on Redis,
// River on PostgreSQL and raw JetStream, in one run with alternating rounds,
// and prints the table of medians with herd's ratio to each peer and PASS or
// MISS against each target of bench/jobs.md.
//
//	go run ./bench/jobsbench                # 3 alternating rounds, several minutes
//	go run ./bench/jobsbench -quick         # smoke run, well under a minute
//	go run ./bench/jobsbench -only burn,latency -rounds 5
//	go run ./bench/jobsbench -replicas 3    # also R3 on a loopback cluster, BullMQ with a replica
//
// It starts every contender itself: redis-server (Debian's package) with
// appendonly yes and appendfsync everysec, and bench/node/jobs-bullmq.js on
// it; a throwaway PostgreSQL 15 cluster (initdb in a temp dir, run as the
// postgres user on a unix socket) with River's migrations; and two embedded
// nats-servers with JetStream on a file store synced every second, one for
// raw JetStream and one inside herd's jobs.Client. It needs redis-server,
// /usr/lib/postgresql/15, node, and bench/node/node_modules (npm ci
// --prefix bench/node); run it as root or as a user that may switch to
// postgres.
//
// With -replicas 3 it also starts a three-node JetStream cluster on
// loopback (jobsnode nodes in this process) and runs herd
// (jobs.Config{URLs, Replicas: 3}) and raw JetStream (streams of three
// replicas) on it, and BullMQ on a second redis-server that has a replica
// (--replicaof) and WAITs for it, in the same alternating rounds; each
// row then gets R3 rows beside it, with the R3/R1 ratios.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/herdrun/herd/bench/internal/report"
)

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "jobsbench:", err)
	os.Exit(1)
}

func main() {
	p := full
	q := flag.Bool("quick", false, "smoke run: one small round of every row (numbers mean nothing)")
	rounds := flag.Int("rounds", 0, "alternating rounds (default 3, 1 with -quick)")
	one := flag.Int("one", 0, "jobs per enqueue-one-at-a-time round (default 2000)")
	bulk := flag.Int("bulk", 0, "jobs per bulk-enqueue round (default 20000)")
	batch := flag.Int("batch", 0, "jobs per bulk call, every contender (default 1000)")
	burn := flag.Int("burn", 0, "no-op jobs per burn-down round (default 50000)")
	conc := flag.Int("concurrency", 0, "workers in the burn-down and latency rounds (default 64)")
	lat := flag.Int("latency", 0, "submit -> result samples per round (default 1000, after 100 warm-up)")
	waiters := flag.Int("waiters", 0, "concurrent Waits in the memory row (default 10000)")
	only := flag.String("only", "", "comma-separated row groups to run: "+strings.Join(groups, ","))
	poll := flag.Duration("river-poll", 0, "River's FetchPollInterval (default 10ms)")
	profile := flag.String("profile", "", "write a CPU profile of herd's side of each row group to DIR/<group>.pprof")
	jsonOut := flag.String("json", "", "write the raw samples as JSON to this file (default: a file in a new temp dir)")
	md := flag.Bool("md", false, "print the table as Markdown")
	nodeDir := flag.String("node", "", "directory of the Node scripts (default: bench/node of this repository)")
	replicas := flag.Int("replicas", 0, "also run herd and raw JetStream on a three-node loopback cluster with streams of this many replicas (2 or 3), and BullMQ on a Redis with a replica (WAIT 1), beside the usual contenders")
	from := flag.String("from", "", "print the report saved in these comma-separated JSON files (by -json) instead of measuring; several runs' samples are pooled row by row")
	flag.Parse()
	if *from != "" {
		r, err := load(strings.Split(*from, ","))
		if err != nil {
			fatal(err)
		}
		printReport(r, *md)
		if *jsonOut != "" {
			if err := r.Save(*jsonOut, ""); err != nil {
				fatal(err)
			}
		}
		return
	}
	if *q {
		p = quick
	}
	set := func(dst *int, v int) {
		if v > 0 {
			*dst = v
		}
	}
	set(&p.rounds, *rounds)
	set(&p.one, *one)
	set(&p.bulk, *bulk)
	set(&p.batch, *batch)
	set(&p.burn, *burn)
	set(&p.conc, *conc)
	set(&p.lat, *lat)
	set(&p.waiters, *waiters)
	if *replicas != 0 && *replicas != 1 {
		if *replicas < 2 || *replicas > 3 {
			fatal(fmt.Errorf("-replicas %d: the cluster has three nodes, so write 2 or 3 (or 0 for none)", *replicas))
		}
		p.replicas = *replicas
	}
	if *poll > 0 {
		p.poll = *poll
	}
	if *only != "" {
		p.only = map[string]bool{}
		for _, g := range strings.Split(*only, ",") {
			if !slices.Contains(groups, g) {
				fatal(fmt.Errorf("-only %q: no row group %q; the groups are %s", *only, g, strings.Join(groups, ",")))
			}
			p.only[g] = true
		}
	}
	if *profile != "" {
		if err := os.MkdirAll(*profile, 0o755); err != nil {
			fatal(err)
		}
		p.profile = *profile
	}
	dir := *nodeDir
	if dir == "" {
		root, err := report.RepoRoot()
		if err != nil {
			fatal(err)
		}
		dir = filepath.Join(root, "bench", "node")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	t0 := time.Now()
	results, err := os.MkdirTemp("", "jobsbench-results-")
	if err != nil {
		fatal(err)
	}
	logPath := filepath.Join(results, "servers.log")
	srvLog, err := os.Create(logPath)
	if err != nil {
		fatal(err)
	}
	defer srvLog.Close()
	fmt.Fprintf(os.Stderr, "server logs: %s\n", logPath)
	b, err := start(ctx, p, dir, os.Stderr, srvLog)
	if err != nil {
		fatal(fmt.Errorf("%w (server logs: %s)", err, logPath))
	}
	r, err := b.run(ctx, "go run ./bench/jobsbench "+strings.Join(os.Args[1:], " "))
	if cerr := b.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		fatal(fmt.Errorf("%w (server logs: %s)", err, logPath))
	}
	printReport(r, *md)
	out := *jsonOut
	if out == "" {
		out = filepath.Join(results, "jobs.json")
	}
	if err := r.Save(out, ""); err != nil {
		fatal(err)
	}
	fmt.Fprintf(os.Stderr, "\nraw samples: %s (took %s)\n", out, time.Since(t0).Round(time.Second))
}

func printReport(r *report.Report, md bool) {
	if md {
		r.Markdown(os.Stdout)
	} else {
		r.Print(os.Stdout)
	}
	printVerdicts(os.Stdout, r)
}

// load reads reports saved by -json and pools them: the first file's rows,
// with every later file's samples of the same row and series appended.
func load(files []string) (*report.Report, error) {
	var out *report.Report
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var r report.Report
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if out == nil {
			out = &r
			continue
		}
		out.Command += "; " + r.Command
		for _, row := range r.Rows {
			for i := range out.Rows {
				o := &out.Rows[i]
				if o.Name != row.Name {
					continue
				}
				o.Herd.Samples = append(o.Herd.Samples, row.Herd.Samples...)
				for _, p := range row.Peers {
					for j := range o.Peers {
						if o.Peers[j].Name == p.Name && p.Name != nameTarget {
							o.Peers[j].Samples = append(o.Peers[j].Samples, p.Samples...)
						}
					}
				}
			}
		}
	}
	return out, nil
}
