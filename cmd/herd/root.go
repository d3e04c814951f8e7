package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1 // a command ran and failed
	exitUsage = 2 // the command line is wrong
)

// runError marks an error from a command that ran, as opposed to one cobra
// returned while parsing the command line.
type runError struct{ err error }

func (e *runError) Error() string { return e.err.Error() }
func (e *runError) Unwrap() error { return e.err }

// usageError is a command line a command's own checks refused.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// runE adapts f so that its errors count as failures (exit 1), except
// usageErrors (exit 2).
func runE(f func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := f(cmd, args)
		var ue *usageError
		if err == nil || errors.As(err, &ue) {
			return err
		}
		return &runError{err}
	}
}

// env reads an environment variable; os.Getenv, or a map in tests.
type env func(string) string

// execute runs the command line args and returns the exit status. Errors
// go to stderr as one line, prefixed "herd: ".
func execute(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) int {
	root := newRootCmd(stdout, stderr, getenv)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	var rep *reportedError
	if errors.As(err, &rep) {
		return exitError // the command printed its failures
	}
	fmt.Fprintf(stderr, "herd: %v\n", err)
	var ce *exitCodeError
	if errors.As(err, &ce) {
		return ce.code
	}
	var re *runError
	if errors.As(err, &re) {
		return exitError
	}
	fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	return exitUsage
}

const rootLong = `herd brings the Node.js parallelism model to Go, and to programs in any
language: child processes that cannot leak, workers forked from the same
binary with a message channel (wire-compatible with Node's fork()), worker
pools, clusters that share a port, and a supervisor.

"herd start" hands apps to a per-user daemon that keeps them running in the
background, the PM2 way: herd ls, logs, reload, scale, stop, save, resurrect,
startup (see "herd start --help" and the README's PM2 cheat-sheet).
"herd run" runs any program as N supervised instances in the foreground,
sharing its ports (cluster mode, for Node apps unmodified too) or not (fork
mode), like pm2-runtime or gunicorn. "herd demo" runs the Node tutorial's
whole system: a cluster on :3000 whose workers answer / at once and send
/heavy to a worker pool, and durable jobs over HTTP; "herd jobs" submits
and follows those jobs.`

const rootExample = `  herd start app.js -i max -p 3000      # in the background daemon; then herd ls, herd logs
  herd run -i 2 -p 3000 -- node app.js   # a Node app on 2 cores, unmodified
  herd run -c herd.yaml --env production
  herd demo                # the tutorial's system on 127.0.0.1:3000
  herd demo --port 8080    # or PORT=8080 herd demo
  herd jobs submit resize --wait   # a job on the demo's jobs API
  herd version`

// newRootCmd builds the command tree.
func newRootCmd(stdout, stderr io.Writer, getenv env) *cobra.Command {
	root := &cobra.Command{
		Use:     "herd",
		Short:   "Node's child_process and fork model, for Go and for any program",
		Long:    rootLong,
		Example: rootExample,
		Version: versionString(),
		// herd prints errors itself, once, and usage only on request.
		SilenceErrors: true,
		SilenceUsage:  true,
		CompletionOptions: cobra.CompletionOptions{
			HiddenDefaultCmd: true, // `herd completion bash` still works
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetVersionTemplate("herd {{.Version}}\n")
	root.AddCommand(newDemoCmd(getenv), newRunCmd(stdout, stderr, getenv), newJobsCmd(getenv), newVersionCmd(getenv))
	root.AddCommand(newCtlCmds(stdout, stderr, getenv)...)
	root.AddCommand(newMonitCmd(stdout, getenv), newDashboardCmd(stdout, getenv))
	return root
}
