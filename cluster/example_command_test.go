package cluster_test

import (
	"context"
	"log"

	"github.com/herdrun/herd/cluster"
)

// A program in any language can be a worker if it takes its socket by
// systemd socket activation (fd 3, LISTEN_FDS, LISTEN_PID). Not run by go
// test: it needs python3 and a server.py, and serves :3000 until SIGTERM
// or Ctrl-C.
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

// A supervisor that learns a program's address only when the program asks
// for it (herd run's Node shim) gets the shared socket from the primary,
// opened on the first request, and hands it to the program, here over an
// ipc channel. Not run by go test: it needs node and an app.js.
func ExampleCluster_Listener() {
	c := cluster.New(cluster.Config{Workers: 2, Command: []string{"node", "app.js"}}, nil)
	go func() {
		<-c.Ready()
		f, err := c.Listener("tcp", "127.0.0.1:3000") // the primary's copy: do not close it
		if err != nil {
			log.Print(err)
			return
		}
		_ = f // e.g. conn.SendHandle(ctx, msg, f)
	}()
	if err := c.Run(context.Background()); err != nil {
		log.Fatal(err)
	}
}
