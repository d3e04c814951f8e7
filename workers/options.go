package workers

import (
	"io"
	"runtime"
	"time"

	"github.com/herdrun/herd/workers/shm"
)

// Backend says where a pool's tasks run.
type Backend uint8

const (
	// Goroutines runs tasks in goroutines of this process: cheapest, but a
	// task that ignores its context cannot be stopped, and a crash takes
	// the whole program down. The zero value.
	Goroutines Backend = iota
	// Processes runs tasks in worker processes that are copies of this
	// program (started with child.ForkSelf), over ipc's fast mode. A task
	// can be killed (Timeout, cancellation), a crash or a memory bomb fails
	// that task only, and the worker is replaced.
	Processes
)

// String returns "goroutines" or "processes".
func (b Backend) String() string {
	if b == Processes {
		return "processes"
	}
	return "goroutines"
}

// Defaults used when the corresponding Options field is zero.
const (
	DefaultIdleTimeout   = 30 * time.Second
	DefaultStopGrace     = 2 * time.Second
	DefaultStartTimeout  = 10 * time.Second
	DefaultRecycleJitter = 0.1
)

// Options configures a Pool. The zero value is a good default: a
// goroutine pool with one worker per CPU, an unbounded queue and no
// timeout. A nil *Options means the zero value.
type Options struct {
	// Backend chooses goroutines (the zero value) or worker processes.
	Backend Backend

	// Size is the number of workers, fixed. If zero, MinWorkers and
	// MaxWorkers apply; if those are zero too, Size is runtime.NumCPU().
	Size int

	// MaxWorkers is the most workers the pool starts, when Size is zero.
	// Zero means runtime.NumCPU().
	MaxWorkers int

	// MinWorkers is how many workers the pool keeps when idle, when Size is
	// zero: workers above it stop after IdleTimeout without a task. Zero
	// means MaxWorkers (no scaling down, Piscina's churn avoided); a
	// negative value means none are kept.
	MinWorkers int

	// IdleTimeout is how long a worker above MinWorkers may stay idle
	// before it stops. Zero means DefaultIdleTimeout (30s).
	IdleTimeout time.Duration

	// MaxQueue bounds the tasks waiting for a worker. When it is reached,
	// Submit blocks until there is room (or its context ends), TrySubmit
	// fails with ErrQueueFull, and NeedsDrain reports true. Zero means no
	// limit, as in Piscina.
	MaxQueue int

	// InFlight is how many tasks one worker runs at once (Piscina's
	// concurrentTasksPerWorker). On the process backend the pool pipelines
	// that many tasks to each worker over its channel, in batches, which is
	// what makes small tasks fast; with InFlight > 1, a crash fails every
	// task that was running in that worker. Zero means 1.
	InFlight int

	// Prefetch is, on the process backend, how many tasks beyond InFlight
	// are sent ahead to each worker process, where they wait and start the
	// moment a running task finishes, so that a worker never idles for a
	// round trip between tasks. A prefetched task that has not started when
	// its worker dies is run elsewhere. Zero means 1; negative means none.
	Prefetch int

	// Timeout, if positive, limits each task's run time (not its time in
	// the queue). On the process backend a task past it gets a
	// *TimeoutError and its worker is killed and replaced; on the goroutine
	// backend the task's context is cancelled and the task gets a
	// *TimeoutError at once, but the goroutine runs on, holding its worker,
	// until the function returns. Zero means no limit.
	Timeout time.Duration

	// Shared are buffers every worker can reach, with SharedBuffers(ctx)
	// in a task. Process workers map them (they must come from shm.New);
	// goroutine workers get these same values.
	Shared []*shm.Buffer

	// Process backend only.

	// MemoryLimit, if positive, caps each worker process's memory in bytes.
	// herd uses a cgroup v2 memory controller when one is available
	// (memory.max, swap off). Without one it samples the worker's private
	// resident memory (/proc/<pid>/statm, resident minus shared) every
	// 20ms and kills the worker once that is over MemoryLimit, and sets
	// RLIMIT_AS to the worker's address space at start-up plus MemoryLimit
	// plus 256 MiB (for the stacks of threads it may still create) as a
	// backstop against an allocation too large or too fast for the
	// sampling. It always sets GOMEMLIMIT to 90% of the limit as a soft
	// hint to the worker's garbage collector. A task that goes over fails with a *WorkerExitError that
	// wraps ErrMemoryLimit, and the worker is replaced.
	MemoryLimit int64

	// MaxTasksPerWorker, if positive, recycles a worker after about that
	// many tasks: each worker's limit is drawn between MaxTasksPerWorker
	// and MaxTasksPerWorker*(1+RecycleJitter), so that workers do not all
	// restart at once. The worker finishes its tasks, exits, and a new one
	// takes its place.
	MaxTasksPerWorker int

	// RecycleJitter is the spread of MaxTasksPerWorker, as a fraction.
	// Zero means DefaultRecycleJitter (0.1); negative means none.
	RecycleJitter float64

	// StopGrace is how long a worker process whose running task was
	// cancelled may take to return before it is killed. Zero means
	// DefaultStopGrace (2s).
	StopGrace time.Duration

	// StartTimeout bounds how long a worker process may take to start and
	// report ready. Zero means DefaultStartTimeout (10s).
	StartTimeout time.Duration

	// Nice, if positive, lowers the CPU priority of worker processes by
	// that much (setpriority, applied to every thread of the worker), so
	// that the parent's request handling stays responsive while workers
	// compute.
	Nice int

	// Idle runs worker processes under Linux's SCHED_IDLE policy: they get
	// the CPU time no normal thread wants, and a normal thread that wakes
	// up (the server's, for a request) preempts them at once, where a
	// niced worker may finish its time slice first. Use it for work that
	// must never delay requests; on a machine that is busy with normal
	// work, idle workers get almost no CPU. Nice still sets their weight
	// among idle threads.
	Idle bool

	// Stdout and Stderr receive the worker processes' output, each line
	// prefixed with "[<Name> <pid>] ". nil means this process's own
	// os.Stdout and os.Stderr. The last 4 KiB of each worker's stderr is
	// also kept for WorkerExitError.
	Stdout, Stderr io.Writer

	// Name labels worker output and process titles. "" means "worker".
	Name string

	// Env is added to the worker processes' environment (after os.Environ).
	Env []string
}

// limits are Options with defaults applied.
type limits struct {
	min, max int
	idle     time.Duration
	inFlight int
	prefetch int
	maxQueue int
	timeout  time.Duration
	grace    time.Duration
	startTO  time.Duration
	recycle  int
	jitter   float64
}

func (o *Options) limits() limits {
	l := limits{
		idle:     o.IdleTimeout,
		inFlight: max(1, o.InFlight),
		prefetch: o.Prefetch,
		maxQueue: max(0, o.MaxQueue),
		timeout:  max(0, o.Timeout),
		grace:    o.StopGrace,
		startTO:  o.StartTimeout,
		recycle:  max(0, o.MaxTasksPerWorker),
		jitter:   o.RecycleJitter,
	}
	switch {
	case o.Size > 0:
		l.min, l.max = o.Size, o.Size
	default:
		l.max = o.MaxWorkers
		if l.max <= 0 {
			l.max = runtime.NumCPU()
		}
		l.min = o.MinWorkers
		if l.min == 0 {
			l.min = l.max
		}
		l.min = max(0, min(l.min, l.max))
	}
	if l.prefetch == 0 {
		l.prefetch = 1
	}
	l.prefetch = max(0, l.prefetch)
	if l.idle <= 0 {
		l.idle = DefaultIdleTimeout
	}
	if l.grace <= 0 {
		l.grace = DefaultStopGrace
	}
	if l.startTO <= 0 {
		l.startTO = DefaultStartTimeout
	}
	if l.jitter == 0 {
		l.jitter = DefaultRecycleJitter
	}
	if l.jitter < 0 {
		l.jitter = 0
	}
	return l
}
