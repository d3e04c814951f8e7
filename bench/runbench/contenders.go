package main

import (
	"github.com/herdrun/herd/bench/internal/probe"

	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// server is one running contender.
type server struct {
	name  string
	addr  string
	cmd   *exec.Cmd // nil for PM2, whose daemon is not our child
	pm2   *pm2Home
	pids  map[int]bool // instance pids seen answering
	start time.Duration
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// supervisorPID is the pid whose RSS counts as the supervisor's.
func (s *server) supervisorPID() int {
	if s.cmd != nil {
		return s.cmd.Process.Pid
	}
	b, err := os.ReadFile(filepath.Join(s.pm2.dir, "pm2.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// waitAnswers polls addr until n distinct pids have answered; it returns
// them.
func waitAnswers(addr string, n int, deadline time.Time) (map[int]bool, error) {
	pids := map[int]bool{}
	for time.Now().Before(deadline) {
		if pid, err := probe.WhoAnswers(addr, time.Second); err == nil {
			pids[pid] = true
			if len(pids) >= n {
				return pids, nil
			}
			continue
		}
		time.Sleep(2 * time.Millisecond)
	}
	return pids, fmt.Errorf("%s: %d of %d instances answering after the deadline", addr, len(pids), n)
}

// startCmd starts cmd in its own process group and waits until n instances
// answer on addr.
func startCmd(name, addr string, n int, cmd *exec.Cmd, log io.Writer) (*server, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Stdout, cmd.Stderr = log, log
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s := &server{name: name, addr: addr, cmd: cmd}
	pids, err := waitAnswers(addr, n, time.Now().Add(30*time.Second))
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s.pids, s.start = pids, time.Since(t0)
	return s, nil
}

// startHerd runs `herd run -i n -p PORT -- node cluster-app.js`.
func startHerd(herdBin, nodeDir string, n int, log io.Writer, extra ...string) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	args := append([]string{"run", "-i", strconv.Itoa(n), "--host", "127.0.0.1", "-p", port}, extra...)
	args = append(args, "--", "node", filepath.Join(nodeDir, "cluster-app.js"))
	cmd := exec.Command(herdBin, args...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	cmd.Stdout = io.Discard
	return startCmd("herd-run", addr, n, cmd, log)
}

// startNode starts Node's cluster module with a scheduling policy.
func startNode(name, nodeDir, sched string, n int, log io.Writer) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command("node", filepath.Join(nodeDir, "cluster-server.js"))
	cmd.Env = append(os.Environ(), "PORT="+port, "WORKERS="+strconv.Itoa(n), "NODE_CLUSTER_SCHED_POLICY="+sched)
	return startCmd(name, addr, n, cmd, log)
}

// pm2Home is a private PM2_HOME, so the benchmark never touches a user's
// PM2 daemon.
type pm2Home struct {
	dir, bin string
}

func (h *pm2Home) run(log io.Writer, env []string, args ...string) error {
	cmd := exec.Command("node", append([]string{h.bin}, args...)...)
	cmd.Env = append(append(os.Environ(), "PM2_HOME="+h.dir), env...)
	cmd.Stdout, cmd.Stderr = io.Discard, log
	return cmd.Run()
}

// startPM2 runs cluster-app.js with `pm2 start -i n` (a fresh daemon in a
// temporary PM2_HOME) and waits until every instance answers.
func startPM2(nodeDir string, n int, log io.Writer) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	dir, err := os.MkdirTemp("", "herd-pm2-")
	if err != nil {
		return nil, err
	}
	h := &pm2Home{dir: dir, bin: filepath.Join(nodeDir, "node_modules", "pm2", "bin", "pm2")}
	s := &server{name: "pm2", addr: addr, pm2: h, pids: map[int]bool{}}
	t0 := time.Now()
	if err := h.run(log, []string{"PORT=" + port}, "start", filepath.Join(nodeDir, "cluster-app.js"), "-i", strconv.Itoa(n), "--name", "herdbench"); err != nil {
		s.stop()
		return nil, fmt.Errorf("pm2 start: %w", err)
	}
	pids, err := waitAnswers(addr, n, time.Now().Add(30*time.Second))
	s.pids = pids
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("pm2: %w", err)
	}
	s.start = time.Since(t0)
	return s, nil
}

// stop ends a contender and everything it started.
func (s *server) stop() {
	if s.cmd != nil {
		pg := -s.cmd.Process.Pid
		syscall.Kill(pg, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			syscall.Kill(pg, syscall.SIGKILL)
			<-done
		}
		syscall.Kill(pg, syscall.SIGKILL)
		for pid := range s.pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if s.pm2 != nil {
		if pid := s.supervisorPID(); pid > 1 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		for pid := range s.pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		os.RemoveAll(s.pm2.dir)
	}
}

// rssKB returns a process's VmRSS in kB.
func rssKB(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				return strconv.ParseFloat(f[0], 64)
			}
		}
	}
	return 0, errors.New("no VmRSS")
}
