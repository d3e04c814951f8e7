package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// submitWait bounds publishJobs when its context has no deadline: it gives
// up when no message of its own was acknowledged for this long (three
// times a JetStream request's default 5 s).
const submitWait = 15 * time.Second

// pubAckTimeout is the JetStream context's async publish timeout: an
// acknowledgement that never comes (its stream's leader died holding the
// message) frees its place among the 4096 pending after this, rather than
// never. publishJobs has sent a copy long before.
const pubAckTimeout = stateWait

// publishJobs stores job messages on the work stream and waits until each
// is acknowledged. A message without an acknowledgement after resendWait
// is published again, then at gaps doubling to resendMax; one refused for
// want of a stream leader (no responders, 503: an election), failed by a
// lost connection, or held back by too many pending acknowledgements is
// published again after pubRetryWait. So a submit in flight when the work
// stream's leader dies is stored by the new leader as soon as one is
// elected, rather than after the caller's whole deadline. Copies are harmless:
// every job message carries the job ID as Nats-Msg-Id, and the stream
// keeps the first. It returns the first other error, after waiting for the
// rest, or ctx's error.
func (c *Client) publishJobs(ctx context.Context, msgs []*nats.Msg) error {
	_, bounded := ctx.Deadline()
	type slot struct {
		m    *nats.Msg
		f    jetstream.PubAckFuture // nil: to be published at next
		gap  time.Duration
		next time.Time
		done bool
	}
	slots := make([]slot, len(msgs))
	var firstErr error
	now := time.Now()
	// settle takes s's answer: done, or to be published again.
	settle := func(s *slot, err error, now time.Time) {
		switch {
		case err == nil:
			s.done = true
		case pubAgain(err):
			s.f, s.next = nil, now.Add(pubRetryWait)
		default:
			s.done = true
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	// publish sends s's message (again) and says when to look at it next.
	publish := func(s *slot, now time.Time) {
		f, err := c.js.PublishMsgAsync(s.m)
		if err != nil {
			settle(s, err, now)
			return
		}
		s.f, s.next = f, now.Add(s.gap)
		s.gap = min(2*s.gap, resendMax)
	}
	for i, m := range msgs {
		slots[i] = slot{m: m, gap: resendWait}
		publish(&slots[i], now)
	}
	tick := time.NewTicker(sweepEvery)
	defer tick.Stop()
	first, acked := 0, now
	for {
		for first < len(slots) && slots[first].done {
			first++
		}
		if first == len(slots) {
			return firstErr
		}
		s := &slots[first]
		var ok <-chan *jetstream.PubAck
		var failed <-chan error
		if s.f != nil {
			ok, failed = s.f.Ok(), s.f.Err()
		}
		select {
		case <-ok:
			s.done, acked = true, time.Now()
		case err := <-failed:
			settle(s, err, time.Now())
		case <-ctx.Done():
			return ctx.Err()
		case now := <-tick.C:
			if !bounded && now.Sub(acked) > submitWait {
				return fmt.Errorf("no acknowledgement from the work stream in %v: %w", submitWait, nats.ErrTimeout)
			}
			// Publish again what is due: a message refused a moment ago,
			// or one whose acknowledgement is late.
			for i := first; i < len(slots); i++ {
				s := &slots[i]
				if s.done || now.Before(s.next) {
					continue
				}
				if s.f != nil {
					select {
					case <-s.f.Ok():
						s.done, acked = true, now
						continue
					case err := <-s.f.Err():
						if settle(s, err, now); s.done || s.f == nil && now.Before(s.next) {
							continue
						}
					default:
					}
				}
				publish(s, now)
			}
		}
	}
}

// pubAgain reports whether a publish's error means "try again soon": no
// stream leader to take it now, an acknowledgement that never came, a
// connection lost before it came (nats.go fails every pending publish
// then; the copy goes out once the client has reconnected), or too many
// acknowledgements pending for now.
func pubAgain(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrDisconnected) ||
		errors.Is(err, jetstream.ErrTooManyStalledMsgs) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, jetstream.ErrAsyncPublishTimeout) || errors.As(err, &apiErr) && apiErr.Code == 503
}
