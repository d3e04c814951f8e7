package main

import (
	"github.com/herdrun/herd/bench/internal/probe"

	"bufio"
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
	name string
	addr string
	cmd  *exec.Cmd // nil for PM2, whose daemon is not our child
	pm2  *pm2Home
	pids map[int]bool // worker pids seen, for PM2 clean-up
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startCmd starts cmd in its own process group and waits for READY on its
// stdout.
func startCmd(name, addr string, cmd *exec.Cmd, log io.Writer) (*server, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = log
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s := &server{name: name, addr: addr, cmd: cmd}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ok := false
		for sc.Scan() {
			if !ok && strings.TrimSpace(sc.Text()) == "READY" {
				ok = true
				ready <- true
			}
		}
		if !ok {
			ready <- false
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			s.stop()
			return nil, fmt.Errorf("%s exited before it was ready", name)
		}
	case <-time.After(30 * time.Second):
		s.stop()
		return nil, fmt.Errorf("%s not ready after 30s", name)
	}
	return s, nil
}

// startGo starts this binary as a Go contender.
func startGo(name, role, policy string, workers int, log io.Writer) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-serve="+role, "-addr="+addr, "-policy="+policy, "-workers="+strconv.Itoa(workers))
	return startCmd(name, addr, cmd, log)
}

// startNode starts Node's cluster module with a scheduling policy.
func startNode(name, nodeDir, sched string, workers int, log io.Writer) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command("node", filepath.Join(nodeDir, "cluster-server.js"))
	cmd.Env = append(os.Environ(), "PORT="+port, "WORKERS="+strconv.Itoa(workers), "NODE_CLUSTER_SCHED_POLICY="+sched)
	return startCmd(name, addr, cmd, log)
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

// startPM2 runs cluster-app.js with `pm2 start -i workers` and waits until
// it answers.
func startPM2(nodeDir string, workers int, log io.Writer) (*server, error) {
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
	if err := h.run(log, []string{"PORT=" + port}, "start", filepath.Join(nodeDir, "cluster-app.js"), "-i", strconv.Itoa(workers), "--name", "herdbench"); err != nil {
		s.stop()
		return nil, fmt.Errorf("pm2 start: %w", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if pid, err := probe.WhoAnswers(addr, time.Second); err == nil {
			s.pids[pid] = true
			if len(s.pids) >= workers || workers == 1 {
				return s, nil
			}
			continue
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.stop()
	return nil, errors.New("pm2: app not answering after 30s")
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
		syscall.Kill(pg, syscall.SIGKILL) // leftovers of the group
	}
	if s.pm2 != nil {
		_ = s.pm2.run(io.Discard, nil, "kill")
		if b, err := os.ReadFile(filepath.Join(s.pm2.dir, "pm2.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		for pid := range s.pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		os.RemoveAll(s.pm2.dir)
	}
}
