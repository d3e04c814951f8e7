package workers

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/ipc"
)

// roleName is the child.Register role of worker processes.
const roleName = "herd.workers"

// procBackend runs workers as processes of this same program.
type procBackend struct {
	c    *core
	opts Options
	name string

	mu       sync.Mutex
	workers  map[*procWorker]struct{}
	failures int // consecutive start failures
}

func (b *procBackend) startWorker() {
	b.c.wg.Add(1)
	go b.runWorker()
}

func (b *procBackend) runWorker() {
	defer b.c.wg.Done()
	w, err := startProc(b.c, &b.opts, b.name, modePool, "", nil, nil)
	if err != nil {
		b.mu.Lock()
		b.failures++
		n := b.failures
		alive := len(b.workers)
		b.mu.Unlock()
		if n >= 3 && alive == 0 {
			b.c.failQueued(err)
		}
		fmt.Fprintf(stderrOf(&b.opts), "[%s] %v\n", b.name, err)
		select {
		case <-time.After(min(5*time.Second, time.Duration(n)*100*time.Millisecond)):
		case <-b.c.killCh:
		}
		b.c.workerGone(true)
		return
	}
	b.mu.Lock()
	b.failures = 0
	if b.workers == nil {
		b.workers = map[*procWorker]struct{}{}
	}
	b.workers[w] = struct{}{}
	b.mu.Unlock()
	if b.c.dead.Load() {
		w.kill("pool killed")
	}
	replaced := w.serve()
	b.mu.Lock()
	delete(b.workers, w)
	b.mu.Unlock()
	if w.idleExit {
		return
	}
	if replaced {
		b.c.mu.Lock()
		b.c.nworkers--
		b.c.mu.Unlock()
		return
	}
	b.c.workerGone(true)
}

func (b *procBackend) cancelRunning(t *task, err error) {
	if w := t.pw.Load(); w != nil {
		w.cancel(t)
	}
}

func (b *procBackend) kill() {
	b.mu.Lock()
	ws := make([]*procWorker, 0, len(b.workers))
	for w := range b.workers {
		ws = append(ws, w)
	}
	b.mu.Unlock()
	for _, w := range ws {
		w.kill("pool killed")
	}
}

func stderrOf(o *Options) interface{ Write([]byte) (int, error) } {
	if o.Stderr != nil {
		return o.Stderr
	}
	return os.Stderr
}

// procWorker is the parent's side of one worker process.
type procWorker struct {
	c     *core // nil for a single Thread
	name  string
	p     *child.Process
	conn  *ipc.Conn
	ob    *outbox
	out   *prefixWriter
	errw  *prefixWriter
	mem   memLimit
	ready chan struct{}
	rdone chan struct{} // closed when the reader stops: the worker is gone or closed

	mu         sync.Mutex
	inflight   map[uint64]*task
	seq        uint64
	acked      uint64
	free       int
	claimed    int           // slots claimed for tasks not yet in inflight
	slot       chan struct{} // a slot was freed
	retiring   bool
	killReason string
	done       int  // tasks finished
	sent       int  // tasks sent
	idleExit   bool // stopped by IdleTimeout, already counted out of the pool
	recycleAt  int

	// single Thread
	onRecord func(x rec)
}

const (
	modePool   = "pool"
	modeWorker = "worker"
)

// initMsg is the first message to a worker process.
type initMsg struct {
	Mode   string `json:"mode"`
	Name   string `json:"name,omitempty"`
	Data   []byte `json:"data,omitempty"`
	Shared int    `json:"shared,omitempty"`
	// InFlight is how many tasks a pool worker runs at once.
	InFlight int `json:"inFlight,omitempty"`
	// Nice is Options.Nice: the worker applies it to every one of its
	// threads (the parent's setpriority reaches only the main one).
	Nice int `json:"nice,omitempty"`
	// Idle is Options.Idle, applied the same way.
	Idle bool `json:"idle,omitempty"`
}

// startProc starts a worker process and waits until it is ready.
func startProc(c *core, o *Options, name, mode, fn string, data []byte, onRecord func(rec)) (*procWorker, error) {
	if _, ok := os.LookupEnv(child.EnvRole); ok {
		return nil, &StartError{Cmd: name, Err: ErrNoDispatch}
	}
	w := &procWorker{
		c: c, name: name,
		ready:    make(chan struct{}),
		rdone:    make(chan struct{}),
		inflight: map[uint64]*task{},
		slot:     make(chan struct{}, 1),
		onRecord: onRecord,
	}
	stdout, stderr := o.Stdout, o.Stderr
	if stdout == nil {
		stdout = os.Stdout
	}
	if stderr == nil {
		stderr = os.Stderr
	}
	w.out = &prefixWriter{dst: stdout, name: name}
	w.errw = &prefixWriter{dst: stderr, name: name, keepTail: true}
	env := append(os.Environ(), o.Env...)
	if o.MemoryLimit > 0 {
		env = append(env, "GOMEMLIMIT="+strconv.FormatInt(o.MemoryLimit/10*9, 10))
		w.mem = newMemLimit(o.MemoryLimit, w.kill)
	}
	if c != nil {
		w.free = c.lim.inFlight + c.lim.prefetch
		if r := c.lim.recycle; r > 0 {
			w.recycleAt = r + rand.IntN(int(float64(r)*c.lim.jitter)+1)
		}
	}
	startTO := o.StartTimeout
	if startTO <= 0 {
		startTO = DefaultStartTimeout
	}
	p, err := child.ForkSelf(context.Background(), roleName, nil, &child.Options{
		Env: env, Stdout: w.out, Stderr: w.errw, KillGrace: -1, PipeGrace: 200 * time.Millisecond,
	})
	if err != nil {
		var se *StartError
		if !errors.As(err, &se) {
			err = &StartError{Cmd: name, Err: err}
		}
		return nil, err
	}
	w.p, w.conn = p, p.Channel
	w.out.pid.Store(int64(p.Pid))
	w.errw.pid.Store(int64(p.Pid))
	w.ob = newOutbox(context.Background(), w.conn)
	fail := func(err error) (*procWorker, error) {
		w.p.Kill(syscall.SIGKILL)
		w.conn.Close()
		w.p.Wait()
		if w.mem != nil {
			w.mem.release()
		}
		return nil, &StartError{Cmd: name, Err: err}
	}
	if o.Nice > 0 || o.Idle {
		setPriority(p.Pid, max(o.Nice, 0), o.Idle) // the main thread at once
	}
	if w.mem != nil {
		if err := w.mem.beforeReady(p.Pid); err != nil {
			return fail(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTO)
	defer cancel()
	msg := initMsg{Mode: mode, Name: fn, Data: data, Shared: len(o.Shared), Nice: max(o.Nice, 0), Idle: o.Idle}
	if c != nil {
		msg.InFlight = c.lim.inFlight
	}
	if err := w.conn.Send(ctx, msg); err != nil {
		return fail(fmt.Errorf("send start message: %w", err))
	}
	for _, sb := range o.Shared {
		f, err := sb.File()
		if err != nil {
			return fail(fmt.Errorf("shared buffer: %w", err))
		}
		if err := w.conn.SendHandle(ctx, struct{}{}, f); err != nil {
			return fail(fmt.Errorf("send shared buffer: %w", err))
		}
	}
	go w.readLoop()
	select {
	case <-w.ready:
	case <-w.rdone:
		w.p.Wait()
		return fail(fmt.Errorf("worker %d exited before it was ready: %s", p.Pid, lastLine(w.errw.tailString())))
	case <-ctx.Done():
		return fail(fmt.Errorf("worker %d not ready after %v", p.Pid, startTO))
	}
	if w.mem != nil {
		if err := w.mem.afterReady(p.Pid); err != nil {
			return fail(fmt.Errorf("memory limit: %w", err))
		}
	}
	return w, nil
}

// readLoop reads records from the worker until its channel ends.
func (w *procWorker) readLoop() {
	defer close(w.rdone)
	var batch []*task
	for {
		m, err := w.conn.Recv(context.Background())
		if err != nil {
			return
		}
		r := recReader{b: m.Data}
		results := false
		for {
			x, ok := r.next()
			if !ok {
				break
			}
			switch x.kind {
			case recReady:
				close(w.ready)
			case recAck:
				w.started(x.seq)
			case recResult:
				w.result(x)
				results = true
			default:
				if w.onRecord != nil {
					w.onRecord(x)
				}
			}
		}
		if r.err != nil {
			w.kill("protocol error: " + r.err.Error())
			return
		}
		if results && w.c != nil {
			batch = w.refill(batch[:0])
		}
	}
}

// refill sends queued tasks to the worker's free slots, from the reader
// that just freed them: the next task goes out without waking the
// dispatcher goroutine, which matters when every core is busy running
// tasks. It never blocks; the dispatcher still waits for tasks when the
// queue is empty.
func (w *procWorker) refill(batch []*task) []*task {
	n := w.claim(1 << 30)
	if n == 0 {
		return batch
	}
	batch = w.c.tryMore(batch, n)
	w.unclaim(n - len(batch))
	if len(batch) > 0 {
		w.send(batch)
	}
	return batch
}

// claim reserves up to n free slots of the worker (fewer if it is retiring
// or near its MaxTasksPerWorker), counting them as sent, and returns how
// many. Slots that get no task go back with unclaim.
func (w *procWorker) claim(n int) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.retiring {
		return 0
	}
	n = min(n, w.free)
	if w.recycleAt > 0 {
		n = min(n, w.recycleAt-w.sent)
	}
	n = max(n, 0)
	w.free -= n
	w.sent += n
	w.claimed += n
	return n
}

// unclaim returns n claimed slots that were not used.
func (w *procWorker) unclaim(n int) {
	if n <= 0 {
		return
	}
	w.mu.Lock()
	w.free += n
	w.sent -= n
	w.claimed -= n
	w.mu.Unlock()
	select {
	case w.slot <- struct{}{}:
	default:
	}
}

// started records that the worker started every task up to seq, and arms
// their timeouts: a task's run time starts when it starts, not when it was
// sent ahead.
func (w *procWorker) started(seq uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var to time.Duration
	if w.c != nil {
		to = w.c.lim.timeout
	}
	for s := w.acked + 1; s <= seq; s++ {
		if t := w.inflight[s]; t != nil && to > 0 {
			t.tmr = time.AfterFunc(to, func() { w.timedOut(t, to) })
		}
	}
	w.acked = max(w.acked, seq)
}

// result settles the task a result record is for and frees its slot.
func (w *procWorker) result(x rec) {
	w.mu.Lock()
	t := w.inflight[x.seq]
	delete(w.inflight, x.seq)
	w.free++
	w.done++
	var tmr *time.Timer
	if t != nil {
		tmr = t.tmr
	}
	w.mu.Unlock()
	select {
	case w.slot <- struct{}{}:
	default:
	}
	if t == nil {
		return
	}
	if tmr != nil {
		tmr.Stop()
	}
	if t.state.Load() != stRunning {
		return // already settled: cancelled or timed out
	}
	name := t.e.name
	switch x.sub {
	case statusOK:
		out, err := t.e.decOut(x.payload)
		if err != nil {
			t.settle(nil, &CodecError{Task: name, Dir: "decode output", Err: err})
			return
		}
		t.settle(out, nil)
	case statusPanic:
		v, stack, _ := bytesCut(x.payload, 0)
		t.settle(nil, &PanicError{Task: name, Value: string(v), Stack: string(stack)})
	case statusUnknown:
		t.settle(nil, &TaskError{Task: name, Err: &remoteError{msg: string(x.payload), unknown: true}})
	case statusCodec:
		t.settle(nil, &CodecError{Task: name, Dir: "worker", Err: errors.New(string(x.payload))})
	default:
		t.settle(nil, &TaskError{Task: name, Err: &remoteError{msg: string(x.payload)}})
	}
}

func bytesCut(b []byte, sep byte) (before, after []byte, found bool) {
	for i, c := range b {
		if c == sep {
			return b[:i], b[i+1:], true
		}
	}
	return b, nil, false
}

// serve dispatches tasks to the worker until it dies, retires or the pool
// closes, then waits for it to end and settles what it left. It reports
// whether a replacement was already started (recycling).
func (w *procWorker) serve() (replaced bool) {
	c := w.c
	wt := newWaiter()
	batch := make([]*task, 0, c.lim.inFlight+c.lim.prefetch)
	for {
		w.mu.Lock()
		for w.free == 0 && !w.retiring {
			w.mu.Unlock()
			select {
			case <-w.slot:
			case <-w.rdone:
			}
			select {
			case <-w.rdone:
				goto drain
			default:
			}
			w.mu.Lock()
		}
		retiring := w.retiring || (w.recycleAt > 0 && w.sent >= w.recycleAt)
		w.mu.Unlock()
		if retiring || w.claim(1) == 0 {
			if retiring {
				break
			}
			continue // the reader took the free slots meanwhile
		}
		t, idle := c.next(wt, w.rdone)
		if t == nil {
			w.unclaim(1)
			if idle {
				w.idleExit = true
			}
			break
		}
		batch = append(batch[:0], t)
		if n := w.claim(1 << 30); n > 0 {
			runtime.Gosched() // let the producer queue more, to send them together
			batch = c.tryMore(batch, n)
			w.unclaim(n - (len(batch) - 1))
		}
		w.send(batch)
	}
drain:
	w.mu.Lock()
	w.retiring = true
	recycled := w.recycleAt > 0 && w.sent >= w.recycleAt
	w.mu.Unlock()
	if recycled && !c.dead.Load() {
		// Start the replacement now, so capacity returns before this one
		// has drained.
		c.mu.Lock()
		start := !c.closing
		if start {
			c.nworkers++
		}
		c.mu.Unlock()
		if start {
			replaced = true
			c.restarts.Add(1)
			c.be.startWorker()
		}
	}
	// Let running tasks finish, then close the channel: the worker exits.
	for {
		w.mu.Lock()
		n := len(w.inflight) + w.claimed
		w.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-w.slot:
		case <-w.rdone:
		}
		if isClosed(w.rdone) {
			break
		}
	}
	w.conn.Close()
	w.finish()
	return replaced
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// send writes a batch of tasks to the worker in one frame.
func (w *procWorker) send(batch []*task) {
	type enc struct {
		t *task
		b []byte
	}
	encs := make([]enc, 0, len(batch))
	size := 0
	for _, t := range batch {
		if t.state.Load() != stRunning {
			continue // cancelled before it could be sent
		}
		b, err := t.e.encIn(t.in)
		if err != nil {
			t.settle(nil, &CodecError{Task: t.e.name, Dir: "encode input", Err: err})
			continue
		}
		if len(b)+len(t.e.name)+32 > w.conn.MaxMessageSize() {
			t.settle(nil, &CodecError{Task: t.e.name, Dir: "encode input", Err: fmt.Errorf("%d bytes is over the channel's limit of %d", len(b), w.conn.MaxMessageSize())})
			continue
		}
		encs = append(encs, enc{t, b})
		size += len(b) + len(t.e.name) + 24
	}
	if skipped := len(batch) - len(encs); skipped > 0 {
		w.unclaim(skipped)
	}
	if len(encs) == 0 {
		return
	}
	// Number the tasks with the outbox held, so that they reach the worker
	// in seq order even when the reader and the dispatcher send at once.
	buf := w.ob.begin(size)
	w.mu.Lock()
	for _, e := range encs {
		w.seq++
		e.t.seq = w.seq
		e.t.pw.Store(w)
		w.inflight[w.seq] = e.t
	}
	w.claimed -= len(encs)
	w.mu.Unlock()
	if buf == nil {
		return // the channel failed; finish will requeue these
	}
	for i, e := range encs {
		if i > 0 {
			buf = w.ob.buf(len(e.b) + 24)
			w.ob.batch()
		}
		*buf = appendTaskRec(*buf, e.t.seq, e.t.e.name, e.b)
	}
	w.ob.commit()
}

// timedOut fails t with a *TimeoutError and kills the worker.
func (w *procWorker) timedOut(t *task, to time.Duration) {
	if t.settle(nil, &TimeoutError{Task: t.e.name, Timeout: to, Killed: true}) {
		w.kill(fmt.Sprintf("task %s timed out after %v", t.e.name, to))
	}
}

// cancel asks the worker to stop t, already settled, and kills the worker if
// t is still running after the grace period.
func (w *procWorker) cancel(t *task) {
	w.mu.Lock()
	seq := t.seq
	_, running := w.inflight[seq]
	w.mu.Unlock()
	if !running {
		return
	}
	if b := w.ob.begin(12); b != nil {
		*b = appendSeqRec(*b, recCancel, seq)
		w.ob.commit()
	}
	grace := DefaultStopGrace
	if w.c != nil {
		grace = w.c.lim.grace
	}
	time.AfterFunc(grace, func() {
		w.mu.Lock()
		still := w.inflight[seq] == t
		w.mu.Unlock()
		if still {
			w.kill(fmt.Sprintf("task %s still running %v after it was cancelled", t.e.name, grace))
		}
	})
}

// kill kills the worker process group with SIGKILL, recording why.
func (w *procWorker) kill(reason string) {
	w.mu.Lock()
	if w.killReason == "" {
		w.killReason = reason
	}
	w.mu.Unlock()
	w.p.Kill(syscall.SIGKILL)
}

// finish waits for the process to end, then re-queues the tasks it never
// started and fails the ones it was running.
func (w *procWorker) finish() {
	<-w.rdone
	perr := w.p.Wait()
	w.out.flush()
	w.errw.flush()
	xe := &WorkerExitError{Pid: w.p.Pid}
	var ee *child.ExitError
	if errors.As(perr, &ee) {
		xe.ExitStatus = ee.ExitStatus
	}
	xe.Stderr = w.errw.tailString()
	fatal, oomText := w.errw.crash()
	xe.Fatal = fatal
	w.mu.Lock()
	xe.Reason = w.killReason
	if w.mem != nil {
		xe.OOM = w.mem.oomKilled() || oomText ||
			(xe.Signal == syscall.SIGKILL && w.killReason == "")
		w.mem.release()
	}
	var requeue, failed []*task
	for seq, t := range w.inflight {
		if seq > w.acked {
			requeue = append(requeue, t)
		} else {
			failed = append(failed, t)
		}
	}
	w.inflight = map[uint64]*task{}
	w.mu.Unlock()
	killed := w.c != nil && w.c.dead.Load()
	for _, t := range failed {
		if t.tmr != nil {
			t.tmr.Stop()
		}
		if killed {
			t.settle(nil, ErrKilled)
			continue
		}
		e := *xe
		e.Task = t.e.name
		t.settle(nil, &e)
	}
	if len(requeue) > 0 {
		w.c.requeue(requeue)
	}
}
