package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"strconv"

	"github.com/herdrun/herd/bench/internal/contender"
)

// startGo starts this binary as a Go contender (see serve), ready once it
// prints READY.
func startGo(name, role, policy string, workers int, log io.Writer) (*contender.Server, error) {
	addr, _, err := contender.FreeAddr()
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-serve="+role, "-addr="+addr, "-policy="+policy, "-workers="+strconv.Itoa(workers))
	return contender.Proc{Name: name, Addr: addr, Cmd: cmd, Ready: contender.ReadyLine, Log: log}.Start(context.Background())
}

// startNode starts Node's cluster module with a scheduling policy, ready
// once its primary prints READY.
func startNode(name, nodeDir, sched string, workers int, log io.Writer) (*contender.Server, error) {
	return contender.NodeCluster{Name: name, NodeDir: nodeDir, Sched: sched, Workers: workers, Ready: contender.ReadyLine, Log: log}.Start(context.Background())
}

// startPM2 runs cluster-app.js with `pm2 start -i workers` and waits until
// every worker answers; its Stop runs `pm2 kill` first.
func startPM2(nodeDir string, workers int, log io.Writer) (*contender.Server, error) {
	return contender.PM2{NodeDir: nodeDir, Instances: workers, KillFirst: true, Log: log}.Start(context.Background())
}
