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

	"github.com/herdrun/herd/bench/internal/report"
)

func main() {
	var cfg config
	cfg.Flags(flag.CommandLine, "run")
	flag.Parse()
	cfg.Command = report.CommandLine("go run ./bench/runbench", os.Args[1:])
	if err := run(&cfg, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "runbench:", err)
		os.Exit(1)
	}
}
