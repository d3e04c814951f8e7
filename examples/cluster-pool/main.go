// Command cluster-pool is the Node tutorial's "combine them" server: a
// cluster of worker processes sharing port PORT (default 3000), each of which
// keeps a small pool of its own worker processes for the heavy calculation.
//
//	go run ./examples/cluster-pool
//	curl localhost:3000          # Handled by worker 12345
//	curl localhost:3000/heavy    # Result is 209999997829288740
//	kill <primary pid>           # graceful stop: requests finish, pools close
//
//	primary ─┬─ cluster worker (serves :3000) ─┬─ pool worker (heavyCalculation)
//	         │                                 └─ pool worker
//	         └─ cluster worker (serves :3000) ─┬─ pool worker
//	                                           └─ pool worker
//
// WORKERS sets the number of cluster workers (default one per CPU),
// POOL_SIZE the pool workers of each (default 2), HOST the address to bind
// (default all interfaces), and HERD_DEMO_LIMIT shrinks the tutorial's 1e8
// loop (for tests).
//
// # Why the pool uses processes
//
// One binary plays three roles, told apart in this order: child.Dispatch at
// the top of main turns a pool worker (started by child.ForkSelf, with the
// role in its environment) into the pool's task runner and never returns;
// otherwise cluster.Run makes this the primary or, when started by one, a
// cluster worker. A cluster worker clears the cluster's variables from its
// environment and marks its inherited listeners close-on-exec before it
// builds its pool, so a pool worker neither sees itself as a cluster worker
// nor holds the shared socket open.
//
// The cluster already spreads requests over the cores, so a goroutine pool
// would add no parallelism, and it would compute on the cluster worker's own
// threads, competing with the requests it serves and its heartbeats. A small process
// pool runs the loop at a lower CPU priority (Nice) where the kernel, not the
// worker's scheduler, lets light requests win; a task that crashes or runs
// past its timeout is killed without taking down the cluster worker and its
// requests in flight. The price is a process or two per cluster worker, hence
// the small default size: together the pools have about two per core, a
// little slack for requests landing unevenly on the shared socket.
package main

import (
	"context"
	"log"
	"os"

	"github.com/herdrun/herd/child"
)

func main() {
	child.Dispatch() // a pool worker runs its tasks here and exits
	if err := run(context.Background(), os.Getenv, log.New(os.Stderr, "", log.LstdFlags)); err != nil {
		log.Fatal(err)
	}
}
