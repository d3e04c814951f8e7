package demo

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/internal/testutil"
)

func TestMain(m *testing.M) {
	Register()
	child.Dispatch() // in a worker forked by the tests: run it and exit
	testutil.VerifyTestMain(m)
}

// runNode runs a script with node and returns its trimmed stdout.
func runNode(t *testing.T, script string) string {
	t.Helper()
	node := testutil.RequireNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, "-e", script).Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	return strings.TrimSpace(string(out))
}
