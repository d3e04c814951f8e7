// Command exec is the Node tutorial's exec example in Go: run a shell
// command, wait for it, and get its whole output at once.
//
//	const { exec } = require('child_process');
//	exec('ls -la', (error, stdout, stderr) => { ... });
//
// It runs `ls -la` with child.Exec and prints what it wrote, then runs
// `ls /nonexistent` to show the error path: the error is a *child.ExitError
// carrying the exit code and the tail of stderr.
//
//	go run ./examples/exec
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/herdrun/herd/child"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, "."); err != nil {
		fmt.Fprintln(os.Stderr, "exec:", err)
		os.Exit(1)
	}
}

// missing is a path that does not exist, for the error path.
const missing = "/nonexistent"

// run lists dir with `ls -la`, then shows how a failing command reports.
func run(ctx context.Context, stdout io.Writer, dir string) error {
	// Success: Exec runs the command with /bin/sh -c and buffers its output.
	res, err := child.Exec(ctx, "ls -la", &child.Options{Dir: dir})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "stdout:\n%s", res.Stdout)

	// Failure: a non-zero exit is an *child.ExitError with the exit code and
	// the last few KiB of stderr. res still holds whatever was captured.
	res, err = child.Exec(ctx, "ls "+missing, nil)
	var ee *child.ExitError
	if !errors.As(err, &ee) {
		return fmt.Errorf("ls %s: want an *child.ExitError, got %v", missing, err)
	}
	fmt.Fprintf(stdout, "\nerror: %v\n", err)
	fmt.Fprintf(stdout, "exit code: %d\n", ee.Code)
	fmt.Fprintf(stdout, "stderr: %s\n", strings.TrimSpace(string(ee.Stderr)))
	fmt.Fprintf(stdout, "stdout was %d bytes\n", len(res.Stdout))
	return nil
}
