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
