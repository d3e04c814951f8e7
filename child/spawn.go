package child

import (
	"github.com/herdrun/herd/internal/killer"
	"github.com/herdrun/herd/ipc"

	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Process is a running child started by Spawn. Its exported fields are set
// by Spawn and must not be changed.
type Process struct {
	// Pid is the child's process id, which is also its process group id.
	Pid int

	// Stdin writes to the child's standard input. It is nil if
	// Options.Stdin was set. Close it to send EOF; Wait closes it after the
	// child exits.
	Stdin io.WriteCloser

	// Stdout reads the child's standard output. It is nil if Options.Stdout
	// was set. It returns io.EOF once the output is done, including when herd
	// closed the pipe PipeGrace after the child exited; data still in the pipe
	// then is delivered first.
	Stdout io.ReadCloser

	// Stderr is like Stdout, for standard error.
	Stderr io.ReadCloser

	// Channel is the message channel to a child started by Fork or
	// ForkSelf, and nil for Spawn. It stays readable after the child exits
	// until every message the child sent has been received; its descriptor
	// is released when the child's end closes.
	Channel *ipc.Conn

	cmd  string
	opts Options
	proc *os.Process

	readers  []*pipeReader  // every parent read end: user pipes and copier pipes
	outR     *pipeReader    // the stdout pipe's read end, if a pipe
	errR     *pipeReader    // the stderr pipe's read end, if a pipe
	copiers  sync.WaitGroup // goroutines feeding Options.Stdout/Stderr writers
	stdinW   *closeOnceFile // write end of the stdin pipe, if any
	stdinCpy chan struct{}  // closed when the Options.Stdin copier ends; nil if none
	onExit   []func()       // from spawnExtra, run by the reaper before done
	exitCode atomic.Int64   // -1 until exited normally
	detached atomic.Bool    // Detach stopped the copiers: they must not drain

	mu       sync.Mutex
	exited   bool        // the child has exited (maybe not yet reaped); no more signals
	killed   bool        // herd sent a kill signal before exit
	reason   error       // why herd killed it; first one wins
	stopCtx  func() bool // unregisters the context watcher
	timer    *time.Timer // Options.Timeout
	escalate *killer.Kill

	done chan struct{} // closed when Wait returns
	err  error         // Wait's result, set before done is closed
}

// spawnExtra carries what Fork (and Exec) add on top of Spawn.
type spawnExtra struct {
	// ExtraFiles become fd 3, 4, ... in the child. spawn does not close
	// them: the caller closes its copies once spawn returns.
	ExtraFiles []*os.File
	// Env is appended to the child's environment.
	Env []string
	// Stdout and Stderr, if non-nil, replace Options.Stdout and
	// Options.Stderr.
	Stdout, Stderr io.Writer
	// OnExit functions run once, in order, after the child has been reaped
	// and its pipes are done, before Wait returns.
	OnExit []func()

	nullStdin bool             // a nil Options.Stdin means /dev/null, not a pipe
	cmd       string           // the command line for errors; "" = name and args
	onStart   func(p *Process) // called before any goroutine of p starts
}

// Spawn starts the program name with args and returns at once. The program
// is looked up in PATH unless name contains a slash. The child runs in its
// own process group; cancelling ctx or Options.Timeout kills that group (see
// Options.KillSignal). Unless Options gives them, Process.Stdin, Stdout and
// Stderr are pipes to the child. The caller must call Wait (or wait on Done)
// to learn how it ended; the child is reaped either way. A failure to start
// is a *StartError.
func Spawn(ctx context.Context, name string, args []string, opts *Options) (*Process, error) {
	return spawn(ctx, name, args, opts, nil)
}

// spawn is Spawn with the hooks in extra (which may be nil).
func spawn(ctx context.Context, name string, args []string, opts *Options, extra *spawnExtra) (p *Process, err error) {
	if ctx == nil {
		panic("child: nil Context")
	}
	if extra == nil {
		extra = &spawnExtra{}
	}
	o := opts.withDefaults()
	cmd := extra.cmd
	if cmd == "" {
		cmd = strings.Join(append([]string{name}, args...), " ")
	}
	fail := func(err error) (*Process, error) { return nil, &StartError{Cmd: cmd, Err: err} }
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if name == "" {
		return fail(exec.ErrNotFound)
	}
	path := name
	if !strings.Contains(name, "/") {
		if path, err = exec.LookPath(name); err != nil {
			return fail(err)
		}
	}

	p = &Process{cmd: cmd, opts: o, done: make(chan struct{}), onExit: extra.OnExit}
	p.exitCode.Store(-1)

	// Descriptors: childFiles go to the child and are closed here after the
	// start; on failure parentFiles are closed too.
	var childFiles, parentFiles []io.Closer
	defer func() {
		for _, c := range childFiles {
			c.Close()
		}
		if err != nil {
			for _, c := range parentFiles {
				c.Close()
			}
		}
	}()
	newPipe := func() (r, w *os.File, err error) {
		r, w, err = os.Pipe()
		return
	}

	// stdin
	var stdin *os.File
	var stdinSrc io.Reader
	if f, ok := o.Stdin.(*os.File); ok {
		stdin = f
	} else if o.Stdin == nil && extra.nullStdin {
		f, err := os.Open(os.DevNull)
		if err != nil {
			return fail(err)
		}
		childFiles = append(childFiles, f)
		stdin = f
	} else {
		r, w, err := newPipe()
		if err != nil {
			return fail(err)
		}
		childFiles = append(childFiles, r)
		p.stdinW = &closeOnceFile{File: w}
		parentFiles = append(parentFiles, p.stdinW)
		stdin = r
		if o.Stdin == nil {
			p.Stdin = p.stdinW
		} else {
			stdinSrc = o.Stdin
		}
	}

	// stdout, stderr
	type copyJob struct {
		dst io.Writer
		src *pipeReader
	}
	var copies []copyJob
	output := func(w io.Writer, user *io.ReadCloser, keep **pipeReader) (*os.File, error) {
		if f, ok := w.(*os.File); ok {
			return f, nil
		}
		r, cw, err := newPipe()
		if err != nil {
			return nil, err
		}
		growPipe(r, outputPipeSize)
		childFiles = append(childFiles, cw)
		pr := newPipeReader(r)
		parentFiles = append(parentFiles, pr)
		p.readers = append(p.readers, pr)
		*keep = pr
		if w == nil {
			*user = pr
		} else {
			copies = append(copies, copyJob{w, pr})
		}
		return cw, nil
	}
	outW, errW := o.Stdout, o.Stderr
	if extra.Stdout != nil {
		outW = extra.Stdout
	}
	if extra.Stderr != nil {
		errW = extra.Stderr
	}
	stdout, err := output(outW, &p.Stdout, &p.outR)
	if err != nil {
		return fail(err)
	}
	stderr, err := output(errW, &p.Stderr, &p.errR)
	if err != nil {
		return fail(err)
	}

	env := o.Env
	if env == nil {
		env = os.Environ()
	}
	if len(extra.Env) > 0 {
		env = append(env[:len(env):len(env)], extra.Env...)
	}
	files := append([]*os.File{stdin, stdout, stderr}, o.ExtraFiles...)
	files = append(files, extra.ExtraFiles...)
	argv := append([]string{name}, args...)
	attr := &os.ProcAttr{Dir: o.Dir, Env: env, Files: files, Sys: sysProcAttr(o.Detached)}
	proc, err := startProcess(path, argv, attr)
	if err != nil {
		return fail(err)
	}
	p.proc = proc
	p.Pid = proc.Pid

	if extra.onStart != nil {
		extra.onStart(p)
	}
	for _, c := range copies {
		p.copiers.Add(1)
		go func() {
			defer p.copiers.Done()
			_, _ = copyOut(c.dst, c.src)
			if p.detached.Load() {
				return // Detach: the rest of the pipe is the next image's
			}
			// On a write error keep draining so the child is not blocked.
			_, _ = io.Copy(io.Discard, c.src)
		}()
	}
	if stdinSrc != nil {
		p.stdinCpy = make(chan struct{})
		go func() {
			defer close(p.stdinCpy)
			_, _ = io.Copy(p.stdinW, stdinSrc) // EPIPE when the child stops reading: fine
			p.stdinW.Close()
		}()
	}

	p.start(ctx)
	return p, nil
}

// start arms ctx and Options.Timeout and starts the reaper.
func (p *Process) start(ctx context.Context) {
	o := p.opts
	p.mu.Lock()
	p.stopCtx = context.AfterFunc(ctx, func() { p.terminate(ctx.Err()) })
	if o.Timeout > 0 {
		p.timer = time.AfterFunc(o.Timeout, func() { p.terminate(ErrTimeout) })
	}
	p.mu.Unlock()
	go p.reap()
}

// terminate is herd's kill: KillSignal to the group now, SIGKILL after
// KillGrace. The first reason is kept, even if the child has already exited
// (so Exec still reports ErrMaxBuffer for output it dropped).
func (p *Process) terminate(reason error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reason == nil {
		p.reason = reason
	}
	if p.exited || p.killed {
		return
	}
	p.killed = true
	// p.mu is the Locker: reap stops the escalation under it on exit.
	esc := killer.Escalation{Signal: p.opts.KillSignal, Grace: p.opts.KillGrace, Locker: &p.mu}
	p.escalate = esc.Start(func(sig syscall.Signal) error { return signalGroup(p.Pid, p.Pid, sig) })
}

// reap is the one goroutine that waits for the child. It ends when Wait's
// result is ready.
func (p *Process) reap() {
	_ = waitExited(p.Pid)

	// The child is a zombie: its pid (the group id) cannot be reused yet.
	p.mu.Lock()
	p.exited = true
	p.stopCtx()
	if p.timer != nil {
		p.timer.Stop()
	}
	p.escalate.Stop()
	if !p.opts.Detached {
		_ = signalGroup(p.Pid, p.Pid, syscall.SIGKILL) // orphans of the group
	}
	p.mu.Unlock()

	state, werr := p.proc.Wait()
	var ws syscall.WaitStatus
	if werr == nil {
		ws, _ = state.Sys().(syscall.WaitStatus)
		if ws.Exited() {
			p.exitCode.Store(int64(ws.ExitStatus()))
		}
	}

	// Pipes: wait for every writer to go, at most PipeGrace, then close.
	deadline := time.Now().Add(max(p.opts.PipeGrace, 0))
	var fds []int
	for _, r := range p.readers {
		if fd, ok := dupFile(r.f); ok {
			fds = append(fds, fd)
		}
	}
	waitHangup(fds, deadline)
	for _, fd := range fds {
		_ = syscall.Close(fd)
	}
	for _, r := range p.readers {
		r.finish()
	}
	p.copiers.Wait()
	if p.stdinCpy != nil {
		t := time.NewTimer(max(time.Until(deadline), 0))
		select {
		case <-p.stdinCpy:
		case <-t.C:
		}
		t.Stop()
	}
	if p.stdinW != nil {
		p.stdinW.Close() // unblocks a copier stuck writing
	}
	for _, f := range p.onExit {
		f()
	}

	p.mu.Lock()
	reason, killed := p.reason, p.killed
	p.mu.Unlock()
	switch {
	case werr != nil:
		p.err = werr
	case ws.Exited() && ws.ExitStatus() == 0 && reason == nil:
		p.err = nil
	default:
		e := &ExitError{ExitStatus: ExitStatus{Code: -1}, Cmd: p.cmd, Pid: p.Pid, Killed: killed, Reason: reason}
		if ws.Signaled() {
			e.Signal = ws.Signal()
		} else {
			e.Code = ws.ExitStatus()
		}
		p.err = e
	}
	close(p.done)
}

// Wait blocks until the child has exited and its stdout and stderr are done
// (EOF, or closed by herd PipeGrace after the exit). It returns nil if the
// child exited with code 0 and herd did not kill it, else an *ExitError. It
// may be called any number of times, concurrently; every call returns the
// same value.
func (p *Process) Wait() error {
	<-p.done
	return p.err
}

// Done returns a channel that is closed when Wait would return.
func (p *Process) Done() <-chan struct{} { return p.done }

// Kill sends sig to every process in the child's process group. Once the
// child has exited it returns os.ErrProcessDone. A Kill by the caller does
// not set ExitError.Killed, which is for herd's own kills.
func (p *Process) Kill(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited {
		return os.ErrProcessDone
	}
	return signalGroup(p.Pid, p.Pid, sig)
}

// ExitCode returns the child's exit code, or -1 if it has not exited yet or
// was killed by a signal.
func (p *Process) ExitCode() int { return int(p.exitCode.Load()) }
