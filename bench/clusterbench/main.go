// Command clusterbench measures package cluster against a single Go process,
// Node's cluster module (round-robin and SCHED_NONE) and PM2's cluster mode,
// all serving the tutorial's hello-world on loopback, in one run.
//
// Three measurements, each taken in alternating rounds (report.Alternate) so
// that a busy machine slows every contender alike:
//
//   - req/s of a hello-world server under keep-alive load from a Go load
//     generator (internal/loadgen): herd cluster with 2 Go workers against one
//     Go process, Node cluster and PM2 with 2 workers each;
//   - respawn: SIGKILL of the only worker until its replacement answers a
//     request (the request waits in the shared accept queue meanwhile);
//   - balance: max/min requests per worker under new-connection load, for
//     each herd policy and Node's two scheduling policies.
//
// Usage, from the repository root:
//
//	go run ./bench/clusterbench [-quick] [-rounds N] [-out DIR] [-json out.json] [-md out.md]
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
	// Server roles: this binary is also every Go server it measures.
	role := flag.String("serve", "", "internal: run a server (single or cluster)")
	addr := flag.String("addr", "", "internal: server address")
	policy := flag.String("policy", "shared", "internal: cluster policy")
	workers := flag.Int("workers", 2, "internal: cluster workers")

	var cfg config
	cfg.Flags(flag.CommandLine, "cluster")
	flag.StringVar(&cfg.NodeDir, "node-dir", "", "directory of the Node scripts (default <repo>/bench/node)")
	flag.StringVar(&cfg.Only, "only", "", "comma-separated groups: rps,respawn,balance (default all)")
	flag.Parse()

	if *role != "" {
		os.Exit(serve(*role, *addr, *policy, *workers))
	}
	cfg.Command = report.CommandLine("go run ./bench/clusterbench", os.Args[1:])
	if err := run(&cfg, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "clusterbench:", err)
		os.Exit(1)
	}
}
