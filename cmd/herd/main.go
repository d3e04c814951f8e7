// Command herd brings the Node.js parallelism model to Go and to programs in
// any language. `herd run` supervises any program across cores in the
// foreground (cluster mode with shared ports, or fork mode); `herd demo` runs
// the Node tutorial's whole system:
//
//	go run ./cmd/herd demo
//	go run ./cmd/herd run -i 2 -p 3000 -- node app.js
//
// `herd start` runs apps in a per-user background daemon instead (herd ls,
// logs, reload, save, resurrect, startup; see package daemon).
//
// Run `herd --help` for the commands. Exit status: 0 on success, 1 when a
// command fails, 2 for a command line herd cannot parse; herd run adds 3 for
// an app that kept crashing (errored) and 127 for a command not found.
package main

import (
	"context"
	"os"
	"runtime"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/cmd/herd/internal/demo"
	"github.com/herdrun/herd/cmd/herd/internal/nodeshim"
	"github.com/herdrun/herd/internal/guard"
)

// The main goroutine stays on the main thread: the daemon starts every
// instance from it, so that herd update's exec, which keeps only the
// thread that calls it, keeps the instances (see child.ServeStarts).
func init() { runtime.LockOSThread() }

func main() {
	// A guard between herd and an instance (see orphans_guard.go) before
	// anything else: it must not touch the instance's descriptors.
	if code, ok := guard.Dispatch(os.Args); ok {
		os.Exit(code)
	}
	// The Node shim's listen relay (see nodeshim.RelayMain), started by a
	// node process of an instance.
	if len(os.Args) > 1 && os.Args[1] == nodeshim.RelayArg {
		os.Exit(nodeshim.RelayMain(os.Args[2:]))
	}
	guardInstances()
	// Roles first: a worker forked by this binary becomes that worker here
	// and never reaches the command line.
	demo.Register()
	child.Dispatch()

	os.Exit(execute(context.Background(), os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}
