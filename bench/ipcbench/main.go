// Command ipcbench measures herd's foundation, packages ipc and child, side
// by side with the equivalent Node.js code, in one run.
//
// Every measurement has a Go side, timed here, and a Node side, timed inside
// a script of bench/node (process.hrtime.bigint) that reports its samples as
// JSON on stdout. The two sides run alternately, round after round (see
// report.Alternate), so a busy machine slows both alike; the table quotes
// medians over the rounds and herd/Node ratios of those medians.
//
// Usage, from the repository root:
//
//	go run ./bench/ipcbench [-rounds N] [-only groups] [-msg-batch N] [-quick] [-out DIR] [-json out.json] [-md out.md]
//
// -quick is a smoke pass of a few seconds with tiny counts; its numbers mean
// nothing, it only keeps the harness working.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/herdrun/herd/child"
)

func main() {
	dispatch()

	cfg := defaultConfig()
	flag.IntVar(&cfg.Rounds, "rounds", 0, "alternating rounds per measurement (0: 9, or 1 with -quick)")
	flag.BoolVar(&cfg.Quick, "quick", false, "smoke pass: one round, tiny counts, numbers not meaningful")
	flag.StringVar(&cfg.OutDir, "out", "", "save the raw samples as DIR/ipc.json (default: a new temp dir; -out bench/results keeps them in the repo)")
	flag.StringVar(&cfg.JSONPath, "json", "", "save the raw samples to this file (overrides -out)")
	flag.StringVar(&cfg.MarkdownPath, "md", "", "also write the table as Markdown to this file")
	flag.StringVar(&cfg.NodeDir, "node-dir", "", "directory of the Node scripts (default <repo>/bench/node)")
	flag.IntVar(&cfg.MsgBatch, "msg-batch", 0, "messages per SendBatch call in the msgs group's \"herd batch\" side (0: 128)")
	flag.StringVar(&cfg.Only, "only", "", "comma-separated measurement groups to run: fork,rtt,msgs,bytes,exec,stream (default all)")
	flag.Parse()
	cfg.Command = "go run ./bench/ipcbench"
	if len(os.Args) > 1 {
		cfg.Command += " " + strings.Join(os.Args[1:], " ")
	}
	cfg.Out = os.Stdout
	cfg.Log = os.Stderr

	if _, err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "ipcbench:", err)
		os.Exit(1)
	}
}

// dispatch turns this process into a benchmark child when it was started as
// one: a ForkSelf role (child.Dispatch) or the raw socketpair peer. It
// returns only in the benchmark's main process.
func dispatch() {
	registerRoles()
	child.Dispatch()
	if mode, ok := os.LookupEnv(envRaw); ok {
		os.Exit(runRawPeer(mode))
	}
}
