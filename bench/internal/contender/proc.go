package contender

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/herdrun/herd/bench/internal/probe"
)

// Ready says when a started process counts as ready.
type Ready int

const (
	// ReadyAnswers waits until as many distinct pids as the contender has
	// instances have answered GET / on its address. The process's stdout and
	// stderr go to the log.
	ReadyAnswers Ready = iota
	// ReadyLine waits until the process prints a line "READY" on stdout;
	// the rest of its stdout is discarded and its stderr goes to the log.
	ReadyLine
)

// String returns "answers" or "line".
func (r Ready) String() string {
	if r == ReadyLine {
		return "line"
	}
	return "answers"
}

// Proc is a contender run by a command of the caller's: a server on Addr
// whose instances all descend from Cmd's process.
type Proc struct {
	// Name labels the contender.
	Name string
	// Addr is where the command serves (see FreeAddr).
	Addr string
	// Cmd is the command, not yet started. Start sets its SysProcAttr,
	// Stdout and Stderr, and its WaitDelay if it is zero.
	Cmd *exec.Cmd
	// Instances is how many distinct pids must answer with ReadyAnswers;
	// less than 1 means 1.
	Instances int
	// Ready says when the process counts as ready.
	Ready Ready
	// Log receives the process's stderr (and, with ReadyAnswers, its
	// stdout); nil discards them.
	Log io.Writer
}

// Start starts p.Cmd in a process group of its own, with SIGKILL as its
// parent-death signal, and waits until it is ready as p.Ready says, for at
// most StartTimeout or until ctx is done. It returns a *StartError, after
// stopping the process, if the process exits first or is not ready in time.
func (p Proc) Start(ctx context.Context) (*Server, error) {
	log := p.Log
	if log == nil {
		log = io.Discard
	}
	cmd := p.Cmd
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = stopGrace
	}
	cmd.Stderr = log
	var rd, wr *os.File
	if p.Ready == ReadyLine {
		var err error
		if rd, wr, err = os.Pipe(); err != nil {
			return nil, &StartError{Name: p.Name, Err: err}
		}
		cmd.Stdout = wr
	} else {
		cmd.Stdout = log
	}
	t0 := time.Now()
	err := cmd.Start()
	if wr != nil {
		wr.Close() // the child holds its own copy
	}
	if err != nil {
		if rd != nil {
			rd.Close()
		}
		return nil, &StartError{Name: p.Name, Err: err}
	}
	s := &Server{Name: p.Name, Addr: p.Addr, cmd: cmd, exited: make(chan struct{}), stdout: rd}
	go func() {
		cmd.Wait()
		close(s.exited)
	}()
	ctx, cancel := context.WithTimeoutCause(ctx, StartTimeout, errTimeout)
	defer cancel()
	if p.Ready == ReadyLine {
		err = waitLine(ctx, rd, s.exited)
	} else {
		s.PIDs, err = waitAnswers(ctx, p.Addr, p.Instances, s.exited)
	}
	if err != nil {
		s.Stop()
		return nil, &StartError{Name: p.Name, Err: err}
	}
	s.Start = time.Since(t0)
	return s, nil
}

// waitLine waits for a line READY on r, then keeps draining r in the
// background (so that the process never blocks on a full pipe) until it
// ends or Stop closes it.
func waitLine(ctx context.Context, r *os.File, exited <-chan struct{}) error {
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(r)
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
			return ErrExited
		}
		return nil
	case <-exited:
		return ErrExited
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// WaitAnswers sends GET / to addr on new connections until n distinct pids
// have answered (n less than 1 means 1), and returns them. It polls every
// 2 ms while nobody answers, each attempt bounded by one second. If ctx is
// done first it returns the pids seen so far with an error saying how many
// of n answered.
func WaitAnswers(ctx context.Context, addr string, n int) (map[int]bool, error) {
	return waitAnswers(ctx, addr, n, nil)
}

func waitAnswers(ctx context.Context, addr string, n int, exited <-chan struct{}) (map[int]bool, error) {
	n = max(n, 1)
	pids := map[int]bool{}
	for {
		select {
		case <-exited:
			return pids, fmt.Errorf("%s: %d of %d instances answering: %w", addr, len(pids), n, ErrExited)
		case <-ctx.Done():
			return pids, fmt.Errorf("%s: %d of %d instances answering: %w", addr, len(pids), n, context.Cause(ctx))
		default:
		}
		if pid, err := probe.WhoAnswers(addr, time.Second); err == nil {
			pids[pid] = true
			if len(pids) >= n {
				return pids, nil
			}
			continue
		}
		select {
		case <-ctx.Done(): // reported at the top of the loop
		case <-time.After(2 * time.Millisecond):
		}
	}
}
