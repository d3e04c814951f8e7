// Package child runs other programs the way Node's child_process does —
// Exec, ExecFile and Spawn — with process hygiene that os/exec leaves to
// the caller.
//
// Every child is started in its own process group, from one dedicated OS
// thread, and is reaped by exactly one goroutine:
//
//	your goroutine ──start request──▶ starter thread (locked, never exits)
//	                                      │ fork+exec, Setpgid, Pdeathsig=SIGKILL
//	                                      ▼
//	                             ┌─ process group (pgid = child pid) ─┐
//	                             │  child ── grandchild ── ...         │
//	                             └─────────────────────────────────────┘
//	reaper goroutine: waitid(WNOWAIT) → SIGKILL rest of group → reap
//	                  → wait ≤ PipeGrace for stdout/stderr EOF → Done
//
// What that buys:
//
//   - Cancelling the context, or Options.Timeout firing, sends
//     Options.KillSignal to the whole group and SIGKILL after
//     Options.KillGrace, so grandchildren die with the child and a child
//     that ignores SIGTERM still goes.
//   - When the direct child exits, whatever is left of its group gets
//     SIGKILL (unless Options.Detached), so `sh -c 'server &'` leaves no
//     orphan. The group is signalled while the exited child is still an
//     unreaped zombie, so its pid, and with it the group id, cannot have been
//     reused by then.
//   - Grandchildren that keep stdout or stderr open cannot hang Wait or a
//     reader: after the direct child exits, herd waits at most
//     Options.PipeGrace for end-of-file, then closes the pipes itself. Data
//     already in a pipe is kept and still delivered before io.EOF.
//   - If this process dies, even by SIGKILL, its children get SIGKILL from
//     the kernel (Pdeathsig), unless Options.Detached. Pdeathsig fires when
//     the thread that started the child exits, which is why children are
//     started from a thread that never exits rather than from the caller's.
//   - Every child is reaped exactly once, and every descriptor herd opened
//     for it is closed by the time Wait returns.
//
// Exec and ExecFile buffer output (at most Options.MaxBuffer per stream) and
// return it in a Result, also alongside an error. Spawn streams: it returns a
// Process whose Stdin, Stdout and Stderr are pipes unless Options supplies
// them; Lines reads a stream line by line.
//
// Errors: a program that cannot be started gives a *StartError; one that
// exits non-zero or is killed gives an *ExitError, whose Reason (ErrTimeout,
// ErrMaxBuffer, or the context's error) says why herd killed it, so
// errors.Is(err, ErrTimeout) and errors.Is(err, context.Canceled) work.
//
// Limits: the package is Linux-only. A grandchild that leaves the group
// (setsid, setpgid) is beyond the group signals. The starter goroutine lives
// for the life of the process; tests that use go.uber.org/goleak should
// ignore it with goleak.IgnoreTopFunction("github.com/herdrun/herd/child.startLoop").
package child
