package child

import (
	"github.com/herdrun/herd/ipc"

	"os"

	"io"
	"syscall"
	"time"
)

// Options configures a child process. The zero value is a good default, and
// a nil *Options means the zero value.
type Options struct {
	// Dir is the child's working directory; "" means the parent's. A relative
	// name with a slash is resolved against Dir by the kernel.
	Dir string

	// Env is the child's full environment; nil means os.Environ(). A non-nil
	// empty slice gives an empty environment. The program itself is still
	// looked up in the parent's PATH.
	Env []string

	// Stdin is the child's standard input. If nil, Spawn gives a pipe in
	// Process.Stdin, and Exec and ExecFile give /dev/null. An *os.File is
	// handed to the child as is; any other reader is copied in through a pipe
	// by a goroutine, which closes the pipe at the reader's EOF. Wait waits
	// for that copy at most PipeGrace past the child's exit, then closes the
	// pipe; a Read that never returns keeps the goroutine until it does.
	Stdin io.Reader

	// Stdout is the child's standard output. If nil, Spawn gives a pipe
	// readable from Process.Stdout. An *os.File is handed to the child as is;
	// any other writer is fed through a pipe by a goroutine, and Wait waits
	// for it. Exec and ExecFile ignore it: they buffer output in Result.
	Stdout io.Writer

	// Stderr is like Stdout, for standard error.
	Stderr io.Writer

	// Timeout, if positive, kills the child after that long: KillSignal to
	// its process group, then SIGKILL after KillGrace. Wait then returns an
	// *ExitError whose Reason is ErrTimeout. 0 means no timeout.
	Timeout time.Duration

	// KillSignal is the first signal sent to the process group when the
	// context is done, Timeout fires or MaxBuffer is exceeded. 0 means
	// SIGTERM.
	KillSignal syscall.Signal

	// KillGrace is how long to wait after KillSignal before sending SIGKILL
	// to the process group. 0 means 5s; a negative value sends SIGKILL
	// right after KillSignal.
	KillGrace time.Duration

	// PipeGrace is how long, after the direct child exits, to wait for EOF on
	// the stdout and stderr pipes herd created before closing them itself,
	// so grandchildren holding the pipes cannot hang Wait or readers. Data
	// already in a pipe is still delivered, then io.EOF. 0 means 100ms; a
	// negative value means no wait.
	PipeGrace time.Duration

	// MaxBuffer is, for Exec and ExecFile only, the cap on buffered stdout
	// and on buffered stderr, each. 0 means 1 MiB (Node's default); a
	// negative value means unlimited. Output past the cap is dropped, the
	// child is killed as for Timeout, and the error wraps ErrMaxBuffer.
	MaxBuffer int

	// Shell is, for Exec only, the shell that runs the command as
	// Shell -c command. "" means /bin/sh.
	Shell string

	// Detached is like Node's detached: the child does not get Pdeathsig,
	// so it outlives this process, and what is left of its process group is
	// not killed when it exits. It still gets its own process group, and the
	// context, Timeout and MaxBuffer still kill that group.
	Detached bool

	// Channel configures the ipc channel of Fork and ForkSelf. For Fork a
	// zero Channel.Mode is ipc.ModeNode, which any program that speaks Node's
	// channel understands; set ipc.ModeFast only when the child is a herd
	// program. ForkSelf always uses ipc.ModeFast.
	Channel ipc.Options

	// ExecPath is the program that runs Fork's path when it names a
	// JavaScript file (.js, .mjs or .cjs), like Node's fork execPath.
	// "" means "node" from PATH.
	ExecPath string

	// ExtraFiles are open files the child inherits as descriptors 3, 4,
	// ... in order (entry i becomes fd 3+i), as exec.Cmd.ExtraFiles does;
	// a nil entry leaves that number closed. Fork and ForkSelf put their
	// channel right after them, at fd 3+len(ExtraFiles), and say so in
	// NODE_CHANNEL_FD, so that socket-activation listeners can start at fd 3
	// as LISTEN_FDS requires. The caller keeps ownership and may close its
	// copies once Spawn, Fork or ForkSelf returns. Beware that starting the
	// child calls each file's Fd method, which switches a file obtained from
	// net.Listener's or net.Conn's File method to blocking mode, for every
	// process sharing that socket; pass os.NewFile of a duplicate descriptor
	// instead to keep it non-blocking.
	ExtraFiles []*os.File
}

const (
	defaultKillGrace = 5 * time.Second
	defaultPipeGrace = 100 * time.Millisecond
	defaultMaxBuffer = 1 << 20
	defaultShell     = "/bin/sh"
)

// withDefaults returns a copy of o (nil meaning the zero value) with the
// zero-means-default fields filled in.
func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.KillSignal == 0 {
		r.KillSignal = syscall.SIGTERM
	}
	if r.KillGrace == 0 {
		r.KillGrace = defaultKillGrace
	}
	if r.PipeGrace == 0 {
		r.PipeGrace = defaultPipeGrace
	}
	if r.MaxBuffer == 0 {
		r.MaxBuffer = defaultMaxBuffer
	}
	if r.Shell == "" {
		r.Shell = defaultShell
	}
	return r
}
