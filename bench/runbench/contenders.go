package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/herdrun/herd/bench/internal/contender"
	"github.com/herdrun/herd/internal/procfs"
)

// startHerd runs `herd run -i n -p PORT -- node cluster-app.js` and waits
// until its n instances answer.
func startHerd(herdBin, nodeDir string, n int, log io.Writer, extra ...string) (*contender.Server, error) {
	addr, port, err := contender.FreeAddr()
	if err != nil {
		return nil, err
	}
	args := append([]string{"run", "-i", strconv.Itoa(n), "--host", "127.0.0.1", "-p", port}, extra...)
	args = append(args, "--", "node", filepath.Join(nodeDir, "cluster-app.js"))
	cmd := exec.Command(herdBin, args...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	return contender.Proc{Name: "herd-run", Addr: addr, Cmd: cmd, Instances: n, Log: log}.Start(context.Background())
}

// startNode starts Node's cluster module with a scheduling policy and waits
// until its n workers answer.
func startNode(name, nodeDir, sched string, n int, log io.Writer) (*contender.Server, error) {
	return contender.NodeCluster{Name: name, NodeDir: nodeDir, Sched: sched, Workers: n, Log: log}.Start(context.Background())
}

// startNodeAlone runs `node cluster-app.js` alone and waits until it
// answers.
func startNodeAlone(nodeDir string, log io.Writer) (*contender.Server, error) {
	addr, port, err := contender.FreeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("node", filepath.Join(nodeDir, "cluster-app.js"))
	cmd.Env = append(os.Environ(), "PORT="+port)
	return contender.Proc{Name: "node-alone", Addr: addr, Cmd: cmd, Instances: 1, Log: log}.Start(context.Background())
}

// startPM2 runs cluster-app.js with `pm2 start -i n` (a fresh daemon in a
// temporary PM2_HOME) and waits until every instance answers.
func startPM2(nodeDir string, n int, log io.Writer) (*contender.Server, error) {
	return contender.PM2{NodeDir: nodeDir, Instances: n, Log: log}.Start(context.Background())
}

// rssKB returns a process's VmRSS in kB.
func rssKB(pid int) (float64, error) {
	st, err := procfs.ReadStatus(pid)
	if err != nil {
		return 0, err
	}
	if st.VMRSS == 0 {
		return 0, errors.New("no VmRSS")
	}
	return float64(st.VMRSS >> 10), nil
}
