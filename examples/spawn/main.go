// Command spawn is the Node tutorial's spawn example in Go: start a
// long-running command and handle its output as it comes, line by line,
// instead of buffering it all as exec does.
//
//	const { spawn } = require('child_process');
//	const child = spawn('ping', ['google.com']);
//	child.stdout.on('data', (data) => console.log(`stdout: ${data}`));
//	child.on('close', (code) => console.log(`child process exited with code ${code}`));
//
// With no arguments it runs a small shell loop that prints a tick five
// times, 200ms apart (this needs no network and no ping binary). Give it
// a command to stream that instead:
//
//	go run ./examples/spawn
//	go run ./examples/spawn ping -c 3 127.0.0.1
//
// Ctrl-C cancels the context, which kills the child's whole process group.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/herdrun/herd/child"
	"golang.org/x/sys/unix"
)

// defaultCommand prints five ticks on stdout, one every 200ms, then a note on
// stderr.
var defaultCommand = []string{"sh", "-c", `for i in 1 2 3 4 5; do echo "tick $i"; sleep 0.2; done; echo "done ticking" >&2`}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	argv := os.Args[1:]
	if len(argv) == 0 {
		argv = defaultCommand
	}
	if err := run(ctx, os.Stdout, argv); err != nil {
		fmt.Fprintln(os.Stderr, "spawn:", err)
		os.Exit(1)
	}
}

// run starts argv, prints each line of its stdout and stderr as it arrives,
// and then how it exited. A command that runs and fails is reported, not
// returned: run returns an error only if the command cannot be started or
// its output cannot be read.
func run(ctx context.Context, stdout io.Writer, argv []string) error {
	if len(argv) == 0 {
		return errors.New("no command")
	}
	p, err := child.Spawn(ctx, argv[0], argv[1:], nil)
	if err != nil {
		return err
	}
	p.Stdin.Close() // nothing to send it

	// Two streams, one writer: print a line at a time under a lock.
	var mu sync.Mutex
	printf := func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(stdout, format, a...)
	}
	stream := func(name string, r io.Reader) error {
		for line, err := range child.Lines(r) {
			if err != nil {
				return fmt.Errorf("read %s: %w", name, err)
			}
			printf("%s: %s\n", name, line)
		}
		return nil
	}
	errc := make(chan error, 1)
	go func() { errc <- stream("stderr", p.Stderr) }()
	serr := stream("stdout", p.Stdout)
	if err := <-errc; serr == nil {
		serr = err
	}

	// Wait reaps the child; its error says how it ended.
	werr := p.Wait()
	var ee *child.ExitError
	switch {
	case werr == nil:
		printf("child process exited with code %d\n", p.ExitCode())
	case errors.As(werr, &ee) && ee.Signal != 0:
		printf("child process killed by %s\n", unix.SignalName(ee.Signal))
	case errors.As(werr, &ee):
		printf("child process exited with code %d\n", ee.Code)
	default:
		return werr
	}
	return serr
}
