package jobs

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"
)

var (
	idMu      sync.Mutex
	idEntropy = ulid.Monotonic(rand.Reader, 0)
)

// newID returns a new ULID: IDs sort in submission order within a process.
func newID() string {
	idMu.Lock()
	defer idMu.Unlock()
	return ulid.MustNew(ulid.Now(), idEntropy).String()
}

// Declare lets this client submit jobs of kinds that no worker has
// registered (yet): a submit-only process names the kinds it means to send.
// It only records the kinds in c; ctx is unused but kept for symmetry.
func (c *Client) Declare(ctx context.Context, kinds ...string) error {
	for _, k := range kinds {
		if err := checkKind(k); err != nil {
			return err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range kinds {
		c.declared[k] = true
	}
	return nil
}

func checkKind(k string) error {
	if k == "" || len(k) > 200 {
		return &ValidationError{Field: "kind", Problem: "must be 1 to 200 characters"}
	}
	for i := 0; i < len(k); i++ {
		ch := k[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_' || ch == '.' || ch == '/' || ch == '=') {
			return &ValidationError{Field: "kind", Problem: fmt.Sprintf("%q has %q: use letters, digits and - _ . / =", k, ch)}
		}
	}
	return nil
}

// kindKnown reports whether a worker registered kind (here or, as the kinds
// bucket records, anywhere) or c declared it.
func (c *Client) kindKnown(ctx context.Context, kind string) error {
	if err := checkKind(kind); err != nil {
		return err
	}
	c.mu.Lock()
	ok := c.declared[kind] || c.known[kind] || c.handlers[kind] != nil
	c.mu.Unlock()
	if ok {
		return nil
	}
	if _, _, err := c.kvGet(ctx, c.kinds, c.cfg.Prefix+"_kinds", kind); err != nil {
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return &UnknownKindError{Kind: kind}
		}
		return c.wrap("look up kind", err)
	}
	c.mu.Lock()
	c.known[kind] = true
	c.mu.Unlock()
	return nil
}

// newRecord checks a submit and makes the job's record.
func (c *Client) newRecord(kind string, args any, o SubmitOptions, now time.Time) (*record, error) {
	r := &record{Kind: kind, Queue: o.Queue, Priority: o.Priority, MaxAttempts: o.MaxAttempts, Timeout: o.Timeout, Created: stampOf(now), State: StateQueued}
	r.ID = o.ID
	if r.ID == "" {
		r.ID = newID()
	} else if !validID(r.ID) {
		return nil, &ValidationError{Field: "id", Problem: fmt.Sprintf("%q is not a ULID (26 characters of Crockford base 32)", r.ID)}
	}
	if r.Queue == "" {
		r.Queue = DefaultQueue
	} else if !tokenRE.MatchString(r.Queue) || len(r.Queue) > 100 {
		return nil, &ValidationError{Field: "queue", Problem: fmt.Sprintf("%q: use 1 to 100 letters, digits, '-' and '_'", r.Queue)}
	}
	if r.Priority < PriorityLow || r.Priority > PriorityCritical {
		return nil, &ValidationError{Field: "priority", Problem: fmt.Sprintf("%d: use -1 (low), 0 (normal), 1 (high) or 2 (critical)", int(r.Priority))}
	}
	switch {
	case r.MaxAttempts == 0:
		r.MaxAttempts = DefaultMaxAttempts
	case r.MaxAttempts < 0 || r.MaxAttempts > MaxAttemptsLimit:
		return nil, &ValidationError{Field: "max_attempts", Problem: fmt.Sprintf("%d: use 1 to %d (0 for %d)", r.MaxAttempts, MaxAttemptsLimit, DefaultMaxAttempts)}
	}
	switch {
	case r.Timeout == 0:
		r.Timeout = DefaultTimeout
	case r.Timeout < 0:
		return nil, &ValidationError{Field: "timeout", Problem: fmt.Sprintf("%v is negative", r.Timeout)}
	}
	if o.Delay < 0 {
		return nil, &ValidationError{Field: "delay", Problem: fmt.Sprintf("%v is negative", o.Delay)}
	}
	if !o.RunAt.IsZero() {
		r.RunAt = stampOf(o.RunAt)
	} else if o.Delay > 0 {
		r.RunAt = stampOf(now.Add(o.Delay))
	}
	if r.RunAt != 0 && r.RunAt.time().After(now) {
		r.State = StateScheduled
	}
	if o.UniqueTTL < 0 {
		return nil, &ValidationError{Field: "unique_ttl", Problem: fmt.Sprintf("%v is negative", o.UniqueTTL)}
	}
	if args == nil {
		r.Args = nil
	} else if raw, ok := args.(json.RawMessage); ok {
		if !json.Valid(raw) {
			return nil, &ValidationError{Field: "args", Problem: "not valid JSON"}
		}
		r.Args = raw
	} else {
		b, err := json.Marshal(args)
		if err != nil {
			return nil, &ValidationError{Field: "args", Problem: err.Error()}
		}
		r.Args = b
	}
	return r, nil
}

// message makes the job's work message: on its work subject, or, for a
// job that must wait, a schedule that JetStream turns into the work message
// at RunAt. The job ID is the Nats-Msg-Id, so a retried publish is dropped.
func (c *Client) message(r *record) *nats.Msg {
	m := nats.NewMsg(c.workSubj(r.Queue, r.Priority.level(), r.ID))
	m.Data = r.encode()
	m.Header.Set(jetstream.MsgIDHeader, msgID(r))
	if r.State == StateScheduled {
		m.Header.Set("Nats-Schedule", "@at "+r.RunAt.time().Format(time.RFC3339Nano))
		m.Header.Set("Nats-Schedule-Target", m.Subject)
		m.Subject = c.schedSubj(r.Queue, r.Priority.level(), r.ID)
	}
	return m
}

func msgID(r *record) string {
	if r.Gen == 0 {
		return r.ID
	}
	return fmt.Sprintf("%s.%d", r.ID, r.Gen)
}

// Submit adds a job of kind with args (encoded as JSON; a json.RawMessage
// is used as is) and returns its ID once the job is stored. The kind must
// be registered by a worker (Register, recorded by Work) or declared on c
// (Declare); else the error matches ErrUnknownKind. Bad options give a
// *ValidationError, a full queue a *QueueFullError.
//
// A Submit whose acknowledgement is late or lost (the work stream's leader
// died) publishes the job again with the same ID until one is stored, so
// it never makes two jobs (see publishJobs); without a deadline on ctx it
// gives up when 15 s pass without an acknowledgement. Callers that retry Submit themselves should set
// opts.ID.
func (c *Client) Submit(ctx context.Context, kind string, args any, opts SubmitOptions) (string, error) {
	if c.isClosed() {
		return "", ErrClosed
	}
	if err := c.kindKnown(ctx, kind); err != nil {
		return "", err
	}
	r, err := c.newRecord(kind, args, opts, time.Now().UTC())
	if err != nil {
		return "", err
	}
	if err := c.ensureQueue(ctx, r.Queue); err != nil {
		return "", err
	}
	if err := c.checkDepth(ctx, r.Queue, 1); err != nil {
		return "", err
	}
	if opts.UniqueKey != "" {
		first, err := c.claimUnique(ctx, r.ID, opts)
		if err != nil || first != r.ID {
			return first, err
		}
	}
	if err := c.publishJobs(ctx, []*nats.Msg{c.message(r)}); err != nil {
		return "", c.wrap("submit", err)
	}
	c.addDepth(r.Queue, 1)
	return r.ID, nil
}

// SubmitMany adds the jobs of reqs and returns their IDs in order. It
// checks every request first and stores none if one is bad; then it
// publishes them all at once and waits for every acknowledgement,
// publishing again those whose acknowledgement is late, as Submit. On an
// error some jobs may be stored: submitting the same requests again with
// the returned IDs set in Options.ID adds only the missing ones.
func (c *Client) SubmitMany(ctx context.Context, reqs []Request) ([]string, error) {
	if c.isClosed() {
		return nil, ErrClosed
	}
	now := time.Now().UTC()
	recs := make([]*record, len(reqs))
	perQueue := map[string]int{}
	for i, q := range reqs {
		if err := c.kindKnown(ctx, q.Kind); err != nil {
			return nil, fmt.Errorf("request %d: %w", i, err)
		}
		if q.Options.UniqueKey != "" {
			return nil, &ValidationError{Field: fmt.Sprintf("reqs[%d].unique_key", i), Problem: "SubmitMany takes no unique keys: use Submit"}
		}
		r, err := c.newRecord(q.Kind, q.Args, q.Options, now)
		if err != nil {
			return nil, fmt.Errorf("request %d: %w", i, err)
		}
		recs[i] = r
		perQueue[r.Queue]++
	}
	for q, n := range perQueue {
		if err := c.ensureQueue(ctx, q); err != nil {
			return nil, err
		}
		if err := c.checkDepth(ctx, q, n); err != nil {
			return nil, err
		}
	}
	ids := make([]string, len(recs))
	msgs := make([]*nats.Msg, len(recs))
	for i, r := range recs {
		ids[i], msgs[i] = r.ID, c.message(r)
	}
	err := c.publishJobs(ctx, msgs)
	if ctx.Err() != nil {
		return ids, ctx.Err()
	}
	for q, n := range perQueue {
		c.addDepth(q, n)
	}
	if err != nil {
		return ids, c.wrap("submit", err)
	}
	return ids, nil
}

// claimUnique records opts.UniqueKey -> id unless the key lives; it
// returns the ID the key names.
func (c *Client) claimUnique(ctx context.Context, id string, o SubmitOptions) (string, error) {
	key := base64.RawURLEncoding.EncodeToString([]byte(o.UniqueKey))
	ttl := o.UniqueTTL
	if ttl == 0 {
		ttl = DefaultUniqueTTL
	}
	if ttl < time.Second {
		ttl = time.Second
	}
	for try := 0; try < 5; try++ {
		_, err := c.unique.Create(ctx, key, []byte(id), jetstream.KeyTTL(ttl))
		if err == nil {
			return id, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return "", c.wrap("unique key", err)
		}
		v, _, err := c.kvGet(ctx, c.unique, c.cfg.Prefix+"_unique", key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // expired in between
		}
		if err != nil {
			return "", c.wrap("unique key", err)
		}
		return string(v), nil
	}
	return "", fmt.Errorf("jobs: unique key %q: the key keeps changing", o.UniqueKey)
}

// ensureQueue makes the queue's work consumers, one per priority.
func (c *Client) ensureQueue(ctx context.Context, q string) error {
	c.mu.Lock()
	ok := c.queues[q]
	c.mu.Unlock()
	if ok {
		return nil
	}
	for l := 0; l < levels; l++ {
		if _, err := c.consumer(ctx, q, l); err != nil {
			return err
		}
	}
	c.mu.Lock()
	c.queues[q] = true
	c.mu.Unlock()
	return nil
}

func (c *Client) consumer(ctx context.Context, q string, l int) (jetstream.Consumer, error) {
	name := c.consumerName(q, l)
	cons, err := c.work.Consumer(ctx, name)
	if err == nil {
		return cons, nil
	}
	if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, c.wrap("consumer "+name, err)
	}
	// On a cluster, a create that comes while an earlier create of the
	// same consumer awaits its leader is never answered: the server keeps
	// the earlier request's reply and the later one times out. Work and
	// Submit (queueDepth) of one client create the same consumers, so
	// they take turns; a create racing another process's is retried, and
	// finds the consumer made.
	c.createMu.Lock()
	defer c.createMu.Unlock()
	for try := 0; ; try++ {
		cons, err = c.work.Consumer(ctx, name)
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			cons, err = c.work.CreateConsumer(ctx, jetstream.ConsumerConfig{
				Durable:       name,
				FilterSubject: c.workSubj(q, l, "*"),
				AckPolicy:     jetstream.AckExplicitPolicy,
				AckWait:       c.cfg.AckWait,
				MaxDeliver:    c.maxDeliver,
				MaxAckPending: -1,
				MaxWaiting:    4096,
			})
			if errors.Is(err, jetstream.ErrConsumerExists) {
				cons, err = c.work.Consumer(ctx, name)
			}
		}
		if err == nil || try == 2 || ctx.Err() != nil || !(errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout)) {
			break
		}
	}
	if err != nil {
		return nil, c.wrap("consumer "+name, err)
	}
	return cons, nil
}

// depth is a per-queue count of waiting jobs, read from the consumers at
// most every depthRefresh and counted up locally in between.
type depthCache struct {
	n    int
	read time.Time
}

const depthRefresh = 500 * time.Millisecond

// depthWait bounds a submit's read of its queue's depth (see checkDepth).
const depthWait = 2 * time.Second

func (c *Client) checkDepth(ctx context.Context, q string, add int) error {
	c.mu.Lock()
	if c.depth == nil {
		c.depth = map[string]*depthCache{}
	}
	d := c.depth[q]
	if d == nil {
		d = &depthCache{}
		c.depth[q] = d
	}
	stale := time.Since(d.read) > depthRefresh
	c.mu.Unlock()
	if stale {
		dctx, cancel := context.WithTimeout(ctx, depthWait)
		n, err := c.queueDepth(dctx, q)
		cancel()
		switch {
		case err == nil:
			c.mu.Lock()
			d.n, d.read = n, time.Now()
			c.mu.Unlock()
		case transient(err) && ctx.Err() == nil:
			// The store did not answer in time (a consumer being made,
			// or electing its leader, on a busy cluster). The bound is a
			// soft one: go on with the depth last read, and read again
			// after depthRefresh, rather than fail the submit.
			c.mu.Lock()
			d.read = time.Now()
			c.mu.Unlock()
		default:
			return err
		}
	}
	c.mu.Lock()
	n := d.n
	c.mu.Unlock()
	if n+add > c.cfg.MaxQueueDepth {
		return &QueueFullError{Queue: q, Depth: n, Max: c.cfg.MaxQueueDepth, RetryAfter: time.Second}
	}
	return nil
}

func (c *Client) addDepth(q string, n int) {
	c.mu.Lock()
	if d := c.depth[q]; d != nil {
		d.n += n
	}
	c.mu.Unlock()
}

// queueDepth sums the jobs waiting on the queue's consumers.
func (c *Client) queueDepth(ctx context.Context, q string) (int, error) {
	n := 0
	for l := 0; l < levels; l++ {
		cons, err := c.consumer(ctx, q, l)
		if err != nil {
			return 0, err
		}
		ci, err := cons.Info(ctx)
		if err != nil {
			return 0, c.wrap("queue depth", err)
		}
		n += int(ci.NumPending)
	}
	return n, nil
}

// ensureTokens makes the queue's concurrency tokens 0..n-1 (one message per
// subject; publishing a token that exists, held or not, is refused by the
// stream, so a token is never doubled) and the consumer that hands them
// out. Workers that ask for different bounds leave the largest in force.
func (c *Client) ensureTokens(ctx context.Context, q string, n int) (jetstream.Consumer, error) {
	name := "t_" + q
	cons, err := c.tokens.Consumer(ctx, name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		cons, err = c.tokens.CreateConsumer(ctx, jetstream.ConsumerConfig{
			Durable:       name,
			FilterSubject: c.cfg.Prefix + ".token." + q + ".*",
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       c.cfg.AckWait,
			MaxDeliver:    -1,
			MaxWaiting:    4096,
		})
		if errors.Is(err, jetstream.ErrConsumerExists) {
			cons, err = c.tokens.Consumer(ctx, name)
		}
	}
	if err != nil {
		return nil, c.wrap("consumer "+name, err)
	}
	for i := range n {
		// An error here is a token that exists already.
		_, _ = c.js.Publish(ctx, fmt.Sprintf("%s.token.%s.%d", c.cfg.Prefix, q, i), nil)
	}
	return cons, nil
}
