package jobs

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"
)

// queue takes jobs from one queue. One goroutine (loop) owns its state: it
// sends pull requests to the queue's consumers, one per priority, with
// replies to one subscription, and hands the jobs to free slots, highest
// priority first.
//
// A pull request asks for as many jobs as there are free slots, without
// waiting (no_wait), on the highest priority not known to be empty. When
// every priority is empty, a waiting request for one job stays open on each
// (for longPoll, then renewed), so an idle worker gets a new job the moment
// it is stored; no request is ever repeated on a timer.
type queue struct {
	w      *worker
	name   string
	conc   int
	cons   [levels]jetstream.Consumer
	subj   [levels]string // the consumers' next-message API subjects
	jobs   string         // the subject prefix of the queue's jobs, PREFIX.work.QUEUE.
	inbox  string
	sub    *nats.Subscription
	in     chan *nats.Msg
	freed  chan struct{}
	lim    *rate.Limiter
	tokens jetstream.Consumer // GlobalConcurrency: a job runs only while its process holds a token

	running int
	held    []heldMsg
	reqs    [levels][]pullReq // open requests per priority, oldest first
	empty   [levels]time.Time // when the priority was last found empty (zero: it has jobs)
	noLead  [levels]time.Time // until when the priority's consumer is left alone: it had no leader
	lastJob [levels]time.Time // when the priority last brought a job
}

// pullReq is an open pull request. JetStream answers a consumer's requests
// in order, so a job belongs to the oldest open request of its priority; a
// status (404 no messages, 408 expired, 409) ends the oldest one. A
// priority never has waiting and no-wait requests open at once.
type pullReq struct {
	n     int
	wait  bool
	probe bool      // sent to a priority found empty: lower ones need not wait for it
	exact bool      // short, without expires: answered from the server's count
	sent  time.Time // when it was sent
	end   time.Time // when the server answers at the latest
}

// lostGrace is how long after its expiry an unanswered request counts as
// lost.
const lostGrace = time.Second

// oldestEnd is the earliest answer deadline of the open requests; zero if
// none is open.
func (q *queue) oldestEnd() time.Time {
	var end time.Time
	for l := range levels {
		if len(q.reqs[l]) > 0 && (end.IsZero() || q.reqs[l][0].end.Before(end)) {
			end = q.reqs[l][0].end
		}
	}
	return end
}

// wakeAt is when the loop must look again without news: the earliest of
// the open requests' answer deadlines (plus lostGrace) and the ends of the
// priorities' no-leader waits; zero if none.
func (q *queue) wakeAt() time.Time {
	end := q.oldestEnd()
	if !end.IsZero() {
		end = end.Add(lostGrace)
	}
	for l := range levels {
		if t := q.noLead[l]; !t.IsZero() && (end.IsZero() || t.Before(end)) {
			end = t
		}
	}
	return end
}

// want is how many jobs the open short requests may still bring.
func (q *queue) want() int {
	n := 0
	for l := range levels {
		for _, r := range q.reqs[l] {
			if !r.wait {
				n += r.n
			}
		}
	}
	return n
}

type heldMsg struct {
	m     *nats.Msg
	level int
	at    time.Time
}

const (
	longPoll   = 10 * time.Second
	emptyFresh = 20 * time.Millisecond // how long a priority found empty is skipped while others are busy
	// noLeaderWait is how long a priority whose consumer answered "no
	// responders" (503: its raft group is electing a leader, 2 to 4 s
	// after its leader's node died on herd's nodes, 4 to 9 s on
	// nats-server's) is left alone before it is asked again, so that the
	// worker does not spin on requests meanwhile.
	noLeaderWait = 100 * time.Millisecond
)

func (w *worker) newQueue(ctx context.Context, name string, qc QueueConfig) (*queue, error) {
	n := qc.Concurrency
	if n <= 0 {
		n = DefaultConcurrency
	}
	c := w.c
	q := &queue{w: w, name: name, jobs: c.cfg.Prefix + ".work." + name + ".", conc: n, freed: make(chan struct{}, n), in: make(chan *nats.Msg, 2*n+4*levels+16)}
	if qc.RateLimit > 0 {
		q.lim = rate.NewLimiter(rate.Limit(qc.RateLimit), max(qc.Burst, 1))
	}
	if err := c.ensureQueue(ctx, name); err != nil {
		return nil, err
	}
	if qc.GlobalConcurrency > 0 {
		tc, err := c.ensureTokens(ctx, name, qc.GlobalConcurrency)
		if err != nil {
			return nil, err
		}
		q.tokens = tc
	}
	for l := range levels {
		cons, err := c.consumer(ctx, name, l)
		if err != nil {
			return nil, err
		}
		q.cons[l] = cons
		q.subj[l] = "$JS.API.CONSUMER.MSG.NEXT." + c.workStream() + "." + c.consumerName(name, l)
	}
	q.inbox = c.nc.NewInbox()
	sub, err := c.nc.ChanSubscribe(q.inbox+".*", q.in)
	if err != nil {
		return nil, c.wrap("subscribe", err)
	}
	_ = sub.SetPendingLimits(-1, -1)
	q.sub = sub
	return q, nil
}

// loop runs until ctx ends; then it puts back the jobs it holds.
func (q *queue) loop(ctx context.Context) {
	defer func() {
		_ = q.sub.Unsubscribe()
		for _, h := range q.held {
			q.w.putBack(h.m, 0)
		}
		for {
			select {
			case m := <-q.in:
				if isJob(m) {
					q.w.putBack(m, 0)
				}
			default:
				return
			}
		}
	}()
	var wake *time.Timer
	for {
		for {
			select {
			case m := <-q.in:
				q.deliver(m)
				continue
			case <-q.freed:
				q.running--
				continue
			default:
			}
			break
		}
		if !q.dispatch(ctx) {
			return
		}
		q.request()
		// Wake when the oldest open request should have been answered, in
		// case its answer was lost, or when a priority without a leader
		// is to be asked again.
		var lost <-chan time.Time
		if end := q.wakeAt(); !end.IsZero() {
			if wake == nil {
				wake = time.NewTimer(time.Until(end))
			} else {
				wake.Reset(time.Until(end))
			}
			lost = wake.C
		}
		select {
		case m := <-q.in:
			q.deliver(m)
		case <-q.freed:
			q.running--
		case <-lost:
		case <-ctx.Done():
			return
		}
		if wake != nil {
			wake.Stop()
		}
	}
}

func isJob(m *nats.Msg) bool { return len(m.Data) > 0 && m.Header.Get("Status") == "" }

// deliver takes one reply to a pull request: a job or a status that ends
// the request.
func (q *queue) deliver(m *nats.Msg) {
	st := m.Header.Get("Status")
	l := -1
	if st != "" {
		// A status comes on our inbox, INBOX.L.
		l = int(m.Subject[len(m.Subject)-1] - '0')
	} else if i := strings.LastIndexByte(m.Subject, '.'); i > 0 {
		// A job keeps its subject, PREFIX.work.QUEUE.L.ID.
		l = int(m.Subject[i-1] - '0')
	}
	if l < 0 || l >= levels {
		return
	}
	switch st {
	case "":
		if !isJob(m) {
			return
		}
		if !strings.HasPrefix(m.Subject, q.jobs) {
			// Only the queue's consumers answer its inbox, so this cannot
			// happen; if it did, the job goes back to its own queue rather
			// than run with this queue's handlers and limits.
			q.w.c.log.Warn("jobs: a job of another queue came to this one; putting it back", "queue", q.name, "subject", m.Subject)
			_ = m.Nak()
			return
		}
		now := time.Now()
		q.held = append(q.held, heldMsg{m: m, level: l, at: now})
		q.empty[l], q.lastJob[l] = time.Time{}, now
		if rs := q.reqs[l]; len(rs) > 0 {
			if rs[0].n--; rs[0].n == 0 {
				q.reqs[l] = rs[1:]
			}
		}
	case "100": // heartbeat
	default:
		// 404 no messages, 408 expired, 409 ...: the oldest request is
		// over, except that "408 Requests Pending" refuses the newest.
		rs := q.reqs[l]
		if len(rs) == 0 {
			return
		}
		desc := m.Header.Get("Description")
		if st == "408" && desc == "Requests Pending" {
			// Refuses the newest request: the jobs there are promised to
			// other requests (they come to those), so skip the priority
			// for a moment rather than ask again at once.
			if !rs[0].wait {
				q.empty[l] = time.Now()
			}
			q.reqs[l] = rs[:len(rs)-1]
			return
		}
		r := rs[0]
		q.reqs[l] = rs[1:]
		switch {
		case st == "503":
			// No responders: the consumer has no leader now.
			q.noLead[l] = time.Now().Add(noLeaderWait)
		case r.wait:
		case st == "404":
			// The server counts no job on the priority.
			q.empty[l] = time.Now()
		case st == "408" && !r.exact:
			// The request expired unserved: the priority was empty, or
			// the server was too slow to serve it in probeWait (a loaded
			// machine, the race detector). Ask again without expires;
			// the server answers from its count, jobs or 404.
			q.pullExact(l, r.n, r.probe)
		}
	}
}

// dispatch starts held jobs in free slots, highest priority first. It
// reports false when ctx ended while it waited for a token or the rate.
func (q *queue) dispatch(ctx context.Context) bool {
	for q.running < q.conc && len(q.held) > 0 {
		best := 0
		for i, h := range q.held {
			if h.level > q.held[best].level {
				best = i
			}
		}
		h := q.held[best]
		q.held = append(q.held[:best], q.held[best+1:]...)
		if time.Since(h.at) > q.w.c.cfg.AckWait/2 {
			// Held so long its delivery may have expired: put it back.
			q.w.putBack(h.m, 0)
			continue
		}
		var tok *heldToken
		if q.lim != nil || q.tokens != nil {
			// The rate or a token may keep the job waiting past AckWait:
			// keep its delivery ours meanwhile, or it would be delivered
			// again and run twice.
			stop := q.w.keepAlive(h.m)
			ok := q.lim == nil || q.lim.Wait(ctx) == nil
			if ok && q.tokens != nil {
				tok = q.acquireToken(ctx)
				ok = tok != nil
			}
			stop()
			if !ok {
				q.held = append(q.held, h)
				return false
			}
		}
		q.running++
		q.w.jobs.Add(1)
		q.w.start(q, h.m, tok)
	}
	return true
}

// request opens pull requests for the free slots: a no-wait request on the
// highest priority not found empty in the last emptyFresh (requests follow
// each other without waiting for answers, up to the free slots), or, when
// every priority is empty, a waiting request for one job on each.
func (q *queue) request() {
	now := time.Now()
	for l := range levels {
		// A request the server should have answered long ago is lost.
		for len(q.reqs[l]) > 0 && now.After(q.reqs[l][0].end.Add(lostGrace)) {
			q.reqs[l] = q.reqs[l][1:]
		}
	}
	for l := range levels {
		if !q.noLead[l].IsZero() && !now.Before(q.noLead[l]) {
			q.noLead[l] = time.Time{}
		}
	}
	want := q.want()
	free := q.conc - q.running - len(q.held) - want
	if q.lim != nil || q.tokens != nil {
		free = min(free, 1-want)
	}
	if free <= 0 {
		return
	}
	for l := levels - 1; l >= 0; l-- {
		rs := q.reqs[l]
		switch {
		case !q.noLead[l].IsZero():
			continue // no leader a moment ago: ask again after noLeaderWait
		case len(rs) > 0 && rs[0].wait:
			continue // waiting there already
		case len(rs) > 0 && rs[0].probe:
			continue // a priority found empty is being asked again
		case len(rs) > 0:
			if q.lastJob[l].After(rs[0].sent) {
				q.pull(l, free, false, false) // jobs flow: ask for more now
			}
			return // else wait for its answer before asking lower priorities
		case q.empty[l].IsZero():
			q.pull(l, free, false, false)
			return
		case now.Sub(q.empty[l]) >= emptyFresh:
			q.pull(l, 1, false, true)
			free--
			if free <= 0 {
				return
			}
		}
	}
	for l := range levels {
		if len(q.reqs[l]) == 0 && q.noLead[l].IsZero() {
			q.pull(l, 1, true, false)
		}
	}
}

// probeWait is how long a short request waits when it finds no job: long
// enough for a job just stored to show (the consumer counts new messages a
// moment after they are stored).
const probeWait = 5 * time.Millisecond

// pull sends one pull request for n jobs on priority l: a short one
// (whatever waits now, or the first to come within probeWait) or a
// waiting one (longPoll).
//
// A short request that expires unserved (408) does not make the priority
// empty: a consumer slow to serve it (a loaded machine, the race detector)
// expires it too while jobs wait, and lower priorities would run first.
// It is asked again with pullExact, and only a 404 makes it empty.
func (q *queue) pull(l, n int, wait, probe bool) {
	d := probeWait
	b := []byte(`{"batch":` + strconv.Itoa(n) + `,"no_wait":true,"expires":` + strconv.FormatInt(d.Nanoseconds(), 10) + `}`)
	if wait {
		d = longPoll
		b = []byte(`{"batch":` + strconv.Itoa(n) + `,"expires":` + strconv.FormatInt(d.Nanoseconds(), 10) + `}`)
	}
	q.send(l, b, pullReq{n: n, wait: wait, probe: probe}, d)
}

// pullExact sends a short request without expires: the server answers it
// from its count of the priority's jobs, with jobs or 404, however long it
// takes to serve it.
func (q *queue) pullExact(l, n int, probe bool) {
	q.send(l, []byte(`{"batch":`+strconv.Itoa(n)+`,"no_wait":true}`), pullReq{n: n, probe: probe, exact: true}, probeWait)
}

func (q *queue) send(l int, b []byte, r pullReq, d time.Duration) {
	if err := q.w.c.nc.PublishRequest(q.subj[l], q.inbox+"."+strconv.Itoa(l), b); err != nil {
		return
	}
	r.sent = time.Now()
	r.end = r.sent.Add(d)
	q.reqs[l] = append(q.reqs[l], r)
}
