// Command cluster is the tutorial's cluster server: one worker process per
// CPU shares port PORT (default 3000), each answers "Handled by worker
// <pid>", and a worker that dies is replaced at once.
//
//	go run ./examples/cluster
//	curl localhost:3000             # Handled by worker 12345
//	kill -9 <a worker pid>          # respawned in milliseconds
//	kill -HUP <primary pid>         # rolling reload, no request dropped
//	kill -TTIN <primary pid>        # one worker more (TTOU: one less)
//	kill <primary pid>              # graceful stop
package main

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"

	"github.com/herdrun/herd/cluster"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "3000"
	}
	addr := net.JoinHostPort(os.Getenv("HOST"), port)
	cfg := cluster.Config{
		Listen: []cluster.Addr{{Address: addr, Name: "http"}},
		OnEvent: func(e cluster.Event) {
			switch e.Kind {
			case cluster.EventReady:
				log.Printf("worker %d (pid %d) is serving on %s", e.Worker, e.PID, addr)
			case cluster.EventExit:
				if !e.Expected {
					log.Printf("worker %d (pid %d) died (%s); starting a new one", e.Worker, e.PID, e.Status)
				}
			}
		},
	}
	if cluster.IsPrimary() {
		log.Printf("primary %d starting; reload with kill -HUP %d", os.Getpid(), os.Getpid())
	}
	err := cluster.Run(context.Background(), cfg, func(ctx context.Context, w *cluster.Worker) error {
		ln, err := w.Listen("tcp", addr)
		if err != nil {
			return err
		}
		return w.Serve(ctx, ln, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(rw, "Handled by worker %d\n", os.Getpid())
		}))
	})
	if err != nil {
		log.Fatal(err)
	}
}
