package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/herdrun/herd/cluster"
)

// hello is the tutorial's handler.
func hello(rw http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(rw, "Handled by worker %d", os.Getpid())
}

// serve runs a Go contender and returns the exit status. The primary (or
// the single process) prints READY on stdout once it serves.
func serve(role, addr, policy string, workers int) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	switch role {
	case "single":
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		srv := &http.Server{Handler: http.HandlerFunc(hello)}
		go srv.Serve(ln)
		fmt.Println("READY")
		<-ctx.Done()
		srv.Close()
		return 0
	case "cluster":
		p, err := cluster.ParsePolicy(policy)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		c := cluster.New(cluster.Config{
			Workers:   workers,
			Policy:    p,
			Listen:    []cluster.Addr{{Address: addr}},
			NoSignals: true,
		}, func(ctx context.Context, w *cluster.Worker) error {
			ln, err := w.Listen("tcp", addr)
			if err != nil {
				return err
			}
			return w.Serve(ctx, ln, http.HandlerFunc(hello))
		})
		go func() {
			select {
			case <-c.Ready():
				fmt.Println("READY")
			case <-c.Done():
			}
			select {
			case <-ctx.Done():
				c.Shutdown(context.Background())
			case <-c.Done():
			}
		}()
		if err := c.Run(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown role", role)
	return 2
}
