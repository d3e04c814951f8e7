package jobsexec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/jobs"
)

// Defaults used when a Config field is left at its zero value.
const (
	// DefaultKillGrace is how long a process group has between SIGTERM and
	// SIGKILL. It is short because jobs abandons a handler 2 s after its
	// attempt's context ends.
	DefaultKillGrace = time.Second
	// DefaultStderrTail is the stderr kept for an attempt's error.
	DefaultStderrTail = 4 << 10
	// DefaultMaxResult bounds a result (one-shot stdout, or one reply line
	// of a kept command).
	DefaultMaxResult = 16 << 20
	// MaxLine bounds a stderr line; a longer one is logged cut.
	MaxLine = 64 << 10
)

// Environment variables a one-shot command (and a kept one over the Node
// channel, which starts per job when not kept) finds its job in.
const (
	EnvJobID          = "HERD_JOB_ID"
	EnvJobKind        = "HERD_JOB_KIND"
	EnvJobQueue       = "HERD_JOB_QUEUE"
	EnvJobAttempt     = "HERD_JOB_ATTEMPT"
	EnvJobMaxAttempts = "HERD_JOB_MAX_ATTEMPTS"
)

// Transport is how a command and herd talk.
type Transport int

const (
	// TransportAuto is TransportIPC for a Node command (the program is
	// node, or a .js, .mjs or .cjs file) and TransportStdio for any other.
	TransportAuto Transport = iota
	// TransportStdio talks over stdin and stdout: one-shot, the args as
	// JSON on stdin and the result as JSON on stdout; kept, one JSON line
	// per job on stdin and one JSON reply line on stdout.
	TransportStdio
	// TransportIPC talks over Node's IPC channel (child.Fork, Node's json
	// serialization): the job is a message (process.on('message')), the
	// result, error and progress are messages (process.send).
	TransportIPC
)

// String returns "auto", "stdio" or "ipc".
func (t Transport) String() string {
	switch t {
	case TransportAuto:
		return "auto"
	case TransportStdio:
		return "stdio"
	case TransportIPC:
		return "ipc"
	}
	return "Transport(" + strconv.Itoa(int(t)) + ")"
}

// ParseTransport parses "auto", "stdio" or "ipc".
func ParseTransport(s string) (Transport, error) {
	for _, t := range []Transport{TransportAuto, TransportStdio, TransportIPC} {
		if s == t.String() {
			return t, nil
		}
	}
	return 0, fmt.Errorf("transport %q: write auto, stdio or ipc", s)
}

// Config says what to run for each job and how. The zero value is not
// usable: Command must be set.
type Config struct {
	// Command is the program and its arguments, such as
	// {"python3", "resize.py"}. The program is looked up in PATH unless it
	// has a slash.
	Command []string
	// Keep keeps one process per running job alive from job to job: it is
	// started for the first job and gets the next job when it has answered.
	// Without Keep each attempt starts a process of its own.
	Keep bool
	// Transport is how herd and the command talk; TransportAuto by default.
	Transport Transport
	// Timeout bounds each attempt, on top of the job's own Timeout;
	// 0 means only the job's.
	Timeout time.Duration
	// KillGrace is how long the process group has after SIGTERM before
	// SIGKILL, on a timeout, a cancel or Close; 0 means DefaultKillGrace.
	KillGrace time.Duration
	// Dir is the command's working directory; "" means this process's.
	Dir string
	// Env is the command's environment; nil means os.Environ(). The job's
	// variables (EnvJobID, ...) are added to it for a one-shot command.
	Env []string
	// Output receives the command's log: each stderr line that is not a
	// progress line (and, kept over stdio, each stdout line that is not a
	// reply), as "job <id>: line\n", or "pid <pid>: line\n" between jobs.
	// nil discards it.
	Output io.Writer
	// StderrTail bounds the stderr an attempt's error carries; 0 means
	// DefaultStderrTail.
	StderrTail int
	// MaxResult bounds a result in bytes; 0 means DefaultMaxResult.
	MaxResult int
	// Warn receives problems that do not fail a job (a bad progress line,
	// a reply for another job); nil discards them.
	Warn func(msg string)
}

// Runner runs the jobs of one kind with a command. Its Handle method is a
// jobs.Handler; Register installs it on a jobs.Client. A Runner is safe for
// concurrent use: each concurrent job has its own process.
type Runner struct {
	cfg   Config
	cmd   string // the command line, for messages
	trans Transport
	outMu sync.Mutex

	mu     sync.Mutex
	idle   []*session // kept processes waiting for a job
	all    map[*session]struct{}
	closed bool
}

// New checks cfg and returns a Runner. It starts no process: a kept
// process starts with its first job.
func New(cfg Config) (*Runner, error) {
	if len(cfg.Command) == 0 || cfg.Command[0] == "" {
		return nil, errors.New("jobsexec: Config.Command is empty; give the program and its arguments, such as {\"python3\", \"handler.py\"}")
	}
	if cfg.Transport < TransportAuto || cfg.Transport > TransportIPC {
		return nil, fmt.Errorf("jobsexec: Config.Transport %d: use TransportAuto, TransportStdio or TransportIPC", int(cfg.Transport))
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("jobsexec: Config.Timeout %v is negative; use 0 for the job's own timeout", cfg.Timeout)
	}
	if cfg.KillGrace <= 0 {
		cfg.KillGrace = DefaultKillGrace
	}
	if cfg.StderrTail <= 0 {
		cfg.StderrTail = DefaultStderrTail
	}
	if cfg.MaxResult <= 0 {
		cfg.MaxResult = DefaultMaxResult
	}
	r := &Runner{cfg: cfg, cmd: strings.Join(cfg.Command, " "), trans: cfg.Transport, all: map[*session]struct{}{}}
	if r.trans == TransportAuto {
		r.trans = TransportStdio
		if IsNode(cfg.Command) {
			r.trans = TransportIPC
		}
	}
	return r, nil
}

// IsNode reports whether command runs Node: its program is node (or
// nodejs), or a .js, .mjs or .cjs file.
func IsNode(command []string) bool {
	if len(command) == 0 {
		return false
	}
	base := filepath.Base(command[0])
	switch base {
	case "node", "nodejs":
		return true
	}
	switch filepath.Ext(base) {
	case ".js", ".mjs", ".cjs":
		return true
	}
	return false
}

// Transport returns the transport in use (never TransportAuto).
func (r *Runner) Transport() Transport { return r.trans }

// Register makes r the handler of kind on c (jobs.Register with r.Handle).
func Register(c *jobs.Client, kind string, r *Runner) {
	jobs.Register(c, kind, r.Handle)
}

// ErrClosed is the error of Handle on a closed Runner.
var ErrClosed = errors.New("jobsexec: runner closed")

// Handle runs one attempt of job with the command: it is a
// jobs.Handler[json.RawMessage, json.RawMessage]. When ctx ends (the
// job's timeout, a cancel, a shutdown) or Config.Timeout passes, the
// command's whole process group gets SIGTERM, then SIGKILL after
// KillGrace, and Handle returns once the process is reaped.
func (r *Runner) Handle(ctx context.Context, job *jobs.Job[json.RawMessage]) (json.RawMessage, error) {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	if r.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, r.cfg.Timeout, &jobs.TimeoutError{Timeout: r.cfg.Timeout})
		defer cancel()
	}
	a := newAttempt(job)
	defer a.finish()
	if r.trans == TransportStdio && !r.cfg.Keep {
		return r.once(ctx, a)
	}
	return r.message(ctx, a)
}

// Close ends the kept processes: each gets end of input (stdin closed, or
// the channel disconnected), then SIGTERM and SIGKILL as for a timeout if
// it is still there after KillGrace. Running jobs keep their processes
// until they end; Handle fails with ErrClosed afterwards. Close returns
// once every process it ended is reaped.
func (r *Runner) Close() error {
	r.mu.Lock()
	r.closed = true
	idle := r.idle
	r.idle = nil
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range idle {
		wg.Go(func() { s.shutdown() })
	}
	wg.Wait()
	return nil
}

// env is the environment of a process started for one job.
func (r *Runner) env(job *jobs.Job[json.RawMessage]) []string {
	env := r.cfg.Env
	if env == nil {
		env = os.Environ()
	}
	env = append(env[:len(env):len(env)],
		EnvJobID+"="+job.ID,
		EnvJobKind+"="+job.Kind,
		EnvJobQueue+"="+job.Queue,
		EnvJobAttempt+"="+strconv.Itoa(job.Attempt),
		EnvJobMaxAttempts+"="+strconv.Itoa(job.MaxAttempts),
	)
	return env
}

// log writes one line of the command's log to Output.
func (r *Runner) log(who string, line []byte) {
	if r.cfg.Output == nil {
		return
	}
	var b bytes.Buffer
	b.Grow(len(who) + len(line) + 3)
	b.WriteString(who)
	b.WriteString(": ")
	b.Write(line)
	b.WriteByte('\n')
	r.outMu.Lock()
	defer r.outMu.Unlock()
	_, _ = r.cfg.Output.Write(b.Bytes())
}

func (r *Runner) warn(format string, args ...any) {
	if r.cfg.Warn != nil {
		r.cfg.Warn(fmt.Sprintf(format, args...))
	}
}

// killed is the Reason of an attempt ended by ctx: its cause.
func killed(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	return context.Cause(ctx)
}

// once runs a one-shot attempt over stdin and stdout.
func (r *Runner) once(ctx context.Context, a *attempt) (json.RawMessage, error) {
	var (
		mu    sync.Mutex
		tl    = tail{max: r.cfg.StderrTail}
		who   = "job " + a.job.ID
		out   = &capped{max: r.cfg.MaxResult}
		pctx  context.Context
		pstop context.CancelCauseFunc
	)
	pctx, pstop = context.WithCancelCause(ctx)
	defer pstop(nil)
	out.over = func() {
		pstop(&ProtocolError{Problem: fmt.Sprintf("stdout passed %d bytes (Config.MaxResult); write big results to a file and return its name", r.cfg.MaxResult)})
	}
	stderr := newLineWriter(MaxLine, func(line []byte, truncated bool) {
		if !truncated {
			if p, ok, err := ParseProgress(line); ok {
				if err != nil {
					r.warn("job %s: %v", a.job.ID, err)
				} else {
					a.progress(p)
				}
				return
			}
		}
		mu.Lock()
		tl.add(line)
		mu.Unlock()
		r.log(who, line)
	})
	args := a.job.Args
	if len(args) == 0 {
		args = json.RawMessage("null")
	}
	p, err := child.Spawn(pctx, r.cfg.Command[0], r.cfg.Command[1:], &child.Options{
		Dir:       r.cfg.Dir,
		Env:       r.env(a.job),
		Stdin:     bytes.NewReader(append(args[:len(args):len(args)], '\n')),
		Stdout:    out,
		Stderr:    stderr,
		KillGrace: r.cfg.KillGrace,
	})
	if err != nil {
		return nil, err // a *child.StartError; the job is retried
	}
	werr := p.Wait()
	stderr.Close()
	mu.Lock()
	st := tl.String()
	mu.Unlock()
	if cause := context.Cause(pctx); pctx.Err() != nil && ctx.Err() == nil {
		return nil, cause // stdout too large
	}
	if werr != nil {
		var ee *child.ExitError
		if !errors.As(werr, &ee) {
			return nil, werr
		}
		e := &ExitError{Cmd: r.cmd, ExitStatus: ee.ExitStatus, Stderr: st}
		if ee.Killed {
			e.Reason = killed(ctx)
		}
		return nil, e
	}
	if ctx.Err() != nil {
		// It exited cleanly, but after the attempt ended.
		return nil, &ExitError{Cmd: r.cmd, Reason: killed(ctx), Stderr: st}
	}
	return ParseResult(out.Bytes())
}

// capped is a buffer that takes at most max bytes and calls over once
// when more come.
type capped struct {
	mu   sync.Mutex
	max  int
	buf  bytes.Buffer
	full bool
	over func()
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.full {
		return len(p), nil
	}
	if c.buf.Len()+len(p) > c.max {
		c.full = true
		c.over()
		return len(p), nil
	}
	c.buf.Write(p)
	return len(p), nil
}

func (c *capped) Bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Bytes()
}
