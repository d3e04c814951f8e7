package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/herdrun/herd/internal/fifo"
	"github.com/herdrun/herd/ipc"
	"golang.org/x/sys/unix"
)

// Run runs a cluster: in the primary it starts the workers and supervises
// them until ctx ends, a signal stops it or Shutdown is called; in a worker
// process it runs fn and exits the process. It is New(cfg, fn).Run(ctx).
func Run(ctx context.Context, cfg Config, fn WorkerFunc) error {
	return New(cfg, fn).Run(ctx)
}

// IsWorker reports whether this process is a worker: one started by a
// cluster primary (the same program, re-executed), or one started with its
// listeners already open by socket activation (LISTEN_PID is its pid and
// LISTEN_FDS at least 1, as under herd run or systemd), where Run serves as
// the only worker. Code before Run runs in both.
func IsWorker() bool { return isClusterWorker() || activated() }

// isClusterWorker reports whether a primary of this package started this
// process as one of its workers.
func isClusterWorker() bool {
	return os.Getenv(envWorker) != "" && os.Getenv(envParent) == strconv.Itoa(os.Getppid())
}

// IsPrimary is !IsWorker().
func IsPrimary() bool { return !IsWorker() }

// runWorker is Run in a worker process. It returns the exit status.
func runWorker(ctx context.Context, cfg Config, fn WorkerFunc) int {
	cfg = cfg.withDefaults()
	w := newWorker(&cfg)
	w.id, w.slot, w.maxReqs = envInt(envWorker), envInt(envSlot), int64(envInt(envMaxReq))
	w.policy, _ = ParsePolicy(os.Getenv(envPolicy))
	_ = json.Unmarshal([]byte(os.Getenv(envAddrs)), &w.specs)
	w.files = takeActivation(len(w.specs), w.policy != PolicyDispatch)
	for _, k := range []string{envWorker, envSlot, envParent, envPolicy, envAddrs, envMaxReq} {
		os.Unsetenv(k)
	}

	conn, err := ipc.FromEnv(nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cluster worker %d: %v\n", w.id, err)
		return 2
	}
	return w.run(ctx, conn, fn)
}

// newWorker returns a Worker with its maps and channels made.
func newWorker(cfg *Config) *Worker {
	return &Worker{
		cfg:        cfg,
		dispatch:   map[int]*dispatchListener{},
		pending:    map[int]chan ipc.Message{},
		inbox:      new(fifo.Queue[json.RawMessage]),
		closedKick: make(chan struct{}, 1),
	}
}

// run runs fn in this worker process over conn, its channel to the
// primary, and returns the exit status.
func (w *Worker) run(ctx context.Context, conn *ipc.Conn, fn WorkerFunc) int {
	w.conn = conn
	defer conn.Close()

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	life, endLife := context.WithCancel(context.Background())
	defer endLife()
	go func() {
		select {
		case <-conn.Done():
			cancel()
		case <-life.Done():
		}
	}()
	go w.readLoop()
	go w.heartbeat(life)
	go w.reportClosed(life)

	sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
	_ = conn.Send(sctx, ctl{Herd: msgOnline})
	scancel()

	if err := fn(ctx, w); err != nil {
		ectx, ecancel := context.WithTimeout(context.Background(), time.Second)
		_ = conn.Send(ectx, ctl{Herd: msgError, Msg: err.Error()})
		ecancel()
		fmt.Fprintf(os.Stderr, "cluster worker %d (pid %d): %v\n", w.id, os.Getpid(), err)
		return 1
	}
	return 0
}

// takeActivation returns the n listeners inherited at fds 3.. and makes
// them close-on-exec, so that this worker's own children do not inherit
// them. It sets LISTEN_PID to this process, so that activation-aware
// libraries in the worker find them too.
func takeActivation(n int, present bool) []*os.File {
	if !present || n == 0 {
		return nil
	}
	if got, _ := strconv.Atoi(os.Getenv(envListenN)); got < n {
		n = got
	}
	os.Setenv(envListenPD, strconv.Itoa(os.Getpid()))
	files := make([]*os.File, n)
	for i := range n {
		fd := 3 + i
		unix.CloseOnExec(fd)
		files[i] = os.NewFile(uintptr(fd), "listener-"+strconv.Itoa(i))
	}
	return files
}
