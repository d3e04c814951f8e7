// Command herd brings the Node.js parallelism model to Go and to programs in
// any language. This first version runs the Node tutorial's fork server:
//
//	go run ./cmd/herd demo
//
// Run `herd --help` for the commands. Exit status: 0 on success, 1 when a
// command fails, 2 for a command line herd cannot parse.
package main

import (
	"context"
	"os"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/internal/demo"
)

func main() {
	// Roles first: a worker forked by this binary becomes that worker here
	// and never reaches the command line.
	demo.Register()
	child.Dispatch()

	os.Exit(execute(context.Background(), os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}
