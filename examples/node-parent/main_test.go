package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/herdrun/herd/child"
)

func TestMain(m *testing.M) {
	child.Register(role, greet)
	child.Dispatch() // the copy of this test binary that parent.js forks runs greet here
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/herdrun/herd/child.startLoop"))
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

func requireNode(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("HERD_REQUIRE_NODE") == "1" {
			t.Fatalf("node is required (HERD_REQUIRE_NODE=1) but not found: %v", err)
		}
		t.Skip("node not found; set HERD_REQUIRE_NODE=1 to make this a failure")
	}
}

// output collects what run writes, from more than one goroutine.
type output struct {
	mu sync.Mutex
	b  strings.Builder
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// TestRun runs the example in-process: node forks this test binary, whose
// TestMain turns into the greeter.
func TestRun(t *testing.T) {
	requireNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out output
	if err := run(ctx, &out); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}
	checkOutput(t, out.String())
}

// TestBuiltProgram builds the example as `go run` would and runs it.
func TestBuiltProgram(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the example with the go command")
	}
	requireNode(t)
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("go command not found: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "node-parent")
	if res, err := child.ExecFile(ctx, goCmd, []string{"build", "-o", bin, "."}, nil); err != nil {
		t.Fatalf("go build: %v\n%s", err, res.Stderr)
	}
	res, err := child.ExecFile(ctx, bin, nil, &child.Options{Timeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", bin, err, res.Stdout, res.Stderr)
	}
	checkOutput(t, string(res.Stdout))
}
