package child

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"syscall"
	"time"

	"github.com/herdrun/herd/internal/procfs"
)

// A program can replace its own image (execve) and keep its children: the
// pid stays, and so does every child's parent. What a child needs from the
// new image is someone to wait for it and to read its pipes. The three
// steps:
//
//	old image:  Process.Detach -> the read ends of the output pipes
//	            (clear close-on-exec on them, write down pid and fds)
//	            Reexec(path, argv, env)      on the thread that started the children
//	new image:  Adopt(ctx, pid, stdout, stderr, opts) -> a *Process again
//
// Why Reexec: a child's parent-death signal (Pdeathsig) fires when the
// thread that forked it exits, and an exec ends every thread but the one
// that calls it. So Reexec runs on the thread that starts every child, and
// the children live on. A program that replaces its image more than once
// must start its children from its main thread (ServeStarts), because the
// adopted children's parent is the new image's main thread.

// ErrNotChild is wrapped by Adopt's error for a pid that is not a child of
// this process.
var ErrNotChild = errors.New("not a child of this process")

// Detach stops copying the child's output to Options.Stdout and
// Options.Stderr and returns close-on-exec duplicates of the read ends of
// those pipes (nil for a stream that is not a pipe, or that is already
// closed because the child exited), for Adopt in the next image of this
// program. Every byte the copiers read has been written to the writers;
// what the child writes from now on waits in the pipe. Detach is for the
// moment before Reexec: afterwards the Process reports nothing more of its
// output, and if the image is not replaced the output pipes fill up.
func (p *Process) Detach() (stdout, stderr *os.File, err error) {
	p.detached.Store(true)
	for _, r := range []*pipeReader{p.outR, p.errR} {
		if r != nil {
			_ = r.f.SetReadDeadline(aLongTimeAgo) // wakes the copier's Read
		}
	}
	p.copiers.Wait()
	dup := func(r *pipeReader, name string) *os.File {
		if r == nil {
			return nil
		}
		fd, ok := dupFile(r.f)
		if !ok {
			return nil
		}
		return os.NewFile(uintptr(fd), name)
	}
	return dup(p.outR, "stdout"), dup(p.errR, "stderr"), nil
}

// aLongTimeAgo is a read deadline that has passed.
var aLongTimeAgo = time.Unix(1, 0)

// Adopt returns a Process for pid, a child that an earlier image of this
// program started before it called Reexec, so that this image waits for it,
// reads its output and stops it as if it had started it (same process
// group rules, KillGrace, PipeGrace). stdout and stderr, if not nil, are
// the read ends of its output pipes (from Detach), copied to opts.Stdout
// and opts.Stderr, or readable from Process.Stdout and Stderr when those
// are nil; Adopt takes ownership of them. Process.Stdin and Channel are
// nil: a channel is the caller's to rebuild (ipc.New). Cancelling ctx kills
// the child as with Spawn. A pid that is not this process's child is an
// error wrapping ErrNotChild. A child that exited meanwhile is adopted all
// the same: Wait returns how it ended.
func Adopt(ctx context.Context, pid int, stdout, stderr *os.File, opts *Options) (*Process, error) {
	closeAll := func() {
		for _, f := range []*os.File{stdout, stderr} {
			if f != nil {
				f.Close()
			}
		}
	}
	st, err := procfs.ReadStat(pid)
	if err != nil || st.PPID != os.Getpid() {
		closeAll()
		return nil, fmt.Errorf("child: adopt pid %d: %w", pid, ErrNotChild)
	}
	proc, err := os.FindProcess(pid)
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("child: adopt pid %d: %w", pid, err)
	}
	o := opts.withDefaults()
	p := &Process{Pid: pid, cmd: fmt.Sprintf("pid %d", pid), opts: o, proc: proc, done: make(chan struct{})}
	p.exitCode.Store(-1)
	feed := func(f *os.File, w io.Writer, user *io.ReadCloser, keep **pipeReader) {
		if f == nil {
			return
		}
		pr := newPipeReader(f)
		p.readers = append(p.readers, pr)
		*keep = pr
		if w == nil {
			*user = pr
			return
		}
		p.copiers.Add(1)
		go func() {
			defer p.copiers.Done()
			_, _ = copyOut(w, pr)
			if p.detached.Load() {
				return
			}
			_, _ = io.Copy(io.Discard, pr)
		}()
	}
	feed(stdout, o.Stdout, &p.Stdout, &p.outR)
	feed(stderr, o.Stderr, &p.Stderr, &p.errR)
	p.start(ctx)
	return p, nil
}

type execReq struct {
	path      string
	argv, env []string
	reply     chan<- error
}

// Reexec replaces this program's image with path (execve), keeping its pid
// and its children: it runs on the thread that starts every child, whose
// exit would otherwise send them their parent-death signal. It returns only
// if the exec failed; descriptors without close-on-exec pass to the new
// image, which finds its children with Adopt.
func Reexec(path string, argv, env []string) error {
	ensureStarter()
	reply := make(chan error, 1)
	starterReqs <- startReq{exec: &execReq{path: path, argv: argv, env: env, reply: reply}}
	return <-reply
}

// ErrStarterRunning is returned by ServeStarts when children were already
// started from another thread.
var ErrStarterRunning = errors.New("child: children are already started from another thread")

// ServeStarts makes the calling goroutine's thread the one that starts
// every child (and runs Reexec), runs run in a goroutine of its own, and
// serves the starts until run returns; then a thread of the package's own
// takes over. Call it from the main goroutine, locked to the main thread
// (runtime.LockOSThread in an init function), in a program that replaces
// its image more than once: the children it adopts after a Reexec have the
// main thread as their parent, so the next Reexec must keep that thread,
// and so must every child started since. If a child was started before,
// it returns ErrStarterRunning without calling run.
func ServeStarts(run func()) error {
	claimed := false
	starterOnce.Do(func() {
		starterReqs = make(chan startReq)
		claimed = true
	})
	if !claimed {
		return ErrStarterRunning
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	done := make(chan struct{})
	go func() {
		defer close(done)
		run()
	}()
	for {
		select {
		case req := <-starterReqs:
			serve(req)
		case <-done:
			go startLoop(starterReqs)
			return nil
		}
	}
}

// serve runs one request on the calling (starter) thread.
func serve(req startReq) {
	if e := req.exec; e != nil {
		e.reply <- syscall.Exec(e.path, e.argv, e.env)
		return
	}
	p, err := os.StartProcess(req.path, req.argv, req.attr)
	req.reply <- startResp{proc: p, err: err}
}
