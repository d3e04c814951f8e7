package contender

import (
	"context"
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

// StartTimeout bounds each wait of a start: for the READY line, for the
// instances to answer, for `pm2 start`.
const StartTimeout = 30 * time.Second

// stopGrace is how long Stop waits after SIGTERM before SIGKILL.
const stopGrace = 5 * time.Second

// ErrExited is wrapped by a StartError when the process exited before it was
// ready.
var ErrExited = errors.New("exited before it was ready")

// errTimeout is the cause of a start's context when StartTimeout passes.
var errTimeout = fmt.Errorf("not ready after %v", StartTimeout)

// StartError reports a contender that did not start. Stop has already been
// called on it.
type StartError struct {
	// Name is the contender's name.
	Name string
	// Err says why it did not start.
	Err error
}

// Error returns "<name>: <why>".
func (e *StartError) Error() string { return e.Name + ": " + e.Err.Error() }

// Unwrap returns Err.
func (e *StartError) Unwrap() error { return e.Err }

// Server is one running contender. The zero value is a server that runs
// nothing: Stop does nothing and SupervisorPID returns 0.
type Server struct {
	// Name labels the contender in tables, logs and errors.
	Name string
	// Addr is the loopback host:port the contender serves on.
	Addr string
	// Start is the time from exec (or `pm2 start`) until the contender was
	// ready.
	Start time.Duration
	// PIDs holds the instance pids seen answering; Stop sends SIGKILL to
	// each. It is nil for a ReadyLine process, whose instances all live in
	// its process group; callers that see new pids (a respawn) may add them
	// when it is not nil.
	PIDs map[int]bool

	cmd    *exec.Cmd     // nil for PM2, whose daemon is not our child
	exited chan struct{} // closed once cmd has been waited for
	stdout *os.File      // read end of a ReadyLine process's stdout
	pm2    *pm2Home
	// pm2Kill makes Stop run `pm2 kill` before it SIGKILLs the daemon.
	pm2Kill bool
	stopped bool
}

// SupervisorPID returns the pid whose memory counts as the supervisor's: the
// process started for a Proc or NodeCluster (Node's primary), or the PM2
// daemon (read from PM2_HOME/pm2.pid). It returns 0 if there is none or the
// daemon's pid file cannot be read.
func (s *Server) SupervisorPID() int {
	if s.cmd != nil {
		return s.cmd.Process.Pid
	}
	if s.pm2 == nil {
		return 0
	}
	b, err := os.ReadFile(filepath.Join(s.pm2.dir, "pm2.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// Stop ends the contender and everything it started, and waits until the
// process it started (if any) has been reaped. For a process group: SIGTERM
// to the group, SIGKILL to it if the process has not exited within five
// seconds, and SIGKILL to the group once more for any leftover. For PM2:
// `pm2 kill` first if PM2.KillFirst was set, then SIGKILL to the daemon.
// Then SIGKILL to every pid in PIDs, and removal of the private PM2_HOME.
// Stop is safe to call more than once; calls after the first do nothing.
func (s *Server) Stop() {
	if s.stopped {
		return
	}
	s.stopped = true
	if s.cmd != nil {
		pg := -s.cmd.Process.Pid
		syscall.Kill(pg, syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(stopGrace):
			syscall.Kill(pg, syscall.SIGKILL)
			<-s.exited
		}
		syscall.Kill(pg, syscall.SIGKILL) // leftovers of the group
		if s.stdout != nil {
			s.stdout.Close() // ends the READY scanner
		}
	}
	if s.pm2 != nil {
		if s.pm2Kill {
			ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
			_ = s.pm2.run(ctx, io.Discard, nil, "kill")
			cancel()
		}
		if pid := s.SupervisorPID(); pid > 1 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	for pid := range s.PIDs {
		if pid > 1 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if s.pm2 != nil {
		os.RemoveAll(s.pm2.dir)
	}
}

// FreeAddr returns a host:port on 127.0.0.1 whose port was free a moment
// ago, and that port alone. Another process may take the port before the
// contender does.
func FreeAddr() (addr, port string, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", "", fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	addr = ln.Addr().String()
	_, port, err = net.SplitHostPort(addr)
	return addr, port, err
}

// StartAll calls each start in order and returns the servers with a
// function that stops them all. If a start fails, StartAll stops the servers
// already started and returns its error, with a stop function that does
// nothing.
func StartAll(starts ...func() (*Server, error)) ([]*Server, func(), error) {
	var ss []*Server
	stop := func() {
		for _, s := range ss {
			s.Stop()
		}
	}
	for _, st := range starts {
		s, err := st()
		if err != nil {
			stop()
			return nil, func() {}, err
		}
		ss = append(ss, s)
	}
	return ss, stop, nil
}
