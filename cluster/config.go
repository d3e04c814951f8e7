package cluster

import (
	"context"
	"io"
	"log/slog"
	"os"
	"runtime"
	"syscall"
	"time"
)

// Policy says how the connections of a shared address reach the workers.
// The zero value, PolicyShared, is the default; see the package doc for
// the measured balance of each.
type Policy int

const (
	// PolicyShared: the primary opens each address once and every worker
	// inherits the same listening socket (socket activation, LISTEN_FDS),
	// so there is one accept queue. A worker that exits or restarts loses
	// no queued connection, and any activation-aware program can be a
	// worker.
	PolicyShared Policy = iota
	// PolicyReusePort: every worker gets its own listening socket bound to
	// the address with SO_REUSEPORT, and the kernel spreads new
	// connections over them by a hash of the client address and port.
	// Connections waiting in a worker's queue when that worker exits are
	// reset, so restarts and reloads can drop a few connections.
	PolicyReusePort
	// PolicyDispatch: the primary accepts every connection and passes its
	// descriptor over the channel to the worker with the fewest open
	// connections (or, with Config.Sticky, to the worker chosen by the
	// client's IP address). Balance is exact, at the cost of one descriptor
	// hand-off per connection through the primary. Only Go workers of this
	// package can take dispatched connections, not Config.Command.
	PolicyDispatch
)

// String returns "shared", "reuseport" or "dispatch".
func (p Policy) String() string {
	switch p {
	case PolicyShared:
		return "shared"
	case PolicyReusePort:
		return "reuseport"
	case PolicyDispatch:
		return "dispatch"
	}
	return "policy(" + itoa(int(p)) + ")"
}

// ParsePolicy is the inverse of Policy.String.
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "shared", "":
		return PolicyShared, nil
	case "reuseport":
		return PolicyReusePort, nil
	case "dispatch":
		return PolicyDispatch, nil
	}
	return 0, &ConfigError{Field: "Policy", Reason: "unknown policy " + quote(s) + " (want shared, reuseport or dispatch)"}
}

// Addr is an address the primary listens on for its workers.
type Addr struct {
	// Network is "tcp", "tcp4", "tcp6" or "unix". "" means "tcp".
	Network string
	// Address is as for net.Listen, e.g. ":3000", "127.0.0.1:0" or a socket
	// path. Port 0 picks a free port once; every worker, and every
	// restarted worker, gets that same port (see Cluster.Addrs).
	Address string
	// Name is the listener's name in LISTEN_FDNAMES. It must not contain
	// ':'. "" means a name made of the network and the port or path.
	Name string
	// File, if set, is a listening socket to share instead of opening
	// Address (PolicyShared only): a primary that takes over the sockets
	// of another, whose workers keep accepting on them meanwhile, so that
	// no connection is refused (herd update). The cluster uses a duplicate
	// of its descriptor; the caller keeps File and closes it.
	File *os.File
}

// Config configures a cluster. The zero value is a good default: one worker
// per CPU, the shared-socket policy, signals handled, and the timeouts
// documented on each field. The same Config must be passed to Run in the
// primary and in the workers (they are the same program, so it usually is).
type Config struct {
	// Workers is the number of worker processes. 0 means runtime.NumCPU().
	Workers int

	// Listen lists the addresses the primary opens before starting any
	// worker, so that a port in use or a bad address fails Run at once with
	// a *ListenError. Workers get them with Worker.Listen. A worker may
	// also Listen on an address not listed here: the primary then opens it
	// on first request (PolicyShared only) and shares it from then on.
	Listen []Addr

	// Policy is how connections reach workers; the zero value is
	// PolicyShared.
	Policy Policy

	// Sticky, with PolicyDispatch, sends every connection from one client
	// IP address to the same worker while that worker lives (rendezvous
	// hashing over worker slots, so a respawned worker inherits its
	// predecessor's clients). Ignored by the other policies.
	Sticky bool

	// Command, if set, is the program each worker runs instead of the
	// worker function: Command[0] is looked up in PATH. It inherits the
	// listeners as fds 3, 4, ... with LISTEN_FDS, LISTEN_FDNAMES and
	// LISTEN_PID set to its own pid (through a /bin/sh trampoline that
	// execs it, so the pid is the worker's), and a Node-compatible
	// channel (NODE_CHANNEL_FD). It is ready when it sends "ready" or
	// {"herd":"ready"} on that channel, or at once when ReadyOnStart is set.
	// The trampoline is the only one: Dir, WorkerEnv and NoClusterEnv shape
	// the process without another shell. Not compatible with
	// PolicyDispatch.
	Command []string

	// NotifySocket, with Command, gives every worker its own unixgram
	// socket named in NOTIFY_SOCKET (systemd's sd_notify protocol): a
	// datagram with the line READY=1 makes the worker ready. Other lines
	// are ignored. The socket is closed and removed when the worker exits.
	NotifySocket bool

	// ReadyOnStart, with Command, counts a worker as ready as soon as it has
	// started, for programs that never signal readiness.
	ReadyOnStart bool

	// ReadyProbe, with Command, is another readiness signal: it is called
	// on its own goroutine for every new worker with the worker's pid, and
	// the worker is ready when it returns nil. Its context ends when the
	// worker exits; a probe that gives up returns an error, and the worker
	// then waits for another signal or the ready timeout. Ignored when
	// ReadyOnStart is set.
	ReadyProbe func(ctx context.Context, pid int) error

	// Env is added to every worker's environment, after os.Environ() (less
	// this package's own variables): a variable set in both takes Env's
	// value.
	Env []string

	// WorkerEnv, if set, returns variables added to the environment of the
	// worker that starts in slot (0..Workers-1), after Env: what a worker
	// must know about its place, such as an instance number. It is called
	// in the primary just before each worker starts, a respawned or
	// reloaded worker getting its slot's value again.
	WorkerEnv func(slot int) []string

	// NoClusterEnv, with Command, leaves this package's own HERD_CLUSTER_*
	// variables (worker ID, slot, primary pid, policy, addresses, request
	// limit) out of every worker's environment, so that neither the program
	// nor what it runs takes itself for a Go worker of this primary: a
	// program built with this package then sees only the inherited
	// listeners (LISTEN_FDS, LISTEN_PID) and serves as their only worker,
	// as under socket activation. Give the slot with WorkerEnv instead. Go
	// workers always get the variables.
	NoClusterEnv bool

	// Dir is the working directory of every worker; "" means the primary's.
	// A relative Command[0] with a slash is resolved against it. A Dir that
	// does not exist fails the worker's start.
	Dir string

	// Stdout and Stderr receive the workers' output. nil means this
	// process's own stdout and stderr.
	Stdout, Stderr io.Writer

	// Output, if set, returns the stdout and stderr writers of one worker
	// process, given its ID and slot, and overrides Stdout and Stderr for
	// it (a nil writer falls back to them). It is called in the primary
	// just before the worker starts, so a supervisor can prefix each line
	// with the instance it came from.
	Output func(id, slot int) (stdout, stderr io.Writer)

	// Adopt are the workers that an earlier image of this primary handed
	// over (Cluster.Handover) before it replaced itself with exec
	// (child.Reexec): Run takes them back instead of starting new ones in
	// their slots, and starts workers only for the slots none fills. Only
	// Command workers can be adopted. See HandedWorker.
	Adopt []HandedWorker

	// WorkerProcs is the GOMAXPROCS of each Go worker. 0 leaves Go's
	// default (every CPU), so that a worker holding more than its share of
	// keep-alive connections (the shared socket does not balance them) can
	// still use every core; negative divides the CPUs among the workers at
	// start (at least 1 each), which wastes the idle share when the
	// connections are uneven. A GOMAXPROCS variable in the environment
	// always wins. Command workers are not affected.
	WorkerProcs int

	// ManualReady makes a worker ready only when it calls Worker.Ready.
	// Otherwise its first Listen makes it ready.
	ManualReady bool

	// ReadyTimeout bounds how long a new worker may take to become ready.
	// At start-up a worker that misses it fails Run with a *BootError; in a
	// reload it aborts the reload and the old worker stays; otherwise it is
	// killed and replaced. 0 means 30s.
	ReadyTimeout time.Duration

	// ShutdownTimeout is how long a draining worker (stopped, scaled down,
	// reloaded or recycled) has between SIGTERM (or StopSignal) and SIGKILL.
	// 0 means 30s.
	ShutdownTimeout time.Duration

	// StopSignal is the signal a draining worker gets first; SIGKILL
	// follows after ShutdownTimeout. 0 means SIGTERM. A Command worker may
	// need another (PM2 apps clean up on SIGINT); a Go worker of Run
	// drains on SIGTERM and SIGINT alike.
	StopSignal syscall.Signal

	// QuiesceTimeout bounds how long the primary tries to catch a Command
	// worker it replaces (reload, recycling) or removes (scale-down) under
	// PolicyShared holding no connection before it signals it. The
	// worker's process group is stopped (SIGSTOP) and its sockets are
	// looked at; if none is a connection accepted on the cluster's
	// listeners and still in use, it gets SIGTERM while still stopped, then
	// SIGCONT; otherwise it is resumed, and stopped again once the
	// connections it held are answered. A stopped worker accepts nothing,
	// so even a program that dies at once on SIGTERM loses no connection.
	// A Command worker that is a Go program and holds a listener also gets
	// its RLIMIT_NOFILE lowered, from SIGTERM until it is gone (or, if it
	// handles SIGTERM itself, for its first 100ms after it), so that its
	// other threads cannot accept while its runtime's handler kills it.
	// Once QuiesceTimeout has passed the worker is signalled anyway, with a
	// warning. 0 means 5s; negative signals at once, as Go workers always
	// are (they drain by themselves). Needs Linux 5.6 (pidfd_getfd); on an
	// older kernel the worker is signalled at once, with a warning.
	QuiesceTimeout time.Duration

	// HeartbeatInterval is how often a Go worker reports that it is alive
	// over the channel (never a file). 0 means 1s; negative disables
	// heartbeats and their timeout.
	HeartbeatInterval time.Duration

	// HeartbeatTimeout is how long a ready worker may go without a heartbeat
	// before it is killed (SIGKILL) and replaced, with a log line saying so.
	// 0 means 10s. Workers that never sent one (Command workers that do
	// not speak the protocol) are not checked.
	HeartbeatTimeout time.Duration

	// Health, if set, runs in the worker before every heartbeat, with a
	// context bounded by HeartbeatInterval. An error or an overrun skips
	// that beat, so a worker whose own check keeps failing is replaced
	// after HeartbeatTimeout.
	Health func(ctx context.Context) error

	// BackoffInitial and BackoffMax shape the respawn backoff of a worker
	// slot: the first unexpected exit respawns at once, the second after
	// BackoffInitial, then doubling up to BackoffMax. 0 means 100ms and
	// 10s.
	BackoffInitial, BackoffMax time.Duration

	// MinUptime is how long a worker must have been ready for its exit to
	// restart the backoff and the failures in a row from scratch (and for a
	// clean exit not to count as a failure). 0 means 1s.
	MinUptime time.Duration

	// Respawn, if set, decides whether a worker that exited unexpectedly
	// after it was ready is respawned: false leaves its slot empty, without
	// counting a failure, and once every slot is empty the cluster stops and
	// Run returns nil. nil respawns always. A restart policy such as
	// "on-failure" is func(s ExitStatus) bool { return s.Code != 0 }.
	Respawn func(ExitStatus) bool

	// CrashLoopMax and CrashLoopWindow detect a crash loop: after more than
	// CrashLoopMax unexpected exits within CrashLoopWindow, across all
	// workers, or more than CrashLoopMax unexpected exits in a row of one
	// slot (none after it had been ready for MinUptime, so a single worker
	// is given up on whatever its backoff), the primary stops respawning,
	// stops the cluster and Run returns a *CrashLoopError. 0 means 10 and
	// 30s; a negative CrashLoopMax disables detection. A clean exit of a
	// worker that was ready for MinUptime (code 0, or SIGTERM, SIGINT or
	// SIGHUP the primary did not send, as from kill <pid>) is not a
	// failure: it is respawned at once and logged at Info.
	CrashLoopMax    int
	CrashLoopWindow time.Duration

	// MaxLifetime, if positive, recycles a worker after it has been ready
	// for that long (give or take RecycleJitter): a replacement is started,
	// and the old worker drains once the new one is ready.
	MaxLifetime time.Duration

	// MaxRequests, if positive, recycles a worker after it has served that
	// many requests through Worker.Serve (give or take RecycleJitter).
	MaxRequests int64

	// RecycleJitter is the fraction by which MaxLifetime and MaxRequests
	// vary per worker, so that workers started together are not recycled
	// together. 0 means 0.1; negative means none.
	RecycleJitter float64

	// NoSignals stops Run from handling SIGHUP (rolling reload), SIGTERM
	// and SIGINT (graceful stop), and SIGTTIN and SIGTTOU (one worker more
	// or less).
	NoSignals bool

	// OnEvent, if set, is called in the primary for every Event, in order,
	// from the goroutine that owns the cluster's state: it must not block
	// or call the Cluster's methods synchronously.
	OnEvent func(Event)

	// Logger receives the primary's log lines (worker exits, respawns,
	// heartbeat kills, crash loops, reloads). nil means slog.Default().
	Logger *slog.Logger
}

// Defaults applied to zero Config fields.
const (
	DefaultReadyTimeout      = 30 * time.Second
	DefaultShutdownTimeout   = 30 * time.Second
	DefaultQuiesceTimeout    = 5 * time.Second
	DefaultHeartbeatInterval = time.Second
	DefaultHeartbeatTimeout  = 10 * time.Second
	DefaultMinUptime         = time.Second
	DefaultRecycleJitter     = 0.1
)

// DuplicateSignalWindow is how soon after the SIGTERM or SIGINT that began
// a stop another one counts as the same request, not as the second signal
// that kills the workers at once: supervisors such as GNU timeout and
// systemd (KillMode=control-group) send SIGTERM to the process and to its
// process group together, so herd can get it twice within microseconds.
const DuplicateSignalWindow = time.Second

// withDefaults returns c with its zero fields filled.
func (c Config) withDefaults() Config {
	if c.Workers <= 0 {
		c.Workers = runtime.NumCPU()
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = DefaultReadyTimeout
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.QuiesceTimeout == 0 {
		c.QuiesceTimeout = DefaultQuiesceTimeout
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.HeartbeatTimeout <= 0 {
		c.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	if c.MinUptime <= 0 {
		c.MinUptime = DefaultMinUptime
	}
	if c.RecycleJitter == 0 {
		c.RecycleJitter = DefaultRecycleJitter
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// validate reports a Config that cannot work.
func (c *Config) validate() error {
	if c.Policy < PolicyShared || c.Policy > PolicyDispatch {
		return &ConfigError{Field: "Policy", Reason: "unknown policy " + c.Policy.String()}
	}
	if len(c.Adopt) > 0 && len(c.Command) == 0 {
		return &ConfigError{Field: "Adopt", Reason: "only Command workers can be adopted"}
	}
	if len(c.Command) > 0 && c.Policy == PolicyDispatch {
		return &ConfigError{Field: "Command", Reason: "PolicyDispatch needs Go workers of this package; use PolicyShared or PolicyReusePort"}
	}
	for _, a := range c.Listen {
		for _, r := range a.Name {
			if r == ':' {
				return &ConfigError{Field: "Listen", Reason: "name " + quote(a.Name) + " contains ':'"}
			}
		}
	}
	return nil
}
