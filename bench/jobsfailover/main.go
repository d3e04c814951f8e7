// Command jobsfailover runs the jobs failover scenario at full size: 10,000
// jobs on a three-node JetStream cluster on loopback (nodes and workers as
// separate processes), with the work stream's leader SIGKILLed partway
// through and started again, then the leader of a work consumer, a
// follower, and a worker process. It
// prints what each run measured: jobs that succeeded, duplicate runs
// against the jobs in flight at the kill, the longest gap in completions
// and the time from the kill to the next completion.
//
//	go run ./bench/jobsfailover                   # 10,000 jobs, all three kills
//	go run ./bench/jobsfailover -jobs 2000 -kill leader
//	go run ./bench/jobsfailover -replicas -jobs 5000    # R1 against R3 cost
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/herdrun/herd/bench/internal/failover"
)

func main() {
	failover.Dispatch()
	n := flag.Int("jobs", 10_000, "jobs per run")
	kills := flag.String("kill", "leader,consumer-leader,follower,worker", "what to kill, comma-separated runs: leader (of the work stream), consumer-leader, follower, worker")
	conc := flag.Int("concurrency", failover.DefaultConcurrency, "concurrency of each of the two worker processes")
	work := flag.Duration("work", failover.DefaultWork, "how long each handler runs")
	ackWait := flag.Duration("ack-wait", failover.DefaultAckWait, "jobs.Config.AckWait of every client")
	verbose := flag.Bool("v", false, "print each event")
	replicas := flag.Bool("replicas", false, "instead: measure enqueue and burn-down of -jobs no-op jobs on embedded R1, cluster R1 and cluster R3 (loopback, in-process nodes)")
	rounds := flag.Int("rounds", 3, "alternating rounds of -replicas")
	flag.Parse()
	if *replicas {
		if err := replicaCost(*n, *rounds); err != nil {
			fmt.Fprintln(os.Stderr, "jobsfailover:", err)
			os.Exit(1)
		}
		return
	}
	failed := false
	for _, k := range strings.Split(*kills, ",") {
		var kill failover.Kill
		switch k {
		case "leader":
			kill = failover.KillLeader
		case "follower":
			kill = failover.KillFollower
		case "worker":
			kill = failover.KillWorker
		case "consumer-leader":
			kill = failover.KillConsumerLeader
		default:
			fmt.Fprintf(os.Stderr, "jobsfailover: -kill: unknown %q (write leader, consumer-leader, follower or worker)\n", k)
			os.Exit(2)
		}
		dir, err := os.MkdirTemp("", "jobsfailover-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "jobsfailover:", err)
			os.Exit(1)
		}
		cfg := failover.Config{Jobs: *n, Kill: kill, Concurrency: *conc, Work: *work, AckWait: *ackWait, Dir: dir}
		if *verbose {
			cfg.Log = os.Stderr
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		res, err := failover.Run(ctx, cfg)
		cancel()
		_ = os.RemoveAll(dir)
		fmt.Println(res)
		if err != nil {
			fmt.Println("  FAIL:", err)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}
