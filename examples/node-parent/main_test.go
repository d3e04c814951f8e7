package main

import (
	"context"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/internal/testutil"
)

func TestMain(m *testing.M) {
	child.Register(role, greet)
	child.Dispatch() // the copy of this test binary that parent.js forks runs greet here
	testutil.VerifyTestMain(m)
}

// want is the whole output, with the child's pid replaced by PID.
const want = `go: running node parent.js
node: forking the Go program
go child: started (pid PID), channel mode node
node: got {"ready":true}
node: sending {"name":"Ada"}
go child: got {"name":"Ada"}
node: got {"greeting":"Hello, Ada!"}
node: sending {"name":"Grace"}
go child: got {"name":"Grace"}
node: got {"greeting":"Hello, Grace!"}
node: sending {"name":"Linus"}
go child: got {"name":"Linus"}
node: got {"greeting":"Hello, Linus!"}
node: done, disconnecting
go child: parent disconnected, exiting
node: Go child exited with code 0
go: node exited cleanly
`

var pidRE = regexp.MustCompile(`pid [0-9]+`)

func checkOutput(t *testing.T, got string) {
	t.Helper()
	if norm := pidRE.ReplaceAllString(got, "pid PID"); norm != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
}

// TestRun runs the example in-process: node forks this test binary, whose
// TestMain turns into the greeter.
func TestRun(t *testing.T) {
	testutil.RequireNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out testutil.SyncBuffer
	if err := run(ctx, &out); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}
	checkOutput(t, out.String())
}

// TestBuiltProgram builds the example as `go run` would and runs it.
func TestBuiltProgram(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the example with the go command, which -short skips; run without -short")
	}
	testutil.RequireNode(t)
	if _, err := exec.LookPath("go"); err != nil {
		t.Skipf("the go command is not in PATH (%v): put Go 1.26's bin directory on PATH", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	bin := testutil.BuildGo(ctx, t, ".")
	res, err := child.ExecFile(ctx, bin, nil, &child.Options{Timeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", bin, err, res.Stdout, res.Stderr)
	}
	checkOutput(t, string(res.Stdout))
}
