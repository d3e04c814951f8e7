package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Reads that must see every acknowledged write.
//
// Every stream and bucket here allows direct gets (AllowDirect), and on a
// replicated store every replica answers them, a follower too (a client
// on a follower's node is answered by that follower). A follower applies a
// write once it learns from the leader that the write is committed, which
// is after the leader has applied and acknowledged it, so a direct get
// there may miss the newest writes. A Wait whose first read missed the
// job's end (the client's watch had already passed it on) never returned;
// a Get right after a Submit said ErrNotFound; an Export missed the newest
// records. So on a replicated store these reads ask the stream's leader
// ($JS.API.STREAM.MSG.GET), which has applied every write it acknowledged;
// a single server answers direct gets as before.

// leaderReads reports whether reads must go to the streams' leaders: the
// store is replicated. Open makes the work stream and the buckets with the
// same Config.Replicas, so the work stream stands for all of them.
func (c *Client) leaderReads() bool {
	si := c.work.CachedInfo()
	return si != nil && si.Config.Replicas > 1
}

// leaderWait bounds a read from a leader when ctx has no deadline, as
// jetstream bounds its own requests.
const leaderWait = 5 * time.Second

// msgGetRequest is a request of $JS.API.STREAM.MSG.GET: the last message
// on LastFor, or the first at or after Seq on NextFor.
type msgGetRequest struct {
	Seq     uint64 `json:"seq,omitempty"`
	LastFor string `json:"last_by_subj,omitempty"`
	NextFor string `json:"next_by_subj,omitempty"`
}

// leaderGet reads one message of stream from the stream's leader. A
// missing message is jetstream.ErrMsgNotFound. The message's headers
// include Nats-Subject, Nats-Sequence and Nats-Time-Stamp, as a direct
// get's do.
func (c *Client) leaderGet(ctx context.Context, stream string, req msgGetRequest) (*jetstream.RawStreamMsg, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, leaderWait)
		defer cancel()
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	m, err := c.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+stream, body)
	if err != nil {
		return nil, err
	}
	return parseMsgGet(stream, m.Data)
}

// parseMsgGet reads a reply of $JS.API.STREAM.MSG.GET.
func parseMsgGet(stream string, data []byte) (*jetstream.RawStreamMsg, error) {
	var resp struct {
		Message *struct {
			Subject  string    `json:"subject"`
			Sequence uint64    `json:"seq"`
			Header   []byte    `json:"hdrs,omitempty"`
			Data     []byte    `json:"data,omitempty"`
			Time     time.Time `json:"time"`
		} `json:"message"`
		Error *jetstream.APIError `json:"error"`
	}
	if err := json.Unmarshal(data, &resp); err != nil {
		return nil, fmt.Errorf("jobs: read %s: bad reply: %w", stream, err)
	}
	if resp.Error != nil {
		if resp.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound {
			return nil, jetstream.ErrMsgNotFound
		}
		return nil, resp.Error
	}
	if resp.Message == nil {
		return nil, fmt.Errorf("jobs: read %s: a reply without a message", stream)
	}
	msg := resp.Message
	hdr := nats.Header{}
	if len(msg.Header) > 0 {
		var err error
		if hdr, err = nats.DecodeHeadersMsg(msg.Header); err != nil {
			return nil, fmt.Errorf("jobs: read %s: bad headers: %w", stream, err)
		}
	}
	return &jetstream.RawStreamMsg{Subject: msg.Subject, Sequence: msg.Sequence, Header: hdr, Data: msg.Data, Time: msg.Time}, nil
}

// directMsg makes m a message as a direct get answers it: with the
// headers Nats-Subject, Nats-Sequence and Nats-Time-Stamp.
func directMsg(m *jetstream.RawStreamMsg) *nats.Msg {
	nm := &nats.Msg{Subject: m.Subject, Header: m.Header, Data: m.Data}
	if nm.Header == nil {
		nm.Header = nats.Header{}
	}
	nm.Header.Set("Nats-Subject", m.Subject)
	nm.Header.Set("Nats-Sequence", strconv.FormatUint(m.Sequence, 10))
	nm.Header.Set("Nats-Time-Stamp", m.Time.UTC().Format(time.RFC3339Nano))
	return nm
}

// lastMsg reads the last message on subj of stream s: from its leader on
// a replicated store, else with a direct get.
func (c *Client) lastMsg(ctx context.Context, s jetstream.Stream, name, subj string) (*jetstream.RawStreamMsg, error) {
	if c.leaderReads() {
		return c.leaderGet(ctx, name, msgGetRequest{LastFor: subj})
	}
	return s.GetLastMsgForSubject(ctx, subj)
}

// kvGet reads key of the bucket kv (named bucket) as kv.Get does (a
// missing or deleted key is jetstream.ErrKeyNotFound): from the bucket's
// leader on a replicated store.
func (c *Client) kvGet(ctx context.Context, kv jetstream.KeyValue, bucket, key string) (data []byte, rev uint64, err error) {
	if !c.leaderReads() {
		e, err := kv.Get(ctx, key)
		if err != nil {
			return nil, 0, err
		}
		return e.Value(), e.Revision(), nil
	}
	m, err := c.leaderGet(ctx, "KV_"+bucket, msgGetRequest{LastFor: "$KV." + bucket + "." + key})
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, 0, jetstream.ErrKeyNotFound
	}
	if err != nil {
		return nil, 0, err
	}
	if m.Header.Get("KV-Operation") != "" || m.Header.Get("Nats-Marker-Reason") != "" {
		return nil, 0, jetstream.ErrKeyNotFound
	}
	return m.Data, m.Sequence, nil
}

// eachMsgLeader is eachMsg on a replicated store: it reads the messages
// from the stream's leader, one request each (the leader's API has no
// batches), with the headers a direct get gives.
func (c *Client) eachMsgLeader(ctx context.Context, stream, subj string, fn func(m *nats.Msg) error) error {
	for seq := uint64(1); ; {
		m, err := c.leaderGet(ctx, stream, msgGetRequest{Seq: seq, NextFor: subj})
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return c.wrap("read "+stream, err)
		}
		if err := fn(directMsg(m)); err != nil {
			return err
		}
		seq = m.Sequence + 1
	}
}

// lastMsgsLeader is lastMsgs on a replicated store: one request to the
// stream's leader per subject (the leader's API has no multi_last), all
// sent at once on one inbox.
func (c *Client) lastMsgsLeader(ctx context.Context, stream string, subjects []string, fn func(m *nats.Msg)) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, leaderWait)
		defer cancel()
	}
	in, err := c.openInbox(stream)
	if err != nil {
		return err
	}
	defer in.close()
	_ = in.sub.SetPendingLimits(-1, -1)
	for _, subj := range subjects {
		if err := in.ask("STREAM.MSG.GET", msgGetRequest{LastFor: subj}); err != nil {
			return err
		}
	}
	for range subjects {
		r, err := in.next(ctx)
		if err != nil {
			return err
		}
		m, err := parseMsgGet(stream, r.Data)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		fn(directMsg(m))
	}
	return nil
}

// apiInbox reads, on one inbox, the answers to requests sent to a
// stream's JetStream API: a batch of requests goes out at once and the
// answers are read in order, with no consumer. eachMsg, lastMsgs and
// lastMsgsLeader read through it.
type apiInbox struct {
	c      *Client
	stream string
	inbox  string
	sub    *nats.Subscription
}

// openInbox subscribes to a new inbox for answers about stream; close
// unsubscribes it.
func (c *Client) openInbox(stream string) (*apiInbox, error) {
	inbox := c.nc.NewInbox()
	sub, err := c.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, c.wrap("read "+stream, err)
	}
	return &apiInbox{c: c, stream: stream, inbox: inbox, sub: sub}, nil
}

// ask sends req, as JSON, to the stream's API api (such as "DIRECT.GET"
// or "STREAM.MSG.GET"), to be answered on the inbox.
func (in *apiInbox) ask(api string, req any) error {
	body, err := json.Marshal(req)
	if err == nil {
		err = in.c.nc.PublishRequest("$JS.API."+api+"."+in.stream, in.inbox, body)
	}
	if err != nil {
		return in.c.wrap("read "+in.stream, err)
	}
	return nil
}

// next returns the next answer on the inbox.
func (in *apiInbox) next(ctx context.Context) (*nats.Msg, error) {
	m, err := in.sub.NextMsgWithContext(ctx)
	if err != nil {
		return nil, in.c.wrap("read "+in.stream, err)
	}
	return m, nil
}

// close unsubscribes the inbox.
func (in *apiInbox) close() { _ = in.sub.Unsubscribe() }

// directBatch sends one batched direct get, req (with "batch" or
// "multi_last"), and calls fn with each message it answers, in order,
// until the batch's end; an error from fn stops it. It returns the end's
// Nats-Num-Pending: how many more messages match past the batch ("" if
// the server does not say), or "0" when none matched at all (a 404).
func (in *apiInbox) directBatch(ctx context.Context, req any, fn func(m *nats.Msg) error) (pending string, err error) {
	if err := in.ask("DIRECT.GET", req); err != nil {
		return "", err
	}
	for {
		m, err := in.next(ctx)
		if err != nil {
			return "", err
		}
		switch m.Header.Get("Status") {
		case "404":
			return "0", nil
		case "204":
			return m.Header.Get("Nats-Num-Pending"), nil
		case "":
		default:
			return "", fmt.Errorf("jobs: read %s: direct get: %s %s", in.stream, m.Header.Get("Status"), m.Header.Get("Description"))
		}
		if err := fn(m); err != nil {
			return "", err
		}
	}
}

// fenceWait bounds how long a Wait's read waits in fence.
const fenceWait = 2 * time.Second

// fence waits, on a replicated store, until the state bucket's leader has
// applied the bucket's write at sequence seq (or a later one), so that a
// read from it sees every change that the Client's watch has handed on;
// it reports whether it has. A Wait registers with the watch and then
// reads its job: a change the watch handed on before the registration
// must be in the read. Leader reads see every write the cluster
// acknowledged, but the watch may run on a follower, which can apply a
// committed write before the leader does: a Wait whose read missed the
// end that its watch had passed on waited forever. fence gives up when ctx
// ends or on an error (the read then goes ahead as before).
func (c *Client) fence(ctx context.Context, seq uint64) bool {
	if seq == 0 || !c.leaderReads() {
		return true
	}
	req := msgGetRequest{Seq: seq, NextFor: c.stateSubj(">")}
	for pause := time.Millisecond; ; pause = min(2*pause, 50*time.Millisecond) {
		_, err := c.leaderGet(ctx, "KV_"+c.stateBucket(), req)
		if err == nil {
			return true
		}
		if !errors.Is(err, jetstream.ErrMsgNotFound) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(pause):
		}
	}
}
