package jobsnode

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
)

// nodeEnv makes the test binary run one node (see runNode) instead of the
// tests: TestElectionTimeout SIGKILLs nodes, so they run as processes.
const nodeEnv = "JOBSNODE_TEST_NODE"

func TestMain(m *testing.M) {
	if spec := os.Getenv(nodeEnv); spec != "" {
		os.Exit(runNode(spec))
	}
	testutil.VerifyTestMain(m)
}

// runNode runs the node spec names (NAME STORE LISTEN CLUSTER ROUTES
// ELECTION, space-separated, ROUTES comma-separated), prints "ready" once
// it is current with the cluster, and runs until SIGTERM.
func runNode(spec string) int {
	f := strings.Fields(spec)
	if len(f) != 6 {
		fmt.Fprintf(os.Stderr, "%s: want 6 fields, got %q\n", nodeEnv, spec)
		return 2
	}
	el, err := time.ParseDuration(f[5])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	n, err := Start(sctx, Config{Name: f[0], StoreDir: f[1], Listen: f[2], Cluster: f[3], Routes: strings.Split(f[4], ","), ElectionTimeout: el})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer n.Close()
	if err := n.Ready(sctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	<-ctx.Done()
	return 0
}
