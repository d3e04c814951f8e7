package contender

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// NodeCluster is Node's cluster module serving the tutorial's hello-world:
// `node cluster-server.js` from NodeDir, whose primary forks Workers workers
// that share one port and prints READY once they all listen.
type NodeCluster struct {
	// Name labels the contender; empty means "node-cluster-<Sched>", or
	// "node-cluster" without a Sched.
	Name string
	// NodeDir is the directory of cluster-server.js (bench/node).
	NodeDir string
	// Sched is the scheduling policy given to Node as
	// NODE_CLUSTER_SCHED_POLICY: "rr" (the primary accepts and hands out
	// connections) or "none" (the workers accept); empty leaves Node's
	// default.
	Sched string
	// Workers is how many workers the primary forks; less than 1 means 1.
	Workers int
	// Ready says when the cluster counts as started: once all Workers answer
	// (ReadyAnswers) or once the primary prints READY (ReadyLine).
	Ready Ready
	// Log receives node's stderr (and stdout with ReadyAnswers); nil
	// discards them.
	Log io.Writer
}

// Start runs `node cluster-server.js` on a free loopback port, with PORT,
// WORKERS and NODE_CLUSTER_SCHED_POLICY in its environment, as a Proc, and
// waits until it is ready. Its SupervisorPID is the primary's.
func (n NodeCluster) Start(ctx context.Context) (*Server, error) {
	name := n.Name
	if name == "" {
		name = "node-cluster"
		if n.Sched != "" {
			name += "-" + n.Sched
		}
	}
	workers := max(n.Workers, 1)
	addr, port, err := FreeAddr()
	if err != nil {
		return nil, &StartError{Name: name, Err: err}
	}
	cmd := exec.Command("node", filepath.Join(n.NodeDir, "cluster-server.js"))
	cmd.Env = append(os.Environ(), "PORT="+port, "WORKERS="+strconv.Itoa(workers))
	if n.Sched != "" {
		cmd.Env = append(cmd.Env, "NODE_CLUSTER_SCHED_POLICY="+n.Sched)
	}
	return Proc{Name: name, Addr: addr, Cmd: cmd, Instances: workers, Ready: n.Ready, Log: n.Log}.Start(ctx)
}
