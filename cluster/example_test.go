package cluster_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/herdrun/herd/cluster"
)

// The tutorial's cluster server: one worker per CPU on :3000, each answering
// with its pid. Run it as the whole main of a program; the same code runs in
// the primary and in every worker.
func Example() {
	cfg := cluster.Config{Listen: []cluster.Addr{{Address: ":3000"}}}
	err := cluster.Run(context.Background(), cfg, func(ctx context.Context, w *cluster.Worker) error {
		ln, err := w.Listen("tcp", ":3000")
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

// Drive the cluster from the primary: watch events, reload on demand.
func ExampleCluster() {
	cfg := cluster.Config{
		Workers: 2,
		Listen:  []cluster.Addr{{Address: ":3000"}},
		OnEvent: func(e cluster.Event) {
			if e.Kind == cluster.EventExit && !e.Expected {
				log.Printf("worker %d (pid %d) %s", e.Worker, e.PID, e.Status)
			}
		},
	}
	c := cluster.New(cfg, func(ctx context.Context, w *cluster.Worker) error {
		ln, err := w.Listen("tcp", ":3000")
		if err != nil {
			return err
		}
		return w.Serve(ctx, ln, http.NotFoundHandler())
	})
	go func() {
		<-c.Ready()
		for _, w := range c.Workers() {
			log.Printf("worker %d: pid %d, %d MiB", w.ID, w.PID, w.RSS>>20)
		}
		if err := c.Reload(context.Background()); err != nil {
			log.Print(err) // the old workers are still serving
		}
	}()
	if err := c.Run(context.Background()); err != nil {
		log.Fatal(err)
	}
}

// A program in any language can be a worker if it takes its socket by
// systemd socket activation (fd 3, LISTEN_FDS, LISTEN_PID).
func ExampleConfig_command() {
	cfg := cluster.Config{
		Workers:      2,
		Listen:       []cluster.Addr{{Address: ":3000", Name: "web"}},
		Command:      []string{"python3", "server.py"},
		ReadyOnStart: true,
	}
	if err := cluster.Run(context.Background(), cfg, nil); err != nil {
		log.Fatal(err)
	}
}
