package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultConcurrency is QueueConfig.Concurrency's default: runtime.NumCPU().
var DefaultConcurrency = runtime.NumCPU()

// Job is one attempt of a job, as its handler sees it.
type Job[A any] struct {
	// ID, Kind and Queue are the job's ID, kind and queue.
	ID, Kind, Queue string
	// Attempt counts from 1; MaxAttempts is the job's bound.
	Attempt, MaxAttempts int
	// Priority is the job's priority in its queue.
	Priority Priority
	// Created is when the job was submitted.
	Created time.Time
	// Args are the job's arguments, decoded from JSON.
	Args A

	run *running
}

// Progress records how far the job is (fraction in [0, 1]) and a note; Get,
// Watch and Wait show them. It stores them before it returns; it fails
// (with ErrCancelled) once the job is cancelled.
func (j *Job[A]) Progress(fraction float64, note string) error {
	if j.run == nil {
		return errors.New("jobs: Progress on a Job that is not running")
	}
	return j.run.progress(fraction, note)
}

// Handler runs one attempt of a job of one kind. Its ctx ends when the
// attempt times out, the job is cancelled (context.Cause(ctx) is
// ErrCancelled) or the worker shuts down past its deadline. A returned
// error, or a panic, fails the attempt; the job is retried until
// MaxAttempts, unless the error wraps ErrPermanent.
type Handler[A, R any] func(ctx context.Context, job *Job[A]) (R, error)

// ErrPermanent, wrapped in a handler's error, fails the job at once,
// without the attempts it has left. Args that do not decode fail so too.
var ErrPermanent = errors.New("jobs: permanent failure")

// QueueConfig says how a worker takes jobs from one queue.
type QueueConfig struct {
	// Concurrency bounds the jobs this process runs at once from the queue;
	// 0 means DefaultConcurrency.
	Concurrency int
	// GlobalConcurrency bounds the jobs running at once from the queue over
	// every worker process; 0 means no bound.
	GlobalConcurrency int
	// RateLimit bounds the jobs this process starts per second from the
	// queue; 0 means no bound.
	RateLimit float64
	// Burst is the rate limiter's burst; 0 means 1.
	Burst int
}

// WorkOptions configures Client.Work.
type WorkOptions struct {
	// Queues to take jobs from; nil means {DefaultQueue: {}}.
	Queues map[string]QueueConfig
	// ShutdownTimeout is how long Work lets running jobs finish after its
	// ctx ends; then their contexts are cancelled and the jobs go back to
	// their queues. 0 means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// Backoff is the delay after failed attempt n (1 for the first); nil
	// means DefaultBackoff.
	Backoff func(attempt int) time.Duration
}

// DefaultBackoff waits 1 s after the first failed attempt and doubles each
// time up to 5 minutes, with ±25 % jitter so that retries spread out.
func DefaultBackoff(attempt int) time.Duration {
	d := time.Second << min(max(attempt-1, 0), 9)
	d = min(d, 5*time.Minute)
	return time.Duration(float64(d) * (0.75 + 0.5*rand.Float64()))
}

// handler is a registered kind with its types erased.
type handler struct {
	run func(ctx context.Context, rn *running, r *record) (json.RawMessage, error)
}

// Register makes h the handler of kind on c: Work runs the kind's jobs with
// it, and the kind becomes known (Work records it for every client of the
// prefix, so that their Submit accepts it). Register before Work; a second
// Register of a kind replaces the first. Register panics on a kind that
// Submit would refuse (empty, or with characters other than letters,
// digits and - _ . / =).
func Register[A, R any](c *Client, kind string, h Handler[A, R]) {
	if err := checkKind(kind); err != nil {
		panic(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.handlers[kind] = &handler{run: func(ctx context.Context, rn *running, r *record) (json.RawMessage, error) {
		j := &Job[A]{ID: r.ID, Kind: r.Kind, Queue: r.Queue, Attempt: r.Attempt, MaxAttempts: r.MaxAttempts, Priority: r.Priority, Created: r.Created.time(), run: rn}
		if len(r.Args) > 0 {
			if err := json.Unmarshal(r.Args, &j.Args); err != nil {
				return nil, fmt.Errorf("%w: decode args as %T: %v", ErrPermanent, j.Args, err)
			}
		}
		res, err := h(ctx, j)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(res)
		if err != nil {
			return nil, fmt.Errorf("%w: encode result %T: %v", ErrPermanent, res, err)
		}
		return b, nil
	}}
}

// running is one attempt in progress on this process.
type running struct {
	c      *Client
	id     string
	gen    int
	cancel context.CancelCauseFunc
	mu     sync.Mutex
	rec    *record
	rev    uint64 // the stored record's revision
	ended  bool   // the attempt is over: store nothing more

	hbMu  sync.Mutex
	msg   *nats.Msg  // until the handler returns: the work message to heartbeat
	tok   *heldToken // and the token
	since time.Time  // when the worker took the message
}

// storeLocked creates the running record if it is not stored yet; rn.mu is
// held. If a record exists already (a cancel got there first) it reports
// ErrCancelled.
func (rn *running) storeLocked() error {
	if rn.rev != 0 || rn.ended {
		return nil
	}
	rev, err := rn.c.pub.write(rn.id, rn.rec.encode(), 0)
	if errWrongRev(err) {
		rn.ended = true
		return ErrCancelled
	}
	if err != nil {
		return rn.c.wrap("store running state", err)
	}
	rn.rev = rev
	return nil
}

// quiet ends the attempt's heartbeats.
func (rn *running) quiet() {
	rn.hbMu.Lock()
	rn.msg, rn.tok = nil, nil
	rn.hbMu.Unlock()
}

func (rn *running) progress(f float64, note string) error {
	if f < 0 || f > 1 || f != f {
		return &ValidationError{Field: "fraction", Problem: fmt.Sprintf("%v is not in [0, 1]", f)}
	}
	rn.mu.Lock()
	defer rn.mu.Unlock()
	if err := rn.storeLocked(); err != nil {
		return err
	}
	if rn.ended {
		return ErrCancelled
	}
	next := *rn.rec
	next.Progress, next.Note = f, note
	rev, err := rn.c.state.Update(context.Background(), rn.id, next.encode(), rn.rev)
	if errWrongRev(err) {
		return ErrCancelled
	}
	if err != nil {
		return rn.c.wrap("progress", err)
	}
	rn.rec, rn.rev = &next, rev
	return nil
}

var (
	errShutdown = errors.New("jobs: worker shut down")
	errAbandon  = 2 * time.Second // how long a handler may ignore its ctx
)

// TimeoutError is an attempt's error when it ran past its Timeout.
type TimeoutError struct {
	// Timeout is the attempt's bound that it ran past.
	Timeout time.Duration
}

// Error returns "jobs: attempt timed out after <Timeout>".
func (e *TimeoutError) Error() string {
	return fmt.Sprintf("jobs: attempt timed out after %v", e.Timeout)
}

// worker is one call of Work.
type worker struct {
	c       *Client
	opts    WorkOptions
	runCtx  context.Context // cancelled at the shutdown deadline
	stopRun context.CancelCauseFunc
	jobs    sync.WaitGroup
	idle    chan slotJob   // idle runner goroutines take jobs here
	stop    chan struct{}  // closed when Work returns: idle runners end
	runners sync.WaitGroup // the runner goroutines
	mu      sync.Mutex
	live    map[string]*running
	cancels map[cancelKey]time.Time // cancel broadcasts of the last minute
}

// Work runs the jobs of opts.Queues with the handlers registered on c
// until ctx ends or c is closed. Then it takes no more jobs, lets the
// running ones finish for up to ShutdownTimeout, cancels the rest (their
// jobs go back to their queues) and returns nil. It returns an error only
// if it cannot start: a setup request that times out or finds JetStream
// unavailable for now (a busy cluster, an election) is tried again until
// ctx ends, with a warning on the Client's Logger each time.
//
// Each queue has one durable pull consumer per priority. A worker takes
// jobs of the highest priority first, keeps an attempt alive with
// heartbeats (AckWait/4), and writes one state record when the attempt
// ends (compare-and-swap, published asynchronously; the message is
// acknowledged once it is stored). The running state is stored too
// (compare-and-swap) for an attempt that is not the job's first delivery
// (before the handler runs) and for one that runs longer than 50 ms or
// reports Progress.
func (c *Client) Work(ctx context.Context, opts WorkOptions) error {
	if c.isClosed() {
		return ErrClosed
	}
	if opts.Queues == nil {
		opts.Queues = map[string]QueueConfig{DefaultQueue: {}}
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	if opts.Backoff == nil {
		opts.Backoff = DefaultBackoff
	}
	c.mu.Lock()
	kinds := make([]string, 0, len(c.handlers))
	for k := range c.handlers {
		kinds = append(kinds, k)
	}
	c.mu.Unlock()
	for _, k := range kinds {
		err := c.retrySetup(ctx, "record kind "+k, func() error {
			_, err := c.kinds.Put(ctx, k, []byte(c.worker))
			return err
		})
		if err != nil {
			return c.wrap("record kind "+k, err)
		}
	}
	w := &worker{c: c, opts: opts, live: map[string]*running{}, cancels: map[cancelKey]time.Time{}, idle: make(chan slotJob), stop: make(chan struct{})}
	defer func() { close(w.stop); w.runners.Wait() }()
	w.runCtx, w.stopRun = context.WithCancelCause(context.Background())
	defer w.stopRun(nil)

	fetchCtx, stopFetch := context.WithCancel(ctx)
	defer stopFetch()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	stopped := make(chan struct{})
	c.workStops = append(c.workStops, func() { stopFetch(); <-stopped })
	c.mu.Unlock()
	defer close(stopped)

	csub, err := c.nc.Subscribe(c.cancelSubj(), w.onCancel)
	if err != nil {
		return c.wrap("subscribe", err)
	}
	defer func() { _ = csub.Unsubscribe() }()
	var side sync.WaitGroup
	defer side.Wait()
	asub, err := c.nc.QueueSubscribe("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES."+c.workStream()+".*", c.cfg.Prefix+"_maxdeliver", func(m *nats.Msg) {
		side.Add(1)
		go func() { defer side.Done(); w.onMaxDeliveries(m.Data) }()
	})
	if err != nil {
		return c.wrap("subscribe", err)
	}
	defer func() { _ = asub.Unsubscribe() }()

	beats := make(chan struct{})
	stopBeats := sync.OnceFunc(func() { close(beats) })
	defer stopBeats()
	side.Add(1)
	go func() { defer side.Done(); w.heartbeats(beats) }()
	var loops sync.WaitGroup
	for name, qc := range opts.Queues {
		if !tokenRE.MatchString(name) {
			stopFetch()
			loops.Wait()
			return &ValidationError{Field: "WorkOptions.Queues", Problem: fmt.Sprintf("queue %q: use letters, digits, '-' and '_'", name)}
		}
		var q *queue
		err := c.retrySetup(ctx, "queue "+name, func() (err error) {
			q, err = w.newQueue(ctx, name, qc)
			return err
		})
		if err != nil {
			stopFetch()
			loops.Wait()
			return err
		}
		loops.Add(1)
		go func() { defer loops.Done(); q.loop(fetchCtx) }()
	}
	<-fetchCtx.Done()
	loops.Wait()
	// Drain: let running jobs finish, then cancel what is left.
	drained := make(chan struct{})
	go func() { w.jobs.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(opts.ShutdownTimeout):
		w.stopRun(errShutdown)
		<-drained
	}
	stopBeats()
	_ = csub.Unsubscribe()
	_ = asub.Unsubscribe()
	side.Wait()
	return nil
}

// Bounds of the wait between tries of a worker's setup request (see
// retrySetup); it doubles from setupRetryMin.
const (
	setupRetryMin = 100 * time.Millisecond
	setupRetryMax = 5 * time.Second
)

// retrySetup runs fn, one of Work's setup steps, until it succeeds or
// fails for good, ctx ends or c closes. On a cluster a JetStream API
// request can go unanswered for a while (a busy node, a raft group
// electing its leader, two processes creating the same consumer at once):
// such a step is tried again after a wait, so that a worker started with
// the cluster waits it out rather than stop.
func (c *Client) retrySetup(ctx context.Context, op string, fn func() error) error {
	wait := setupRetryMin
	for try := 1; ; try++ {
		err := fn()
		if err == nil || !transient(err) || ctx.Err() != nil || c.isClosed() {
			return err
		}
		c.log.Warn("jobs: worker setup, trying again", "op", op, "try", try, "wait", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		case <-c.done:
			t.Stop()
			return ErrClosed
		}
		wait = min(2*wait, setupRetryMax)
	}
}

// transient reports whether a JetStream API request failed in a way that
// a later try may not: no answer in time, no responder yet, or the server
// saying JetStream is unavailable for now (503).
func transient(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.As(err, &apiErr) && apiErr.Code == 503
}

// heartbeats tells JetStream every AckWait/4 that the jobs running here
// (those started at least AckWait/8 ago) are alive, until stop is closed.
func (w *worker) heartbeats(stop <-chan struct{}) {
	every := w.c.cfg.AckWait / 4
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			w.beat(every)
		case <-stop:
			return
		}
	}
}

func (w *worker) beat(every time.Duration) {
	w.mu.Lock()
	live := make([]*running, 0, len(w.live))
	for _, rn := range w.live {
		live = append(live, rn)
	}
	w.mu.Unlock()
	now := time.Now()
	for _, rn := range live {
		rn.hbMu.Lock()
		if rn.msg != nil && now.Sub(rn.since) >= every/2 {
			_ = rn.msg.InProgress()
			rn.tok.beat()
		}
		rn.hbMu.Unlock()
	}
}

// keepAlive tells JetStream every AckWait/4 that the delivery m is being
// worked on, until the returned stop is called: for a job that waits
// before it runs (see queue.dispatch), before the heartbeats take over.
func (w *worker) keepAlive(m *nats.Msg) (stop func()) {
	every := w.c.cfg.AckWait / 4
	var mu sync.Mutex
	stopped := false
	var t *time.Timer
	mu.Lock()
	defer mu.Unlock()
	t = time.AfterFunc(every, func() {
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			_ = m.InProgress()
			t.Reset(every)
		}
	})
	return func() {
		mu.Lock()
		stopped = true
		t.Stop()
		mu.Unlock()
	}
}

// onCancel cancels the named attempt if it runs here.
func (w *worker) onCancel(m *nats.Msg) {
	id, gen, ok := parseCancel(m.Data)
	if !ok {
		return
	}
	w.mu.Lock()
	rn := w.live[id]
	now := time.Now()
	w.cancels[cancelKey{id, gen}] = now
	if len(w.cancels) > 4096 {
		for k, at := range w.cancels {
			if now.Sub(at) > time.Minute {
				delete(w.cancels, k)
			}
		}
	}
	w.mu.Unlock()
	if rn != nil && rn.gen == gen {
		rn.cancel(ErrCancelled)
	}
}

type cancelKey struct {
	id  string
	gen int
}

// onMaxDeliveries handles JetStream's advisory that a work message was
// delivered MaxDeliver times and will not be again (it stays in the
// stream): the job is marked failed and its message removed.
func (w *worker) onMaxDeliveries(data []byte) {
	c := w.c
	var adv struct {
		Stream     string `json:"stream"`
		StreamSeq  uint64 `json:"stream_seq"`
		Deliveries uint64 `json:"deliveries"`
	}
	if err := json.Unmarshal(data, &adv); err != nil || adv.Stream != c.workStream() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := c.work.GetMsg(ctx, adv.StreamSeq)
	if err != nil {
		return // already gone
	}
	r, err := decodeRecord(m.Data)
	if err != nil {
		_ = c.work.DeleteMsg(ctx, adv.StreamSeq)
		return
	}
	for try := 0; try < 10; try++ {
		cur, rev, err := c.stored(ctx, r.ID)
		if err != nil {
			break
		}
		if cur != nil && (cur.Gen != r.Gen || cur.State.Final()) {
			break
		}
		next := *r
		if cur != nil {
			next = *cur
		}
		next.State, next.Finished = StateFailed, stampNow()
		next.Error = fmt.Sprintf("jobs: delivered %d times without an outcome (max deliveries); last error: %s", adv.Deliveries, next.Error)
		if cur == nil {
			_, err = c.state.Create(ctx, r.ID, next.encode())
		} else {
			_, err = c.state.Update(ctx, r.ID, next.encode(), rev)
		}
		if !errWrongRev(err) {
			break
		}
	}
	_ = c.work.DeleteMsg(ctx, adv.StreamSeq)
}

// slotJob is a delivered job for a runner goroutine.
type slotJob struct {
	q   *queue
	m   *nats.Msg
	tok *heldToken
}

// start runs the job on an idle runner goroutine, or on a new one if none
// is idle. Runners stay for the next job until Work returns, so a job
// costs no goroutine start and no stack growth: the runners' stacks have
// grown already.
func (w *worker) start(q *queue, m *nats.Msg, tok *heldToken) {
	j := slotJob{q, m, tok}
	select {
	case w.idle <- j:
	default:
		w.runners.Add(1)
		go w.runner(j)
	}
}

func (w *worker) runner(j slotJob) {
	defer w.runners.Done()
	var hp *helper // runs this runner's handlers
	defer func() {
		if hp != nil {
			close(hp.in)
		}
	}()
	for {
		j.q.run(j.m, j.tok, &hp)
		select {
		case j = <-w.idle:
		case <-w.stop:
			return
		}
	}
}

// run runs one delivered job and releases its slot. The job is done
// (w.jobs) when its message is settled: for an outcome, when the store's
// reply comes, which run does not wait for.
func (q *queue) run(m *nats.Msg, tok *heldToken, hp **helper) {
	w, c := q.w, q.w.c
	settled := true // false once the outcome's reply settles the message
	defer func() {
		if settled {
			w.jobs.Done()
		}
	}()
	defer tok.release()
	released := false
	release := func() {
		if !released {
			released = true
			q.freed <- struct{}{}
		}
	}
	defer release()
	md, err := m.Metadata()
	if err != nil {
		_ = m.Term()
		return
	}
	r, err := decodeRecord(m.Data)
	if err != nil {
		c.log.Warn("jobs: dropping an undecodable work message", "subject", m.Subject, "err", err)
		_ = m.Term()
		return
	}
	delivered := int(md.NumDelivered)
	hctx, cancel := context.WithCancelCause(w.runCtx)
	defer cancel(nil)
	// The heartbeat covers the message from here, not only while the
	// handler runs: begin's reads can take longer than AckWait on a
	// loaded machine, and a delivery that expires meanwhile is run again
	// elsewhere as a second attempt.
	rn := &running{c: c, id: r.ID, gen: r.Gen, cancel: cancel, msg: m, tok: tok, since: time.Now()}
	w.mu.Lock()
	w.live[r.ID] = rn
	_, gone := w.cancels[cancelKey{r.ID, r.Gen}]
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		if w.live[r.ID] == rn {
			delete(w.live, r.ID)
		}
		w.mu.Unlock()
		rn.quiet() // before the token's release (deferred earlier)
	}()
	if gone {
		rn.quiet()
		_ = m.Ack()
		return
	}
	c.mu.Lock()
	h := c.handlers[r.Kind]
	c.mu.Unlock()
	if h == nil {
		// Another worker on the queue may have it: put the job back
		// before it counts as an attempt.
		rn.quiet()
		w.putBack(m, time.Second)
		return
	}
	if settle := q.begin(m, r, delivered, rn); settle != nil {
		rn.quiet()
		_ = settle()
		return
	}
	if errors.Is(context.Cause(hctx), ErrCancelled) {
		rn.quiet()
		_ = m.Ack() // cancelled before it started
		return
	}

	result, runErr := q.invoke(hctx, h, rn, hp)
	rn.quiet()
	release()

	cause := context.Cause(hctx)
	rn.mu.Lock()
	rn.ended = true
	next := *rn.rec
	rev := rn.rev
	rn.mu.Unlock()
	if errors.Is(cause, ErrCancelled) {
		// The canceller wrote the state and removed the message.
		_ = m.Ack()
		return
	}
	if errors.Is(cause, errShutdown) {
		// Back to the queue for another worker; the attempt does not count.
		next.State, next.Attempt, next.Started, next.Worker = StateQueued, next.Attempt-1, 0, ""
		_, _ = c.pub.write(r.ID, next.encode(), rev)
		_ = m.Nak()
		return
	}
	now := stampNow()
	retry := time.Duration(-1)
	switch {
	case runErr == nil:
		next.State, next.Finished, next.Progress, next.Error = StateSucceeded, now, 1, ""
		if len(result) > DefaultInlineResult {
			if _, err := c.obj.PutBytes(context.Background(), r.ID, result); err != nil {
				runErr = fmt.Errorf("jobs: store result: %w", err)
				next.State = StateFailed
				next.Error = runErr.Error()
			} else {
				next.ResultRef = true
			}
		} else {
			next.Result = result
		}
	case errors.Is(runErr, ErrPermanent) || next.Attempt >= next.MaxAttempts:
		next.State, next.Finished, next.Error = StateFailed, now, runErr.Error()
	default:
		next.State, next.Error = StateRetrying, runErr.Error()
		retry = w.opts.Backoff(next.Attempt)
	}
	if retry >= 0 {
		// The next attempt re-reads the record, so it need not wait.
		_ = c.pub.publish(r.ID, next.encode(), rev, &pendingPub{})
		_ = m.NakWithDelay(retry)
		return
	}
	// The message is acknowledged once the outcome is stored, from the
	// store's reply; this runner takes its next job meanwhile.
	id := r.ID
	err = c.pub.publish(id, next.encode(), rev, &pendingPub{fn: func(_ uint64, err error) {
		defer w.jobs.Done()
		switch {
		case err == nil:
			_ = m.Ack()
		case errWrongRev(err) && rev != 0:
			_ = m.Ack() // cancelled meanwhile: the cancel stands
		case errWrongRev(err):
			// A first attempt's record appeared while it ran: a cancel's
			// (which removed the message, so this does nothing), or one
			// this delivery did not know of. The next delivery reads it.
			_ = m.Nak()
		default:
			c.log.Warn("jobs: store the outcome of a job", "id", id, "err", err)
			_ = m.Nak()
		}
	}})
	if err != nil {
		_ = m.Nak()
		return
	}
	settled = false
}

// begin records the attempt as running, before the handler runs. When the
// job must not run (cancelled, finished, out of attempts, or an older
// generation) it returns how to settle the message instead, and nil when
// it may run.
//
// The attempt's number comes from the stored record, not from the
// message's delivery count: a delivery put back before its handler ran (held
// too long, a store error, a shutdown) does not use up an attempt.
func (q *queue) begin(m *nats.Msg, r *record, delivered int, rn *running) (settle func() error) {
	c := q.w.c
	ctx := context.Background() // jetstream bounds each request by its default timeout
	now := stampNow()
	if r.Gen == 0 && delivered == 1 && !q.recorded(r.ID) {
		// The first delivery of a job, which has no record yet (a job put
		// back before it ran gets one, see putBack): nothing is stored
		// before the handler starts. The delivery is the running state
		// (Get and Watch read it from the queue's consumer, see current);
		// the record is created with the outcome, or earlier if the
		// handler runs for lazyRunning or reports Progress. A cancel
		// creates the record first and broadcasts (before and after), so
		// the job never starts if the broadcast is here before the
		// message, and its ctx is cancelled if not; the outcome's create
		// then fails and the cancel stands.
		next := *r
		next.State, next.Attempt, next.Started, next.Worker = StateRunning, 1, now, c.worker
		rn.rec = &next
		return nil
	}
	for try := 0; try < 20; try++ {
		cur, rev, err := c.stored(ctx, r.ID)
		if err != nil {
			return nakIn(m, time.Second)
		}
		var next record
		if cur == nil {
			if r.Gen != 0 {
				return nakIn(m, 100*time.Millisecond)
			}
			next = *r
		} else {
			switch {
			case cur.Gen > r.Gen || cur.State.Final() && cur.Gen == r.Gen:
				return func() error { return m.Ack() } // stale or settled: never run it
			case cur.Gen < r.Gen:
				return nakIn(m, 100*time.Millisecond)
			}
			next = *cur
		}
		// A record left running means that attempt's worker was lost;
		// so does a delivery of a job with no record after the first
		// (the first attempt stores nothing before its outcome, and a
		// put-back stores a record first).
		attempt := next.Attempt + 1
		if cur == nil {
			attempt = max(delivered, 1)
		}
		if attempt > next.MaxAttempts {
			next.State, next.Finished = StateFailed, now
			next.Error = fmt.Sprintf("jobs: worker lost during attempt %d of %d", attempt-1, next.MaxAttempts)
		} else {
			next.State, next.Attempt, next.Started, next.Worker = StateRunning, attempt, now, c.worker
			next.Progress, next.Note = 0, ""
			switch {
			case cur == nil:
				next.Retried += attempt - 1
			case attempt > 1:
				next.Retried++
			}
		}
		var nrev uint64
		if cur == nil {
			nrev, err = c.state.Create(ctx, r.ID, next.encode())
		} else {
			nrev, err = c.state.Update(ctx, r.ID, next.encode(), rev)
		}
		if errWrongRev(err) {
			continue
		}
		if err != nil {
			return nakIn(m, time.Second)
		}
		if next.State == StateFailed {
			return func() error { return m.Term() }
		}
		rn.rec, rn.rev = &next, nrev
		return nil
	}
	return nakIn(m, time.Second)
}

// nakIn is a settle action of begin: redeliver m after d.
func nakIn(m *nats.Msg, d time.Duration) func() error {
	return func() error { return m.NakWithDelay(d) }
}

// recorded reports whether job id has a record (or the read failed):
// read after the delivery, so that a cancel that created the record
// before the worker took the message always wins (see begin).
func (q *queue) recorded(id string) bool {
	has, err := q.w.c.pub.has(id)
	return err != nil || has
}

// invoke runs the handler with the attempt's timeout on the runner's
// helper goroutine (*hp, started on first use); a panic becomes an error
// with its stack. A handler that ignores its ctx is abandoned errAbandon
// after the ctx ends: its helper is left to it (it ends when the handler
// returns) and the runner starts a new one for its next job.
func (q *queue) invoke(hctx context.Context, h *handler, rn *running, hp **helper) (json.RawMessage, error) {
	r := rn.rec
	tctx, cancel := context.WithTimeoutCause(hctx, r.Timeout, &TimeoutError{Timeout: r.Timeout})
	defer cancel()
	if *hp == nil {
		*hp = &helper{in: make(chan helperCall), out: make(chan outcome, 1)}
		go (*hp).loop()
	}
	x := *hp
	// A first attempt's running state is stored once it has run for
	// lazyRunning (see begin), by this goroutine while it waits.
	var lazy <-chan time.Time
	if rn.rev == 0 {
		if x.lazy == nil {
			x.lazy = time.NewTimer(lazyRunning)
		} else {
			x.lazy.Reset(lazyRunning)
		}
		lazy = x.lazy.C
		defer x.lazy.Stop()
	}
	x.in <- helperCall{tctx, h, rn, r}
	var o outcome
	for waiting := true; waiting; {
		select {
		case o = <-x.out:
			waiting = false
		case <-lazy:
			lazy = nil // once
			rn.mu.Lock()
			err := rn.storeLocked()
			rn.mu.Unlock()
			if err != nil && !errors.Is(err, ErrCancelled) {
				q.w.c.log.Warn("jobs: store the running state of a job", "id", rn.id, "err", err)
			}
		case <-tctx.Done():
			waiting = false
			select {
			case o = <-x.out:
			case <-time.After(errAbandon):
				close(x.in)
				*hp = nil
				o.err = fmt.Errorf("jobs: handler abandoned: it ignored its context for %v after: %w", errAbandon, context.Cause(tctx))
			}
		}
	}
	if x.dead.Load() {
		*hp = nil
	}
	if o.err != nil && tctx.Err() != nil && hctx.Err() == nil {
		// The attempt's own deadline.
		if cause := context.Cause(tctx); cause != nil && !errors.Is(o.err, cause) {
			o.err = fmt.Errorf("%w (handler said: %v)", cause, o.err)
		}
	}
	return o.res, o.err
}

// helper is a runner's goroutine for handlers: kept from job to job, so a
// job costs no goroutine start and its stack has grown already.
type helper struct {
	lazy *time.Timer // invoke's, for the running state of a first attempt
	in   chan helperCall
	out  chan outcome // buffered: an abandoned handler's outcome is dropped
	dead atomic.Bool  // its goroutine ended (runtime.Goexit)
}

type helperCall struct {
	ctx context.Context
	h   *handler
	rn  *running
	r   *record
}

type outcome struct {
	res json.RawMessage
	err error
}

func (x *helper) loop() {
	ended := false
	defer func() {
		if !ended {
			// The handler called runtime.Goexit: this goroutine is
			// gone, the runner starts another.
			x.dead.Store(true)
			x.out <- outcome{err: errors.New("jobs: the handler ended its goroutine (runtime.Goexit)")}
		}
	}()
	for c := range x.in {
		x.out <- c.call()
	}
	ended = true
}

func (c helperCall) call() (o outcome) {
	defer func() {
		if p := recover(); p != nil {
			o = outcome{err: fmt.Errorf("jobs: handler panicked: %v\n%s", p, debug.Stack())}
		}
	}()
	res, err := c.h.run(c.ctx, c.rn, c.r)
	return outcome{res, err}
}

// heldToken is one of a queue's GlobalConcurrency tokens: a message of the
// tokens stream that this process holds (delivered, not acknowledged) while
// it runs one job. Releasing it (Nak) hands it to the next worker at once;
// a dead worker's token comes back after AckWait.
type heldToken struct {
	m     jetstream.Msg
	mu    sync.Mutex
	timer *time.Timer
	done  bool
}

func (t *heldToken) beat() {
	if t != nil {
		_ = t.m.InProgress()
	}
}

func (t *heldToken) release() {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.done {
		t.done = true
		t.timer.Stop()
		_ = t.m.Nak()
	}
}

// acquireToken waits for a token of the queue; nil when ctx ends. The token
// is kept alive with heartbeats until released.
func (q *queue) acquireToken(ctx context.Context) *heldToken {
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, longPoll)
		b, err := q.tokens.Fetch(1, jetstream.FetchContext(pctx))
		if err != nil {
			cancel()
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond): // a broken connection: do not spin
			}
			continue
		}
		var m jetstream.Msg
		for x := range b.Messages() {
			m = x
		}
		cancel()
		if m == nil {
			continue
		}
		t := &heldToken{m: m}
		every := q.w.c.cfg.AckWait / 4
		t.mu.Lock()
		t.timer = time.AfterFunc(every, func() {
			t.mu.Lock()
			defer t.mu.Unlock()
			if !t.done {
				_ = t.m.InProgress()
				t.timer.Reset(every)
			}
		})
		t.mu.Unlock()
		return t
	}
	return nil
}

// lazyRunning is how long a first attempt runs before its running state
// is stored (see begin): a shorter one stores only its outcome.
var lazyRunning = 50 * time.Millisecond

// putBack returns a job delivered here to its queue before its handler
// ran, so that the delivery is no attempt. A job of generation 0 gets a
// record first (queued; the create fails if it has one): a delivery of a
// job without a record after its first counts as an attempt lost with its
// worker (see begin).
func (w *worker) putBack(m *nats.Msg, delay time.Duration) {
	if r, err := decodeRecord(m.Data); err == nil && r.Gen == 0 {
		q := *r
		q.State = StateQueued
		_, _ = w.c.pub.write(r.ID, q.encode(), 0)
	}
	if delay > 0 {
		_ = m.NakWithDelay(delay)
	} else {
		_ = m.Nak()
	}
}

// stateWait bounds the wait for the store's reply to a state write (and
// to statePub's reads); a request without a reply is published again
// meanwhile (see statePub).
const stateWait = 10 * time.Second
