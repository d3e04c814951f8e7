package jobs

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// stored reads the job's record from the state bucket; nil if it has none.
// Like waiting, it sees every acknowledged write (see consistent.go).
func (c *Client) stored(ctx context.Context, id string) (*record, uint64, error) {
	data, rev, err := c.kvGet(ctx, c.state, c.stateBucket(), id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, c.wrap("get", err)
	}
	r, err := decodeRecord(data)
	if err != nil {
		return nil, 0, err
	}
	return r, rev, nil
}

// waitingMsg reads the job's work (or schedule) message; nil if none.
func (c *Client) waitingMsg(ctx context.Context, id string) (*record, *jetstream.RawStreamMsg, error) {
	m, err := c.lastMsg(ctx, c.work, c.workStream(), c.cfg.Prefix+".*.*.*."+id)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, c.wrap("get", err)
	}
	r, err := decodeRecord(m.Data)
	if err != nil {
		return nil, nil, err
	}
	return r, m, nil
}

// current is lookup for those who show the job's state (Get, Watch): a
// job with no record whose work message a worker has taken is running.
// A worker stores a short first attempt's running state only with its
// outcome (see queue.begin), so between the delivery and the outcome the
// delivery is the running state: the message's queue consumer has
// delivered it (its delivered stream sequence is at or past the message's,
// and the message, not yet acknowledged, is still in the stream).
func (c *Client) current(ctx context.Context, id string) (*record, error) {
	r, _, m, err := c.lookupMsg(ctx, id)
	if err != nil || m == nil {
		return r, err
	}
	return c.asTaken(ctx, r, m), nil
}

// asTaken is r, the record of the waiting message m, or r as running if
// a worker has taken m (see current).
func (c *Client) asTaken(ctx context.Context, r *record, m *jetstream.RawStreamMsg) *record {
	if (r.State == StateQueued || r.State == StateScheduled) && c.taken(ctx, m.Subject, m.Sequence) {
		run := *r
		run.State, run.Attempt = StateRunning, max(run.Attempt, 1)
		return &run
	}
	return r
}

// taken reports whether the work message seq on subj (PREFIX.work.QUEUE.
// LEVEL.ID) has been delivered to a worker. The queue's consumers deliver
// in stream order, so every message up to their delivered stream sequence
// has been delivered at least once; one still in the stream is not
// acknowledged yet.
func (c *Client) taken(ctx context.Context, subj string, seq uint64) bool {
	return seq <= c.deliveredUpTo(ctx, subj)
}

// deliveredUpTo is the delivered stream sequence of the consumer of the
// work subject subj; 0 for another subject or on any error (the job is
// then shown as it was stored).
func (c *Client) deliveredUpTo(ctx context.Context, subj string) uint64 {
	ql, ok := strings.CutPrefix(subj, c.cfg.Prefix+".work.")
	if !ok {
		return 0
	}
	q, rest, ok := strings.Cut(ql, ".")
	if !ok {
		return 0
	}
	lv, _, ok := strings.Cut(rest, ".")
	l, err := strconv.Atoi(lv)
	if !ok || err != nil {
		return 0
	}
	cons, err := c.js.Consumer(ctx, c.workStream(), c.consumerName(q, l))
	if err != nil {
		return 0
	}
	return cons.CachedInfo().Delivered.Stream
}

// lookup finds the job: its record in the state bucket, else its waiting
// message (then seq is the message's stream sequence and rev is 0).
func (c *Client) lookup(ctx context.Context, id string) (r *record, rev, seq uint64, err error) {
	r, rev, m, err := c.lookupMsg(ctx, id)
	if m != nil {
		seq = m.Sequence
	}
	return r, rev, seq, err
}

// lookupMsg is lookup with the waiting message (nil if the job has a
// record).
func (c *Client) lookupMsg(ctx context.Context, id string) (r *record, rev uint64, m *jetstream.RawStreamMsg, err error) {
	if !validID(id) {
		return nil, 0, nil, ErrNotFound
	}
	for try := 0; try < 2; try++ {
		if r, rev, err = c.stored(ctx, id); err != nil || r != nil {
			return r, rev, nil, err
		}
		if r, m, err = c.waitingMsg(ctx, id); err != nil || r != nil {
			return r, 0, m, err
		}
		// A worker may have started and finished the job between the two
		// reads: look again.
	}
	return nil, 0, nil, ErrNotFound
}

// Get returns what is known of the job, or ErrNotFound.
func (c *Client) Get(ctx context.Context, id string) (Info, error) {
	if c.isClosed() {
		return Info{}, ErrClosed
	}
	r, err := c.current(ctx, id)
	if err != nil {
		return Info{}, err
	}
	return c.info(ctx, r)
}

// info turns r into an Info, reading a large result from the object store.
func (c *Client) info(ctx context.Context, r *record) (Info, error) {
	in := r.info()
	if r.ResultRef {
		b, err := c.obj.GetBytes(ctx, r.ID)
		if err != nil {
			return in, c.wrap("read result of "+r.ID, err)
		}
		in.Result = b
	}
	return in, nil
}

// Wait returns the job's Info once it is succeeded, failed or cancelled.
// It does not poll: one watch of the state bucket per Client pushes every
// change to the waiters of that job, and the first read of the job runs on
// the Client's few lookup goroutines, so a waiting caller holds little more
// than a small stack and a channel: 10,000 Waits are cheap. A first read
// that the store does not answer in time (a cluster electing a leader) is
// made again until ctx ends; an unknown job is ErrNotFound.
func (c *Client) Wait(ctx context.Context, id string) (Info, error) {
	r, err := c.waitRecord(ctx, id)
	in, err := c.waitInfo(ctx, r, err)
	return *in, err
}

// waitInfo builds Wait's answer outside Wait's frame (which a waiting
// goroutine keeps on its stack, so it is kept to a few words).
//
//go:noinline
func (c *Client) waitInfo(ctx context.Context, r *record, err error) (*Info, error) {
	in := new(Info)
	if err != nil {
		if r != nil {
			*in = r.info()
		}
		return in, err
	}
	*in, err = c.info(ctx, r)
	return in, err
}

// waitRecord is Wait's waiting part. A waiting goroutine's stack holds
// its caller's frames and this chain: waitRecord, then one channel receive.
// Every step before it parks stays as shallow (no select, the hub's lock
// taken only briefly), so the goroutine keeps the smallest stack Go gives
// (2 KB): a stack that grows once stays grown while it waits.
//
//go:noinline
func (c *Client) waitRecord(ctx context.Context, id string) (*record, error) {
	if err := c.hub.start(); err != nil {
		return nil, err
	}
	w := &watcher{sig: make(chan struct{}, 1), final: true}
	stop := context.AfterFunc(ctx, w.wake)
	defer c.waitDone(id, w, stop)
	// A lookup goroutine reads the job and offers it to w; the watch
	// offers every later change.
	if !c.hub.enqueue(id, w) {
		return nil, ErrClosed
	}
	for {
		<-w.sig
		if r, err := w.state(); err != nil || r != nil && r.State.Final() {
			return r, err
		}
		if ctx.Err() != nil {
			r, _ := w.state()
			return r, ctx.Err()
		}
		if c.isClosed() {
			return nil, ErrClosed
		}
	}
}

// waitDone ends a Wait's watch.
func (c *Client) waitDone(id string, w *watcher, stop func() bool) {
	stop()
	c.hub.remove(id, w)
}

// Watch sends the job's Info now and after every change (state, attempt,
// progress) until it is final; then, or when ctx ends, it closes the
// channel. Changes that come faster than the receiver reads are merged:
// the receiver always gets the newest, and always the final one.
func (c *Client) Watch(ctx context.Context, id string) (<-chan Info, error) {
	w, err := c.hub.add(ctx, id)
	if err != nil {
		return nil, err
	}
	r, err := c.current(ctx, id)
	if err != nil {
		c.hub.remove(id, w)
		return nil, err
	}
	out := make(chan Info, 1)
	go func() {
		defer close(out)
		defer c.hub.remove(id, w)
		for {
			in, err := c.info(ctx, r)
			if err != nil {
				return
			}
			select {
			case out <- in:
			case <-ctx.Done():
				return
			case <-c.done:
				return
			}
			if r.State.Final() {
				return
			}
			select {
			case <-w.sig:
				if l := w.latest(); l != nil {
					r = l
				}
			case <-ctx.Done():
				return
			case <-c.done:
				return
			}
		}
	}()
	return out, nil
}

// hub runs one watch of the state bucket and hands each change to the
// waiters of that job.
type hub struct {
	c       *Client
	mu      sync.Mutex
	started bool
	running atomic.Bool // started and not closed: start's lock-free path
	closed  bool
	sub     *nats.Subscription // the watch of the state bucket
	seen    atomic.Uint64      // the last state bucket sequence the watch has handed on
	stop    context.CancelFunc
	w       map[string][]*watcher
	queue   []lookupReq   // Wait's lookups, for the lookup goroutines
	queued  chan struct{} // a token when queue has work
	wg      sync.WaitGroup
}

type watcher struct {
	mu      sync.Mutex
	last    *record
	lastRev uint64 // the state bucket revision of last; 0 for a waiting message
	err     error  // the first read failed
	sig     chan struct{}
	final   bool // keep only a final record (Wait), to stay small
}

// wake wakes w's waiter without news (its ctx ended, the Client closed).
func (w *watcher) wake() {
	select {
	case w.sig <- struct{}{}:
	default:
	}
}

func (w *watcher) latest() *record {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

func (w *watcher) state() (*record, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last, w.err
}

// offer keeps r if it is newer than what w has, and wakes w.
func (w *watcher) offer(r *record, rev uint64, err error) {
	w.mu.Lock()
	switch {
	case err != nil:
		if w.last == nil {
			w.err = err
		}
	case w.final && !r.State.Final():
		if rev > w.lastRev {
			w.lastRev = rev
		}
		w.mu.Unlock()
		return // nothing for a Wait: do not wake it
	case w.last == nil || rev > w.lastRev:
		w.last, w.lastRev = r, rev
	}
	w.mu.Unlock()
	select {
	case w.sig <- struct{}{}:
	default:
	}
}

// lookupWorkers is how many goroutines of a Client read jobs for Wait.
const lookupWorkers = 8

type lookupReq struct {
	id string
	w  *watcher
}

// enqueue registers w as a waiter of id and has a lookup goroutine read
// the job and offer it to w, without blocking; false once the hub is
// closed.
func (h *hub) enqueue(id string, w *watcher) bool {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return false
	}
	h.w[id] = append(h.w[id], w)
	h.queue = append(h.queue, lookupReq{id, w})
	h.mu.Unlock()
	select {
	case h.queued <- struct{}{}:
	default:
	}
	return true
}

func (h *hub) lookupLoop(ctx context.Context) {
	defer h.wg.Done()
	for {
		select {
		case <-h.queued:
		case <-ctx.Done():
			return
		}
		for {
			h.mu.Lock()
			if len(h.queue) == 0 {
				h.queue = nil // let a burst's array go
				h.mu.Unlock()
				break
			}
			n := min(len(h.queue), maxLookupBatch)
			batch := make([]lookupReq, n)
			copy(batch, h.queue)
			clear(h.queue[:n])
			h.queue = h.queue[n:]
			more := len(h.queue) > 0
			h.mu.Unlock()
			if more {
				// Share the queue with the other lookup goroutines.
				select {
				case h.queued <- struct{}{}:
				default:
				}
			}
			fctx, cancel := context.WithTimeout(ctx, fenceWait)
			h.c.fence(fctx, h.seen.Load())
			cancel()
			h.c.lookupMany(ctx, batch, h.again)
			if ctx.Err() != nil {
				return
			}
		}
	}
}

// lookupAgain is how long after a read that had no answer the job is read
// again for its Wait.
const lookupAgain = 250 * time.Millisecond

// again queues q's read once more after lookupAgain, if its Wait still
// waits.
func (h *hub) again(q lookupReq) {
	time.AfterFunc(lookupAgain, func() {
		h.mu.Lock()
		if h.closed || !slices.Contains(h.w[q.id], q.w) {
			h.mu.Unlock()
			return
		}
		h.queue = append(h.queue, q)
		h.mu.Unlock()
		select {
		case h.queued <- struct{}{}:
		default:
		}
	})
}

// maxLookupBatch bounds the jobs one lookupMany reads.
const maxLookupBatch = 256

// lookupMany is lookup for the Waits of batch, offering each its job: a
// batched read of their records (one request, one reply per record), then
// one of the waiting messages of those without, then lookup for any found
// by neither (a worker may have finished it between the two reads). So
// 10,000 Waits started at once cost a few dozen requests, not 20,000. A
// lookup that gets no answer in time (a stream electing its leader, a busy
// node) is handed to again, when again is not nil, instead of failing the
// Wait: the watch may bring the job's end meanwhile. A batched read that
// gets no answer in time hands the whole batch to again at once.
func (c *Client) lookupMany(ctx context.Context, batch []lookupReq, again func(lookupReq)) {
	type found struct {
		r   *record
		rev uint64
	}
	got := make(map[string]found, len(batch))
	subjects := make([]string, 0, len(batch))
	for _, q := range batch {
		if !validID(q.id) {
			q.w.offer(nil, 0, ErrNotFound)
			continue
		}
		subjects = append(subjects, c.stateSubj(q.id))
	}
	if len(subjects) == 0 {
		return
	}
	kvPrefix := c.stateSubj("")
	err := c.lastMsgs(ctx, "KV_"+c.stateBucket(), subjects, func(m *nats.Msg) {
		if m.Header.Get("KV-Operation") != "" || m.Header.Get("Nats-Marker-Reason") != "" {
			return // deleted
		}
		seq, _ := strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64)
		if r, err := decodeRecord(m.Data); err == nil && seq != 0 && kvPrefix+r.ID == m.Header.Get("Nats-Subject") {
			got[r.ID] = found{r, seq}
		}
	})
	if err == nil {
		subjects = subjects[:0]
		for _, q := range batch {
			if _, ok := got[q.id]; !ok && validID(q.id) {
				subjects = append(subjects, c.cfg.Prefix+".*.*.*."+q.id)
			}
		}
		if len(subjects) > 0 {
			err = c.lastMsgs(ctx, c.workStream(), subjects, func(m *nats.Msg) {
				if r, err := decodeRecord(m.Data); err == nil && strings.HasSuffix(m.Header.Get("Nats-Subject"), "."+r.ID) {
					if _, ok := got[r.ID]; !ok {
						got[r.ID] = found{r, 0}
					}
				}
			})
		}
	}
	if err != nil && again != nil && transient(err) && ctx.Err() == nil {
		// The store gave no answer in time (a stream electing its leader,
		// a busy node). Reading each job alone now would ask the same
		// store once per job, each read with its own bound (leaderWait),
		// one after the other: a Wait on a job that had long ended waited
		// two bounds (10 s) before its first retry, and the last of a
		// batch of 256 waited 256. Read them all again soon instead.
		for _, q := range batch {
			if f, ok := got[q.id]; ok {
				q.w.offer(f.r, f.rev, nil)
			} else if validID(q.id) {
				again(q)
			}
		}
		return
	}
	if err != nil {
		clear(got) // look each up alone
	}
	for _, q := range batch {
		if !validID(q.id) {
			continue
		}
		f, ok := got[q.id]
		if !ok {
			r, rev, _, err := c.lookup(ctx, q.id)
			if err != nil && again != nil && transient(err) && ctx.Err() == nil {
				again(q)
				continue
			}
			q.w.offer(r, rev, err)
			continue
		}
		q.w.offer(f.r, f.rev, nil)
	}
}

func (h *hub) init(c *Client) {
	h.c, h.w, h.queued = c, map[string][]*watcher{}, make(chan struct{}, 1)
}

func (h *hub) add(ctx context.Context, id string) (*watcher, error) {
	if err := h.start(); err != nil {
		return nil, err
	}
	w := &watcher{sig: make(chan struct{}, 1)}
	h.mu.Lock()
	h.w[id] = append(h.w[id], w)
	h.mu.Unlock()
	return w, nil
}

// start starts the watch and the lookup goroutines, once.
func (h *hub) start() error {
	if h.running.Load() {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || h.c.isClosed() {
		return ErrClosed
	}
	if h.started {
		return nil
	}
	wctx, stop := context.WithCancel(context.Background())
	sub, err := h.watch()
	if err != nil {
		stop()
		return h.c.wrap("watch", err)
	}
	h.sub, h.stop, h.started = sub, stop, true
	h.running.Store(true)
	h.wg.Add(lookupWorkers)
	for range lookupWorkers {
		go h.lookupLoop(wctx)
	}
	return nil
}

func (h *hub) remove(id string, w *watcher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ws := h.w[id]
	for i, x := range ws {
		if x == w {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(h.w, id)
	} else {
		h.w[id] = ws
	}
}

// watchHeartbeat is how often the server says that the state watch's
// consumer is alive while no record changes. The consumer is an R1
// ephemeral on one node of the cluster; when that node dies, the client
// notices two heartbeats missed (2 to 4 heartbeats after the death) and
// makes the consumer again on a live node, from the revision after the
// last it saw. jetstream's KeyValue watch uses 5 s, so Waits heard nothing
// for 10 to 20 s after the death of a node that the client is not even
// connected to.
const watchHeartbeat = time.Second

// watch subscribes to every change of the state bucket after now, with an
// ordered consumer (the changes in order, none missed) on h.update.
func (h *hub) watch() (*nats.Subscription, error) {
	js, err := h.c.nc.JetStream()
	if err != nil {
		return nil, err
	}
	pre := h.c.stateSubj("")
	return js.Subscribe(pre+">", func(m *nats.Msg) {
		md, err := m.Metadata()
		if err != nil {
			return
		}
		// Before the waiters are looked at: a Wait that registers after
		// this change was handed on reads at least this far (see fence).
		h.seen.Store(md.Sequence.Stream)
		if m.Header.Get(kvOpHdr) != "" {
			return // a delete or purge
		}
		h.update(m.Subject[len(pre):], m.Data, md.Sequence.Stream)
	}, nats.BindStream("KV_"+h.c.stateBucket()), nats.OrderedConsumer(), nats.DeliverNew(), nats.IdleHeartbeat(watchHeartbeat))
}

// kvOpHdr marks a KeyValue delete or purge.
const kvOpHdr = "KV-Operation"

// update hands a stored record of job id, at revision rev, to its waiters.
func (h *hub) update(id string, data []byte, rev uint64) {
	h.mu.Lock()
	ws := h.w[id]
	if len(ws) == 0 {
		h.mu.Unlock()
		return
	}
	ws = append([]*watcher(nil), ws...)
	h.mu.Unlock()
	r, err := decodeRecord(data)
	if err != nil {
		h.c.log.Warn("jobs: undecodable job record", "key", id, "err", err)
		return
	}
	for _, w := range ws {
		w.offer(r, rev, nil)
	}
}

// wakeAll wakes every waiter, so that the Waits of a closed Client return.
func (h *hub) wakeAll() {
	h.mu.Lock()
	var ws []*watcher
	for _, l := range h.w {
		ws = append(ws, l...)
	}
	h.mu.Unlock()
	for _, w := range ws {
		w.wake()
	}
}

func (h *hub) close() {
	h.mu.Lock()
	h.closed = true
	h.running.Store(false)
	sub, stop := h.sub, h.stop
	h.queue = nil
	h.mu.Unlock()
	h.wakeAll()
	if sub != nil {
		_ = sub.Unsubscribe()
		stop()
	}
	h.wg.Wait()
}

// scan reads every job: the work stream's waiting messages, then the
// records of the state bucket, which win over a message of the same job.
// In that order a job that moves from one to the other during the scan
// is still seen: a worker stores a job's outcome before it acknowledges
// (removes) its message, so a message gone by the first read has its
// record by the second. (Records first, a job finishing between the two
// reads was in neither, and vanished from a listing.)
func (c *Client) scan(ctx context.Context) ([]*record, error) {
	if c.isClosed() {
		return nil, ErrClosed
	}
	byID := map[string]*record{}
	// A waiting message that a worker has taken is a running job (see
	// current); one consumer's delivered sequence answers for its queue
	// and priority.
	delivered := map[string]uint64{}
	err := c.eachWaiting(ctx, func(m *nats.Msg) {
		r, err := decodeRecord(m.Data)
		if err != nil {
			return
		}
		byID[r.ID] = r
		subj := m.Header.Get("Nats-Subject")
		seq, _ := strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64)
		if r.State != StateQueued || seq == 0 {
			return
		}
		cons := subj[:max(strings.LastIndexByte(subj, '.'), 0)]
		upTo, known := delivered[cons]
		if !known {
			upTo = c.deliveredUpTo(ctx, subj)
			delivered[cons] = upTo
		}
		if seq <= upTo {
			run := *r
			run.State, run.Attempt = StateRunning, max(run.Attempt, 1)
			byID[r.ID] = &run
		}
	})
	if err != nil {
		return nil, err
	}
	kw, err := c.state.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, c.wrap("list", err)
	}
	for e := range kw.Updates() {
		if e == nil {
			break
		}
		if r, err := decodeRecord(e.Value()); err == nil {
			byID[r.ID] = r
		}
	}
	_ = kw.Stop()
	out := make([]*record, 0, len(byID))
	for _, r := range byID {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// List returns the jobs that match f, in ID (submission) order, or the
// newest first with f.Newest, a page at a time. It reads every job's
// record, so it costs time in proportion to the number of jobs stored.
func (c *Client) List(ctx context.Context, f Filter) (Page, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	recs, err := c.scan(ctx)
	if err != nil {
		return Page{}, err
	}
	if f.Newest {
		slices.Reverse(recs)
	}
	var p Page
	for _, r := range recs {
		if f.Cursor != "" && (!f.Newest && r.ID <= f.Cursor || f.Newest && r.ID >= f.Cursor) {
			continue
		}
		if f.State != "" && r.State != f.State || f.Queue != "" && r.Queue != f.Queue || f.Kind != "" && r.Kind != f.Kind {
			continue
		}
		if len(p.Jobs) == f.Limit {
			p.Next = p.Jobs[len(p.Jobs)-1].ID
			break
		}
		p.Jobs = append(p.Jobs, r.info())
	}
	return p, nil
}

// Stats describes every queue that has jobs, in name order. Like List it
// reads every job; the rates count the jobs created and finished in the
// last minute.
func (c *Client) Stats(ctx context.Context) ([]QueueStats, error) {
	recs, err := c.scan(ctx)
	if err != nil {
		return nil, err
	}
	byQ := map[string]*QueueStats{}
	since := time.Now().Add(-time.Minute)
	for _, r := range recs {
		s := byQ[r.Queue]
		if s == nil {
			s = &QueueStats{Queue: r.Queue}
			byQ[r.Queue] = s
		}
		switch r.State {
		case StateQueued:
			s.Depth++
		case StateScheduled:
			s.Scheduled++
		case StateRunning, StateRetrying:
			s.Running++
		case StateSucceeded:
			s.Succeeded++
		case StateFailed:
			s.Failed++
		case StateCancelled:
			s.Cancelled++
		}
		s.Retried += uint64(r.Retried)
		if r.Created.time().After(since) {
			s.SubmitRate++
		}
		if r.State.Final() && r.Finished.time().After(since) {
			s.CompleteRate++
		}
	}
	out := make([]QueueStats, 0, len(byQ))
	for _, s := range byQ {
		s.SubmitRate /= 60
		s.CompleteRate /= 60
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Queue < out[j].Queue })
	return out, nil
}

// eachWaiting calls fn with every message of the work stream, in order,
// read with batched direct gets (a work-queue stream allows no second
// consumer).
func (c *Client) eachWaiting(ctx context.Context, fn func(m *nats.Msg)) error {
	return c.eachMsg(ctx, c.workStream(), c.cfg.Prefix+".>", func(m *nats.Msg) error {
		fn(m)
		return nil
	})
}
