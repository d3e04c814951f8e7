package jobs

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// statePub writes a worker's records to the state bucket: a publish with
// compare-and-swap on the key's last revision, whose reply (the store's
// PubAck) comes to one subscription of the Client. A write costs a message
// out and a message in, a map entry, and a PubAck read by a small parser;
// the writer either waits for the reply (wait) or hands a function that
// runs with it (the outcome's acknowledgement), so no goroutine waits for
// an outcome.
//
// A reply that does not come within stateWait fails the write. Until
// then a request without a reply is published again, resendWait after the
// first copy and then at growing gaps up to resendMax, and one answered
// with a "no responders" status (a stream without a leader for a moment)
// pubRetryWait after that answer, and every one when the state stream
// announces a new leader (its advisory): a stream leader that dies with a
// write unanswered costs the election, not stateWait. Close fails what is
// left with ErrClosed.
//
// A resent write is idempotent without a message ID (the store would keep
// every write's ID for its two-minute duplicate window, and a single
// server checks the expected revision before the ID, refusing the copy
// anyway). Its compare-and-swap decides: if an earlier copy landed, the
// key's revision has moved and the copy is refused with "wrong last
// sequence", and the write reads the key back from the stream's leader;
// the write succeeded, with that revision, if the key holds exactly its
// bytes (a record carries its times and its worker, so equal bytes are
// this write), and lost the race to another writer if not. A copy refused
// because a write on the key is still being stored (a replicated stream's
// "wrong last sequence" without a number) waits for the next reply or
// copy. The store's leader applies every committed write before it
// answers as leader, so neither the refusal nor the read misses a copy
// that landed.
type statePub struct {
	c       *Client
	mu      sync.Mutex
	started bool
	closed  bool
	inbox   string // the replies' subject prefix, "<inbox>."
	sub     *nats.Subscription
	lead    *nats.Subscription // the state stream's leader elections
	first   time.Duration      // the first copy's wait for a reply; 0: resendWait
	n       uint64
	wait    map[uint64]*pendingPub
	stop    chan struct{}
	wg      sync.WaitGroup

	// has's batches: one request in flight; the callers that come
	// meanwhile go in the next.
	hmu   sync.Mutex
	hbusy bool
	hq    []hasCall
}

type hasCall struct {
	id string
	ch chan hasResult
}

type hasResult struct {
	has bool
	err error
}

// pendingPub is one write waiting for its reply.
type pendingPub struct {
	msg   *nats.Msg
	until time.Time // when it fails with errNoReply
	next  time.Time // when it is published again if no reply came
	gap   time.Duration
	sent  int                         // copies published
	cas   bool                        // a compare-and-swap write of a record (publish)
	got   bool                        // multi: a reply came, so it is not published again
	ch    chan pubResult              // the reply goes here, or
	fn    func(seq uint64, err error) // to fn (on the replies' goroutine), or
	raw   func(m *nats.Msg)           // as it is to raw (nil: no reply), or nowhere
	multi bool                        // raw gets every message up to one with a status
}

type pubResult struct {
	seq uint64
	err error
}

const (
	expectSeqHdr = "Nats-Expected-Last-Subject-Sequence"
	pubRetryWait = 250 * time.Millisecond // after a "no responders" status
	resendWait   = time.Second            // the first copy's wait for a reply
	resendMax    = 2 * time.Second        // the longest gap between copies
	sweepEvery   = 250 * time.Millisecond // the sweeper's tick
)

func (p *pendingPub) finish(seq uint64, err error) {
	switch {
	case p.raw != nil:
		p.raw(nil)
	case p.ch != nil:
		p.ch <- pubResult{seq, err}
	case p.fn != nil:
		p.fn(seq, err)
	}
}

// startLocked subscribes to the replies and starts the sweeper; s.mu is
// held.
func (s *statePub) startLocked() error {
	s.inbox = s.c.nc.NewInbox() + "."
	sub, err := s.c.nc.Subscribe(s.inbox+"*", s.onReply)
	if err != nil {
		return err
	}
	_ = sub.SetPendingLimits(-1, -1)
	lead, err := s.c.nc.Subscribe("$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.KV_"+s.c.stateBucket(), s.onLeader)
	if err != nil {
		_ = sub.Unsubscribe()
		return err
	}
	s.sub, s.lead, s.wait, s.stop, s.started = sub, lead, map[uint64]*pendingPub{}, make(chan struct{}), true
	s.wg.Add(1)
	go s.sweep()
	return nil
}

// publish stores data as the record of job id if the key's last revision
// is rev (0: the job has no record), and reports the store's reply
// through p.
func (s *statePub) publish(id string, data []byte, rev uint64, p *pendingPub) error {
	m := &nats.Msg{Subject: s.c.stateSubj(id), Data: data, Header: nats.Header{expectSeqHdr: []string{strconv.FormatUint(rev, 10)}}}
	p.cas = true
	return s.send(m, p)
}

// send publishes m with a reply subject of the replies' subscription and
// hands the reply to p, within stateWait (or by p.until, if set).
func (s *statePub) send(m *nats.Msg, p *pendingPub) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if !s.started {
		if err := s.startLocked(); err != nil {
			s.mu.Unlock()
			return err
		}
	}
	s.n++
	n := s.n
	m.Reply = s.inbox + strconv.FormatUint(n, 36)
	now := time.Now()
	if p.until.IsZero() {
		p.until = now.Add(stateWait)
	}
	gap := cmp.Or(s.first, resendWait)
	p.msg, p.sent, p.gap, p.next = m, 1, gap, now.Add(gap)
	s.wait[n] = p
	s.mu.Unlock()
	if err := s.c.nc.PublishMsg(m); err != nil {
		s.mu.Lock()
		delete(s.wait, n)
		s.mu.Unlock()
		return err
	}
	return nil
}

// write publishes and waits for the reply.
func (s *statePub) write(id string, data []byte, rev uint64) (uint64, error) {
	p := &pendingPub{ch: make(chan pubResult, 1)}
	if err := s.publish(id, data, rev, p); err != nil {
		return 0, err
	}
	r := <-p.ch // the sweeper or close answers at the latest
	return r.seq, r.err
}

func (s *statePub) onReply(m *nats.Msg) {
	n, err := strconv.ParseUint(m.Subject[min(len(s.inbox), len(m.Subject)):], 36, 64)
	if err != nil {
		return
	}
	s.mu.Lock()
	p := s.wait[n]
	if p == nil {
		s.mu.Unlock()
		return
	}
	if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
		// No stream answered (a leader election): publish again soon
		// (the sweeper does, or fails it at p.until).
		p.next = time.Now().Add(pubRetryWait)
		s.mu.Unlock()
		return
	}
	if p.multi && m.Header.Get("Status") == "" {
		p.got = true
		s.mu.Unlock()
		p.raw(m) // one of several
		return
	}
	var seq uint64
	if p.cas && len(m.Data) > 0 {
		seq, err = parsePubAck(m.Data)
		if p.sent > 1 && errInProcess(err) {
			// An earlier copy (or another writer's write) is being
			// stored: its reply, or the next copy's, decides.
			s.mu.Unlock()
			return
		}
		if p.sent > 1 && errWrongRev(err) {
			// An earlier copy may have landed: read the key back.
			delete(s.wait, n)
			s.mu.Unlock()
			s.readBack(p, err)
			return
		}
	}
	delete(s.wait, n)
	s.mu.Unlock()
	if p.raw != nil {
		p.raw(m)
		return
	}
	if len(m.Data) == 0 {
		err = fmt.Errorf("jobs: the store answered a write with status %s %s", m.Header.Get("Status"), m.Header.Get("Description"))
	} else if !p.cas {
		seq, err = parsePubAck(m.Data)
	}
	p.finish(seq, err)
}

// onLeader publishes again every request waiting for a reply when the
// state stream has a new leader: the old one may have taken them with it,
// and the new one answers now rather than at the next resend.
func (s *statePub) onLeader(*nats.Msg) {
	var again []*nats.Msg
	s.mu.Lock()
	for _, p := range s.wait {
		if !p.got {
			p.sent++
			again = append(again, p.msg)
		}
	}
	s.mu.Unlock()
	for _, m := range again {
		_ = s.c.nc.PublishMsg(m)
	}
}

// errInProcess reports whether a write was refused because another write
// on its key is still being stored (a replicated stream answers "wrong
// last sequence" without a number then).
func errInProcess(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}

// readBack settles p, a write sent more than once whose copy was refused
// because the key's revision moved (cas, the refusal): with the key's
// revision if the key holds p's bytes (an earlier copy landed and its
// reply was lost), or with cas. It asks the stream's leader, which has
// applied every write it acknowledged, and it ends by p.until.
func (s *statePub) readBack(p *pendingPub, cas error) {
	if p.ch == nil && p.fn == nil {
		return // nobody waits for the outcome
	}
	stream := "KV_" + s.c.stateBucket()
	req := append(append([]byte(`{"last_by_subj":"`), p.msg.Subject...), `"}`...)
	q := &pendingPub{until: p.until, raw: func(m *nats.Msg) {
		if m == nil {
			err := errNoReply
			s.mu.Lock()
			if s.closed {
				err = ErrClosed
			}
			s.mu.Unlock()
			p.finish(0, err)
			return
		}
		if len(m.Data) == 0 {
			p.finish(0, fmt.Errorf("jobs: the store answered a read with status %s %s", m.Header.Get("Status"), m.Header.Get("Description")))
			return
		}
		got, err := parseMsgGet(stream, m.Data)
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			p.finish(0, cas)
		case err != nil:
			p.finish(0, err)
		case bytes.Equal(got.Data, p.msg.Data):
			p.finish(got.Sequence, nil)
		default:
			p.finish(0, cas)
		}
	}}
	if err := s.send(&nats.Msg{Subject: "$JS.API.STREAM.MSG.GET." + stream, Data: req}, q); err != nil {
		p.finish(0, err)
	}
}

var errNoReply = fmt.Errorf("jobs: no reply from the store within %v", stateWait)

// has reports whether job id has a record in the state bucket. The
// callers of a moment share one request (a direct get of the last message
// of each key, multi_last): one request and, when none has a record, one
// reply for them all. On a replicated store each asks the bucket's leader
// (hasOne), which sees every acknowledged write.
func (s *statePub) has(id string) (bool, error) {
	if s.c.leaderReads() {
		return s.hasOne(id)
	}
	ch := make(chan hasResult, 1)
	s.hmu.Lock()
	s.hq = append(s.hq, hasCall{id, ch})
	var batch []hasCall
	if !s.hbusy {
		s.hbusy, batch, s.hq = true, s.hq, nil
	}
	s.hmu.Unlock()
	if batch != nil {
		s.hasBatch(batch)
	}
	r := <-ch
	return r.has, r.err
}

// maxHasBatch bounds one multi_last request (the server answers at most
// 1024 subjects).
const maxHasBatch = 256

// hasBatch sends batch's request; its last reply answers every caller and
// sends the next batch, if callers came meanwhile.
func (s *statePub) hasBatch(batch []hasCall) {
	if len(batch) > maxHasBatch {
		s.hmu.Lock()
		s.hq = append(batch[maxHasBatch:len(batch):len(batch)], s.hq...)
		s.hmu.Unlock()
		batch = batch[:maxHasBatch]
	}
	prefix := "$KV." + s.c.stateBucket() + "."
	req := append(make([]byte, 0, 16+len(batch)*(len(prefix)+30)), `{"multi_last":[`...)
	for i, h := range batch {
		if i > 0 {
			req = append(req, ',')
		}
		req = append(append(append(req, '"'), prefix+h.id...), '"')
	}
	req = append(req, "]}"...)
	var found map[string]bool
	done := func(err error) {
		for _, h := range batch {
			h.ch <- hasResult{found[h.id], err}
		}
		s.hmu.Lock()
		next := s.hq
		s.hq = nil
		if len(next) == 0 {
			s.hbusy = false
		}
		s.hmu.Unlock()
		if len(next) > 0 {
			s.hasBatch(next)
		}
	}
	p := &pendingPub{multi: true, raw: func(m *nats.Msg) {
		if m == nil {
			done(errNoReply)
			return
		}
		switch st := m.Header.Get("Status"); {
		case st == "":
			if found == nil {
				found = map[string]bool{}
			}
			found[strings.TrimPrefix(m.Header.Get("Nats-Subject"), prefix)] = true
		case st == "204" || st == "404":
			done(nil)
		default:
			done(fmt.Errorf("jobs: the store answered a read with status %s %s", st, m.Header.Get("Description")))
		}
	}}
	if err := s.send(&nats.Msg{Subject: "$JS.API.DIRECT.GET.KV_" + s.c.stateBucket(), Data: req}, p); err != nil {
		done(err)
	}
}

// hasOne is has with a request of its own.
func (s *statePub) hasOne(id string) (bool, error) {
	ch := make(chan *nats.Msg, 1)
	p := &pendingPub{raw: func(m *nats.Msg) { ch <- m }}
	bucket := "KV_" + s.c.stateBucket()
	m := &nats.Msg{Subject: "$JS.API.DIRECT.GET." + bucket + "." + s.c.stateSubj(id)}
	leader := s.c.leaderReads()
	if leader {
		m = &nats.Msg{Subject: "$JS.API.STREAM.MSG.GET." + bucket, Data: []byte(`{"last_by_subj":"` + s.c.stateSubj(id) + `"}`)}
	}
	if err := s.send(m, p); err != nil {
		return false, err
	}
	r := <-ch // the sweeper or close answers at the latest
	if r == nil {
		return false, errNoReply
	}
	return parseGetReply(r, leader)
}

// parseGetReply reads the reply to has's request: found, not found, or
// an error.
func parseGetReply(m *nats.Msg, leader bool) (bool, error) {
	if !leader {
		switch st := m.Header.Get("Status"); st {
		case "":
			return true, nil
		case "404":
			return false, nil
		default:
			return false, fmt.Errorf("jobs: the store answered a read with status %s %s", st, m.Header.Get("Description"))
		}
	}
	var resp struct {
		Error   *jetstream.APIError `json:"error"`
		Message json.RawMessage     `json:"message"`
	}
	if err := json.Unmarshal(m.Data, &resp); err != nil {
		return false, fmt.Errorf("jobs: the store's reply to a read: %w", err)
	}
	switch {
	case resp.Error != nil && resp.Error.Code == 404:
		return false, nil
	case resp.Error != nil:
		return false, resp.Error
	case resp.Message == nil:
		return false, errors.New("jobs: the store's reply to a read has no message")
	}
	return true, nil
}

// sweep publishes again the requests whose reply is late and fails those
// whose reply is overdue, until close.
func (s *statePub) sweep() {
	defer s.wg.Done()
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	var late []*pendingPub
	var again []*nats.Msg
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.mu.Lock()
			for n, p := range s.wait {
				switch {
				case now.After(p.until):
					delete(s.wait, n)
					late = append(late, p)
				case !p.got && !now.Before(p.next):
					p.sent++
					p.next = now.Add(p.gap)
					p.gap = min(2*p.gap, resendMax)
					again = append(again, p.msg)
				}
			}
			s.mu.Unlock()
			for _, m := range again {
				_ = s.c.nc.PublishMsg(m)
			}
			for _, p := range late {
				p.finish(0, errNoReply)
			}
			clear(late)
			late = late[:0]
			clear(again)
			again = again[:0]
		}
	}
}

// close fails the writes still waiting with ErrClosed and stops.
func (s *statePub) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	left := s.wait
	s.wait = nil
	started := s.started
	s.mu.Unlock()
	if !started {
		return
	}
	_ = s.sub.Unsubscribe()
	_ = s.lead.Unsubscribe()
	close(s.stop)
	s.wg.Wait()
	for _, p := range left {
		p.finish(0, ErrClosed)
	}
}

var errBadPubAck = errors.New("jobs: the store's reply to a write is not a PubAck")

// parsePubAck reads the store's reply to a publish: the stored message's
// sequence, or the store's error (a *jetstream.APIError, which errWrongRev
// recognizes). The usual reply, {"stream":"NAME","seq":N}, is read by hand;
// any other goes to encoding/json.
func parsePubAck(b []byte) (uint64, error) {
	if seq, ok := parsePubAckFast(b); ok {
		return seq, nil
	}
	var pa struct {
		Error  *jetstream.APIError `json:"error"`
		Stream string              `json:"stream"`
		Seq    uint64              `json:"seq"`
	}
	if err := json.Unmarshal(b, &pa); err != nil {
		return 0, fmt.Errorf("%w: %v", errBadPubAck, err)
	}
	if pa.Error != nil {
		return 0, pa.Error
	}
	if pa.Stream == "" {
		return 0, errBadPubAck
	}
	return pa.Seq, nil
}

// parsePubAckFast reads exactly {"stream":"NAME","seq":N} with NAME of
// letters, digits, '-' and '_'.
func parsePubAckFast(b []byte) (uint64, bool) {
	const head, mid = `{"stream":"`, `","seq":`
	if len(b) < len(head) || string(b[:len(head)]) != head {
		return 0, false
	}
	i := len(head)
	for i < len(b) && (b[i] >= 'a' && b[i] <= 'z' || b[i] >= 'A' && b[i] <= 'Z' || b[i] >= '0' && b[i] <= '9' || b[i] == '-' || b[i] == '_') {
		i++
	}
	if i == len(head) || len(b)-i < len(mid) || string(b[i:i+len(mid)]) != mid {
		return 0, false
	}
	i += len(mid)
	if i+1 >= len(b) || b[len(b)-1] != '}' || len(b)-1-i > 19 {
		return 0, false
	}
	var seq uint64
	for _, ch := range b[i : len(b)-1] {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		seq = seq*10 + uint64(ch-'0')
	}
	if b[i] == '0' && len(b)-1-i > 1 {
		return 0, false // a leading zero is not JSON
	}
	return seq, true
}
