package interop_test

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/internal/testutil"
)

// waitTimeout bounds every wait on a Node process or a message.
const waitTimeout = 30 * time.Second

// requireNode returns the path of node. Without it the test is skipped, or
// fails when HERD_REQUIRE_NODE=1.
func requireNode(t testing.TB) string {
	t.Helper()
	return testutil.RequireNode(t)
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// syncBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// nodeChild is a Node child of this process, started by child.Fork.
type nodeChild struct {
	*child.Process
	stdout, stderr *syncBuffer
}

// forkNode runs `node testdata/child.js scenario` with a ModeNode channel.
// Cleanup kills it if the test did not wait for it.
func forkNode(t *testing.T, scenario string) *nodeChild {
	t.Helper()
	node := requireNode(t)
	nc := &nodeChild{stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	p, err := child.Fork(context.Background(), "testdata/child.js", []string{scenario}, &child.Options{
		ExecPath: node,
		Stdout:   nc.stdout,
		Stderr:   nc.stderr,
		Timeout:  2 * waitTimeout,
	})
	if err != nil {
		t.Fatalf("Fork(node testdata/child.js %s): %v", scenario, err)
	}
	nc.Process = p
	t.Cleanup(func() {
		p.Kill(9)
		p.Wait()
		p.Channel.Close()
	})
	return nc
}

// wait waits for the Node child to exit and returns Wait's error.
func (nc *nodeChild) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-nc.Done():
	case <-time.After(waitTimeout):
		t.Fatalf("node child did not exit within %v; stderr:\n%s", waitTimeout, nc.stderr)
	}
	return nc.Wait()
}
