// Command clusterapp is an HTTP server written with package cluster exactly
// as the package documentation shows (cluster.Run, Worker.Listen,
// Worker.Serve), for herd's tests of such a program under `herd run`. It
// listens on :$PORT and answers "cluster <HERD_INSTANCE> pid <pid>".
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"github.com/herdrun/herd/cluster"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "3000"
	}
	addr := ":" + port
	cfg := cluster.Config{Workers: 2, Listen: []cluster.Addr{{Address: addr}}}
	err := cluster.Run(context.Background(), cfg, func(ctx context.Context, w *cluster.Worker) error {
		ln, err := w.Listen("tcp", addr)
		if err != nil {
			return err
		}
		fmt.Printf("clusterapp worker %d slot %d pid %d serving on %s\n", w.ID(), w.Slot(), os.Getpid(), ln.Addr())
		body := fmt.Sprintf("cluster %s pid %d", os.Getenv("HERD_INSTANCE"), os.Getpid())
		return w.Serve(ctx, ln, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			rw.Write([]byte(body))
		}))
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "clusterapp:", err)
		os.Exit(1)
	}
}
