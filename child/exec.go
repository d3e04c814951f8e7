package child

import (
	"bytes"
	"context"
	"errors"
	"sync"
)

// Result is what Exec and ExecFile captured.
type Result struct {
	Stdout []byte // standard output, at most Options.MaxBuffer bytes
	Stderr []byte // standard error, at most Options.MaxBuffer bytes
	Pid    int    // the child's process id; 0 if it did not start
}

// Exec runs command with Options.Shell (default /bin/sh) as
// `Shell -c command`, waits for it, and returns its buffered stdout and
// stderr. Options.Stdout and Options.Stderr are ignored; a nil Options.Stdin
// means /dev/null. The returned *Result is never nil: it holds whatever was
// captured even when err is non-nil. err is a *StartError if the shell could
// not be started and an *ExitError if the command failed, was killed, or
// had output past Options.MaxBuffer (errors.Is(err, ErrMaxBuffer)).
func Exec(ctx context.Context, command string, opts *Options) (*Result, error) {
	o := opts.withDefaults()
	return run(ctx, o.Shell, []string{"-c", command}, opts, o.MaxBuffer, command)
}

// ExecFile is Exec without a shell: it runs the program name with args
// (looked up in PATH unless name contains a slash) and returns its buffered
// output, as Exec does.
func ExecFile(ctx context.Context, name string, args []string, opts *Options) (*Result, error) {
	o := opts.withDefaults()
	return run(ctx, name, args, opts, o.MaxBuffer, "")
}

func run(ctx context.Context, name string, args []string, opts *Options, maxBuf int, cmd string) (*Result, error) {
	out := &capBuffer{max: maxBuf}
	errb := &capBuffer{max: maxBuf}
	res := &Result{}
	p, err := spawn(ctx, name, args, opts, &spawnExtra{
		Stdout:    out,
		Stderr:    errb,
		nullStdin: true,
		cmd:       cmd,
		onStart: func(p *Process) {
			out.proc, errb.proc = p, p
		},
	})
	if err != nil {
		return res, err
	}
	res.Pid = p.Pid
	err = p.Wait() // the copiers are done when Wait returns
	res.Stdout, res.Stderr = out.buf.Bytes(), errb.buf.Bytes()
	var ee *ExitError
	if errors.As(err, &ee) {
		ee.Stderr = tail(res.Stderr, stderrTailMax)
	}
	return res, err
}

// capBuffer keeps the first max bytes written to it (all if max < 0). The
// first write past max kills proc with ErrMaxBuffer; later writes are
// accepted and dropped, so the child never blocks on a full pipe.
type capBuffer struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	max  int
	over bool
	proc *Process
}

// Write keeps what fits under the cap and always reports len(b) written.
func (c *capBuffer) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.max < 0 {
		return c.buf.Write(b)
	}
	if room := c.max - c.buf.Len(); len(b) <= room {
		c.buf.Write(b)
		return len(b), nil
	} else if room > 0 {
		c.buf.Write(b[:room])
	}
	if !c.over {
		c.over = true
		c.proc.terminate(ErrMaxBuffer)
	}
	return len(b), nil
}
