package cluster_test

import (
	"context"
	"fmt"
	"os"

	"github.com/herdrun/herd/cluster"
)

// The two halves of a primary that replaces its own image (exec) without
// touching its Command workers: Handover in the old image, Config.Adopt
// in the new one. How the workers and their descriptors travel (a state
// file, close-on-exec cleared, child.Reexec) is the program's business;
// herd's daemon does it in herd update. (Compiled, not run.)
func ExampleCluster_Handover() {
	cfg := cluster.Config{Workers: 2, Command: []string{"./server"}, Listen: []cluster.Addr{{Address: "127.0.0.1:8080"}}}

	// Old image: freeze the cluster and take its workers and sockets.
	old := cluster.New(cfg, nil)
	go func() { _ = old.Run(context.Background()) }()
	<-old.Ready()
	sockets, _ := old.ListenerFiles()
	workers, err := old.Handover(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	// ... write workers down, clear close-on-exec on their files and on
	// sockets, child.Reexec ...

	// New image: the same workers, on the same sockets.
	cfg.Listen[0].File = sockets[0]
	cfg.Adopt = workers
	next := cluster.New(cfg, nil)
	if err := next.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
}
