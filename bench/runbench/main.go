// Command runbench measures `herd run` supervising the Node tutorial's
// hello-world app (bench/node/cluster-app.js, unmodified: herd's preload shim
// hands it the shared socket) against Node's cluster module (round-robin and
// SCHED_NONE, bench/node/cluster-server.js) and `pm2 start -i 2` (pinned in
// bench/node), on loopback, in one run:
//
//   - req/s under keep-alive load (internal/loadgen), 2 instances each;
//   - the supervisor's own RSS with 2 instances (herd's process, PM2's
//     daemon, Node cluster's primary), after the load;
//   - start until every instance answers (herd and PM2 and Node cluster);
//   - kill -9 of the only instance until its replacement answers (herd -i 1),
//     against Node's bare start-up time of the same app.
//
// Measurements alternate between contenders (report.Alternate).
//
// Usage, from the repository root:
//
//	go run ./bench/runbench [-quick] [-rounds N] [-out DIR] [-json out.json] [-md out.md]
//
// -quick is a smoke pass of a few seconds; its numbers mean nothing.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

func main() {
	var cfg config
	flag.IntVar(&cfg.Rounds, "rounds", 0, "alternating rounds per measurement (0: 5, or 1 with -quick)")
	flag.BoolVar(&cfg.Quick, "quick", false, "smoke pass: short runs, numbers not meaningful")
	flag.StringVar(&cfg.OutDir, "out", "", "save the raw samples as DIR/run.json (default: a new temp dir; -out bench/results keeps them in the repo)")
	flag.StringVar(&cfg.JSONPath, "json", "", "save the raw samples to this file (overrides -out)")
	flag.StringVar(&cfg.MarkdownPath, "md", "", "also write the table as Markdown to this file")
	flag.Parse()
	cfg.Command = "go run ./bench/runbench"
	if len(os.Args) > 1 {
		cfg.Command += " " + strings.Join(os.Args[1:], " ")
	}
	if err := run(&cfg, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "runbench:", err)
		os.Exit(1)
	}
}
