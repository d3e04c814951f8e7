// Command load sends HTTP requests to one loopback address, half of the
// clients over keep-alive connections and half on a new connection each,
// until SIGINT or SIGTERM, then prints "ok N failed N" and the first three
// failure messages. bench/daemon/run.sh runs it during reloads.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/herdrun/herd/internal/loadgen"
)

func main() {
	addr := flag.String("addr", "", "host:port")
	conns := flag.Int("conns", 2, "clients of each kind")
	flag.Parse()
	if *addr == "" {
		fmt.Fprintln(os.Stderr, "load: give -addr host:port")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var wg sync.WaitGroup
	res := make([]loadgen.Result, 2)
	for i, ka := range []bool{true, false} {
		wg.Go(func() {
			res[i] = loadgen.Run(ctx, loadgen.Options{Addr: *addr, Conns: *conns, KeepAlive: ka, Timeout: 20 * time.Second})
		})
	}
	wg.Wait()
	fmt.Printf("ok %d failed %d\n", res[0].OK+res[1].OK, res[0].Failed+res[1].Failed)
	shown := 0
	for _, r := range res {
		for msg, n := range r.Errors {
			if shown < 3 {
				fmt.Printf("  %d x %s\n", n, msg)
			}
			shown++
		}
	}
	if shown > 3 {
		fmt.Printf("  and %d other messages\n", shown-3)
	}
}
