// Package guard runs a program under a small guard process, so that nothing
// the program starts outlives the supervisor that started the guard, even
// when that supervisor is killed with SIGKILL.
//
// The model: a supervisor starts
//
//	self Arg <supervisor pid> <grace> -- program args...
//
// (Command builds that argv) instead of the program, and the binary calls
// Dispatch first thing in main. The guard then
//
//   - marks itself a child subreaper (prctl PR_SET_CHILD_SUBREAPER), so every
//     process the program abandons (a setsid daemon, a double fork, a
//     grandchild whose parent died) is re-parented to the guard, not to init;
//   - asks for SIGTERM when its parent dies (PR_SET_PDEATHSIG), then checks
//     that its parent is still the supervisor, in case it died before;
//   - starts the program in a process group of its own, with SIGKILL as its
//     parent-death signal, and forwards every signal it gets
//     (ForwardedSignals) to that group: the supervisor signals the guard as it
//     would the program;
//   - reaps every child; when the program exits, ends what the program left
//     behind (SIGTERM, then SIGKILL after the grace) and exits with the
//     program's exact status: the same code, or death by the same signal;
//   - when the supervisor dies, ends its whole subtree the same way, then
//     exits.
//
// It is transparent to the program: descriptors 3 and up (listening sockets
// of LISTEN_FDS, the NODE_CHANNEL_FD channel) and the environment pass
// through untouched, and the guard closes its own copies of those
// descriptors once the program runs. When LISTEN_PID names the guard itself,
// it starts the program through /bin/sh so that LISTEN_PID names the
// program's pid instead. Readers of the process tree (memory, readiness)
// find the program as the guard's child.
//
// The escalation after SIGTERM (or the program's own stop signal, given by
// CommandSignal): the guard sends SIGKILL to the program's
// subtree after nine tenths of the grace, so that it acts before a
// supervisor that kills the guard's process group after the whole grace
// (a SIGKILL the guard cannot pass on: the program would die of its
// parent-death signal, and its own children would be left to the
// supervisor's reaper).
//
// The herd command runs every instance of `herd run` under a guard; a
// library has no use for it.
package guard

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/herdrun/herd/internal/killer"
	"github.com/herdrun/herd/internal/procfs"
	"golang.org/x/sys/unix"
)

// Arg is the hidden first argument that makes a binary calling Dispatch a
// guard.
const Arg = "__herd-guard"

// DefaultGrace is the grace between SIGTERM and SIGKILL when the guard's
// command line gives none (or 0).
const DefaultGrace = 5 * time.Second

// trampoline sets LISTEN_PID to the program's own pid: exec keeps the pid
// of the shell.
const trampoline = `LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"`

// ForwardedSignals are the signals the guard passes on to the program's
// process group. SIGKILL and SIGSTOP cannot be caught: they stop the guard
// only, and the program then dies of its parent-death signal.
var ForwardedSignals = []os.Signal{
	syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2,
	syscall.SIGTERM, syscall.SIGALRM, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGWINCH,
	syscall.SIGTSTP, syscall.SIGCONT,
}

// Command returns the argv that runs cmd under a guard: exe (a binary that
// calls Dispatch) with Arg, the supervisor's pid parent, the grace, "--" and
// cmd.
func Command(exe string, parent int, grace time.Duration, cmd []string) []string {
	return CommandSignal(exe, parent, grace, syscall.SIGTERM, cmd)
}

// CommandSignal is Command for a program whose graceful stop signal is
// stop, not SIGTERM: when the supervisor sends stop, the guard passes it on
// and sends SIGKILL after the grace, as it does after a SIGTERM.
func CommandSignal(exe string, parent int, grace time.Duration, stop syscall.Signal, cmd []string) []string {
	out := make([]string, 0, len(cmd)+6)
	out = append(out, exe, Arg, strconv.Itoa(parent), grace.String())
	if stop != 0 && stop != syscall.SIGTERM {
		out = append(out, strconv.Itoa(int(stop)))
	}
	return append(append(out, "--"), cmd...)
}

// Dispatch runs the guard when args (os.Args) name one, and returns its
// exit code and true; otherwise it returns 0 and false at once. Call it
// first thing in main: os.Exit(code) when ok.
func Dispatch(args []string) (code int, ok bool) {
	if len(args) < 2 || args[1] != Arg {
		return 0, false
	}
	return Main(args[2:]), true
}

// UsageError reports a guard command line that cannot be parsed.
type UsageError struct{ Msg string }

// Error returns the message.
func (e *UsageError) Error() string { return "herd guard: " + e.Msg }

type spec struct {
	parent int
	grace  time.Duration
	stop   syscall.Signal // the graceful stop signal besides SIGTERM
	cmd    []string
}

func parse(args []string) (spec, error) {
	stop := syscall.SIGTERM
	if len(args) >= 5 && args[2] != "--" && args[3] == "--" {
		n, err := strconv.Atoi(args[2])
		if err != nil || n <= 0 || unix.SignalName(syscall.Signal(n)) == "" {
			return spec{}, &UsageError{Msg: fmt.Sprintf("stop signal %q is not a signal number", args[2])}
		}
		stop = syscall.Signal(n)
		args = append(args[:2:2], args[3:]...)
	}
	if len(args) < 4 || args[2] != "--" {
		return spec{}, &UsageError{Msg: "usage: " + Arg + " PARENT-PID GRACE [STOP-SIGNAL] -- PROGRAM [ARG...]"}
	}
	parent, err := strconv.Atoi(args[0])
	if err != nil || parent <= 0 {
		return spec{}, &UsageError{Msg: fmt.Sprintf("parent pid %q is not a pid", args[0])}
	}
	grace, err := time.ParseDuration(args[1])
	if err != nil || grace < 0 {
		return spec{}, &UsageError{Msg: fmt.Sprintf("grace %q is not a duration such as 5s", args[1])}
	}
	if grace == 0 {
		grace = DefaultGrace
	}
	return spec{parent: parent, grace: grace, stop: stop, cmd: args[3:]}, nil
}

// Main runs the guard with the arguments that follow Arg and returns the
// exit code for os.Exit: the program's code, 126 or 127 when it cannot be
// started (as a shell would), 2 for a bad command line, 1 when the
// supervisor is already gone. When the program died of a signal, Main does
// not return: the guard dies of the same signal.
func Main(args []string) int {
	s, err := parse(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	// The program's parent-death signal belongs to the thread that forks
	// it: this one, for the guard's whole life.
	runtime.LockOSThread()
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs, ForwardedSignals...)
	// A write to a closed stderr must not kill the guard; a caught signal,
	// unlike an ignored one, is not inherited by the program.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	// Without the subreaper flag, abandoned processes escape to init; the
	// guard still ends the rest.
	_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0, 0, 0); err != nil {
		fmt.Fprintf(os.Stderr, "herd guard: parent-death signal: %v\n", err)
	}
	if os.Getppid() != s.parent {
		return 1 // the supervisor died before the signal was armed
	}
	inherited := inheritedFDs()
	pid, err := start(s.cmd)
	if err != nil {
		fmt.Fprintf(os.Stderr, "herd: %s: %v\n", s.cmd[0], err)
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, syscall.ENOENT) {
			return 127
		}
		return 126
	}
	for _, fd := range inherited {
		unix.Close(fd) // the program has its own copies
	}
	g := &guard{spec: s, pid: pid, exited: make(chan unix.WaitStatus, 1), empty: make(chan struct{})}
	go g.reap()
	return g.run(sigs)
}

// inheritedFDs returns the descriptors 3 and up that will survive an exec:
// those the guard inherited (Go opens its own close-on-exec).
func inheritedFDs() []int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < 3 {
			continue
		}
		if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil && flags&unix.FD_CLOEXEC == 0 {
			out = append(out, fd)
		}
	}
	return out
}

// start starts the program in a new process group with SIGKILL as its
// parent-death signal, through the LISTEN_PID trampoline when LISTEN_PID
// names the guard. Descriptors 3 and up are inherited as they are.
func start(cmd []string) (int, error) {
	name, args := cmd[0], cmd
	if os.Getenv("LISTEN_PID") == strconv.Itoa(os.Getpid()) {
		name, args = "/bin/sh", append([]string{"sh", "-c", trampoline}, cmd...)
	} else {
		path, err := exec.LookPath(name)
		if err != nil {
			return 0, err
		}
		name = path
	}
	if !filepath.IsAbs(name) {
		if abs, err := filepath.Abs(name); err == nil {
			name = abs
		}
	}
	return syscall.ForkExec(name, args, &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{0, 1, 2},
		Sys:   &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL},
	})
}

type guard struct {
	spec
	pid    int
	exited chan unix.WaitStatus // the program's status
	empty  chan struct{}        // closed when the guard has no child left
}

// reap waits for every child: the program, and what was re-parented here.
func (g *guard) reap() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil: // ECHILD: nobody left
			close(g.empty)
			return
		case pid == g.pid:
			g.exited <- ws
		}
	}
}

// run forwards signals until the program exits or the supervisor dies.
func (g *guard) run(sigs <-chan os.Signal) int {
	var esc *killer.Kill
	defer func() {
		if esc != nil {
			esc.Stop()
		}
	}()
	// A backstop for the parent-death signal.
	orphaned := time.NewTicker(2 * time.Second)
	defer orphaned.Stop()
	for {
		select {
		case <-orphaned.C:
			if os.Getppid() != g.parent {
				g.endAll(g.spec.grace)
				return 1
			}
		case sig := <-sigs:
			ssig := sig.(syscall.Signal)
			if ssig == syscall.SIGTERM && os.Getppid() != g.parent {
				// The supervisor is gone: nothing of this subtree may
				// outlive it.
				g.endAll(g.spec.grace)
				return 1
			}
			g.forward(ssig)
			if (ssig == syscall.SIGTERM || ssig == g.stop) && esc == nil {
				// The signal itself went out above: only the SIGKILL.
				esc = killer.Escalation{Signal: ssig, Grace: g.spec.grace * 9 / 10}.Start(func(s syscall.Signal) error {
					if s == syscall.SIGKILL {
						// The group first: a process that the kernel's
						// children lists skip while others fork and exit
						// around it is still in it.
						_ = unix.Kill(-g.pid, syscall.SIGKILL)
						signalTree(os.Getpid(), syscall.SIGKILL)
					}
					return nil
				})
			}
		case ws := <-g.exited:
			if n := g.endAll(g.spec.grace); n > 0 {
				fmt.Fprintf(os.Stderr, "herd: stopped %d process(es) that pid %d left running\n", n, g.pid)
			}
			return exitWith(ws)
		}
	}
}

// forward sends sig to the program's process group, and to the program
// itself when it left that group.
func (g *guard) forward(sig syscall.Signal) {
	_ = unix.Kill(-g.pid, sig)
	if pg, err := unix.Getpgid(g.pid); err == nil && pg != g.pid {
		_ = unix.Kill(g.pid, sig)
	}
}

// endAll ends every descendant of the guard: SIGTERM, then SIGKILL after
// grace, and waits until all are reaped, giving up after grace plus 5s. It
// returns how many processes it found.
func (g *guard) endAll(grace time.Duration) int {
	self := os.Getpid()
	n := len(procfs.Tree(self)) - 1
	if n == 0 {
		select {
		case <-g.empty:
			return 0
		case <-time.After(100 * time.Millisecond): // a zombie not reaped yet
		}
	}
	kill := killer.Escalation{Signal: syscall.SIGTERM, Grace: grace}.Start(func(sig syscall.Signal) error {
		_ = unix.Kill(-g.pid, sig) // the program's group, whatever the lists show
		signalTree(self, sig)
		return nil
	})
	defer kill.Stop()
	giveUp := time.After(grace + 5*time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-g.empty:
			return n
		case <-giveUp:
			return n
		case <-tick.C:
			if kill.Escalated() {
				_ = unix.Kill(-g.pid, syscall.SIGKILL)
				signalTree(self, syscall.SIGKILL) // what was adopted since
			}
		}
	}
}

// signalTree sends sig to every descendant of pid (not pid itself).
func signalTree(pid int, sig syscall.Signal) {
	for _, p := range procfs.Tree(pid)[1:] {
		_ = unix.Kill(p, sig) // ESRCH: it has just exited
	}
}

// exitWith returns the program's exit code, or, for a program killed by a
// signal, makes the guard die of the same signal.
func exitWith(ws unix.WaitStatus) int {
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case !ws.Signaled():
		return 1
	}
	sig := ws.Signal()
	signal.Reset()
	if sig == syscall.SIGKILL {
		_ = unix.Kill(os.Getpid(), sig)
	}
	// The Go runtime handles most signals itself; a shell in the guard's
	// place dies of any signal with its default action. No core file.
	_ = unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
	name := strings.TrimPrefix(unix.SignalName(sig), "SIG")
	if name != "" {
		script := "kill -s " + name + " $$; exit " + strconv.Itoa(128+int(sig))
		_ = syscall.Exec("/bin/sh", []string{"sh", "-c", script}, os.Environ())
	}
	return 128 + int(sig)
}
