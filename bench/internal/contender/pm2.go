package contender

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// PM2 is PM2's cluster mode serving the tutorial's hello-world:
// `pm2 start cluster-app.js -i Instances`, with the PM2 pinned in
// NodeDir/node_modules and a fresh daemon in a private temporary PM2_HOME.
type PM2 struct {
	// Name labels the contender; empty means "pm2".
	Name string
	// NodeDir is the directory of cluster-app.js and of node_modules/pm2
	// (bench/node).
	NodeDir string
	// Instances is the -i of `pm2 start`; less than 1 means 1.
	Instances int
	// KillFirst makes Stop run `pm2 kill` (the daemon stops its instances)
	// before it SIGKILLs the daemon and the instances seen.
	KillFirst bool
	// Log receives the stderr of the pm2 commands; nil discards it.
	Log io.Writer
}

// pm2Home is a private PM2_HOME, so a benchmark never touches a user's PM2
// daemon.
type pm2Home struct {
	dir, bin string
}

// run runs `node pm2 args...` with PM2_HOME and env added to the
// environment, stdout discarded and stderr to log.
func (h *pm2Home) run(ctx context.Context, log io.Writer, env []string, args ...string) error {
	cmd := exec.CommandContext(ctx, "node", append([]string{h.bin}, args...)...)
	cmd.Env = append(append(os.Environ(), "PM2_HOME="+h.dir), env...)
	cmd.Stdout, cmd.Stderr = io.Discard, log
	cmd.WaitDelay = stopGrace
	return cmd.Run()
}

// Start runs `pm2 start cluster-app.js -i Instances --name herdbench` with
// PORT set to a free loopback port, then waits until Instances distinct pids
// answer there (WaitAnswers). Each of the two steps is bounded by
// StartTimeout and by ctx. Server.Start runs from `pm2 start` until the
// answers; Server.PIDs holds the pids that answered, and SupervisorPID is the
// daemon's. It returns a *StartError, after Stop, if either step fails.
func (p PM2) Start(ctx context.Context) (*Server, error) {
	name := p.Name
	if name == "" {
		name = "pm2"
	}
	log := p.Log
	if log == nil {
		log = io.Discard
	}
	n := max(p.Instances, 1)
	addr, port, err := FreeAddr()
	if err != nil {
		return nil, &StartError{Name: name, Err: err}
	}
	dir, err := os.MkdirTemp("", "herd-pm2-")
	if err != nil {
		return nil, &StartError{Name: name, Err: err}
	}
	h := &pm2Home{dir: dir, bin: filepath.Join(p.NodeDir, "node_modules", "pm2", "bin", "pm2")}
	s := &Server{Name: name, Addr: addr, PIDs: map[int]bool{}, pm2: h, pm2Kill: p.KillFirst}
	t0 := time.Now()
	sctx, cancel := context.WithTimeoutCause(ctx, StartTimeout, errTimeout)
	err = h.run(sctx, log, []string{"PORT=" + port}, "start", filepath.Join(p.NodeDir, "cluster-app.js"), "-i", strconv.Itoa(n), "--name", "herdbench")
	cancel()
	if err != nil {
		s.Stop()
		return nil, &StartError{Name: name, Err: fmt.Errorf("pm2 start: %w", err)}
	}
	wctx, cancel := context.WithTimeoutCause(ctx, StartTimeout, errTimeout)
	pids, err := waitAnswers(wctx, addr, n, nil)
	cancel()
	for pid := range pids {
		s.PIDs[pid] = true
	}
	if err != nil {
		s.Stop()
		return nil, &StartError{Name: name, Err: err}
	}
	s.Start = time.Since(t0)
	return s, nil
}
