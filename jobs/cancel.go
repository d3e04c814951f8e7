package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// errWrongRev reports whether err is a failed compare-and-swap.
func errWrongRev(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyExists) ||
		errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) // R>1
}

// jsErrCodeSequenceNotFound is the server's answer to a delete of a
// message that is not in the stream ("sequence N not found"); jetstream
// names no constant for it.
const jsErrCodeSequenceNotFound jetstream.ErrorCode = 10043

// msgGone reports whether a message delete failed because the message is
// gone already: the worker that ran the job acknowledged it (a work queue
// removes a message on its ack).
func msgGone(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrMsgNotFound) ||
		errors.As(err, &apiErr) && apiErr.ErrorCode == jsErrCodeSequenceNotFound
}

// Cancel cancels the job. A queued or scheduled job never runs; a running
// job's context is cancelled (context.Cause is ErrCancelled) on whichever
// process runs it, and the job is not retried. Cancelling a cancelled job
// does nothing; a succeeded or failed one gives a *StateError.
func (c *Client) Cancel(ctx context.Context, id string) error {
	if c.isClosed() {
		return ErrClosed
	}
	for try := 0; try < 20; try++ {
		r, rev, m, err := c.lookupMsg(ctx, id)
		if err != nil {
			return err
		}
		var seq uint64
		if m != nil {
			seq = m.Sequence
			r = c.asTaken(ctx, r, m) // a first attempt that stored nothing yet is attempt 1
		}
		switch r.State {
		case StateCancelled:
			return nil
		case StateSucceeded, StateFailed:
			return &StateError{ID: id, State: r.State, Op: "cancel"}
		}
		next := *r
		next.State, next.Finished, next.Error = StateCancelled, stampNow(), "cancelled"
		if rev == 0 {
			// Only a waiting message, or a first attempt that has stored
			// nothing yet (see queue.begin). Tell the workers first: one
			// that takes the message after the broadcast never starts
			// it, one that has started it has its ctx cancelled. The
			// record's creation decides the race with the outcome.
			if err := c.nc.Publish(c.cancelSubj(), cancelMsg(id, r.Gen)); err != nil {
				return c.wrap("cancel", err)
			}
			_, err = c.state.Create(ctx, id, next.encode())
		} else {
			_, err = c.state.Update(ctx, id, next.encode(), rev)
		}
		if errWrongRev(err) {
			continue
		}
		if err != nil {
			return c.wrap("cancel", err)
		}
		if seq == 0 {
			if _, m, err := c.waitingMsg(ctx, id); err == nil && m != nil {
				seq = m.Sequence
			}
		}
		if seq != 0 {
			if err := c.work.DeleteMsg(ctx, seq); err != nil && !msgGone(err) {
				c.log.Warn("jobs: delete the message of a cancelled job", "id", id, "err", err)
			}
		}
		if err := c.nc.Publish(c.cancelSubj(), cancelMsg(id, r.Gen)); err != nil {
			return c.wrap("cancel", err)
		}
		return c.wrap("cancel", c.nc.Flush())
	}
	return fmt.Errorf("jobs: cancel %s: the job keeps changing", id)
}

// Retry runs a failed or cancelled job again from its first attempt, as a
// new generation: a cancel of the old run does not touch the new one. Any
// other state gives a *StateError.
func (c *Client) Retry(ctx context.Context, id string) error {
	if c.isClosed() {
		return ErrClosed
	}
	for try := 0; try < 20; try++ {
		r, rev, _, err := c.lookup(ctx, id)
		if err != nil {
			return err
		}
		if r.State != StateFailed && r.State != StateCancelled {
			return &StateError{ID: id, State: r.State, Op: "retry"}
		}
		prev := r.encode()
		next := *r
		next.Gen++
		next.State, next.Attempt, next.Progress, next.Note = StateQueued, 0, 0, ""
		next.Result, next.ResultRef, next.Error = nil, false, ""
		next.Started, next.Finished, next.RunAt, next.Worker = 0, 0, 0, ""
		nrev, err := c.state.Update(ctx, id, next.encode(), rev)
		if errWrongRev(err) {
			continue
		}
		if err != nil {
			return c.wrap("retry", err)
		}
		if err := c.ensureQueue(ctx, r.Queue); err != nil {
			return err
		}
		if _, err := c.js.PublishMsg(ctx, c.message(&next)); err != nil {
			// Put the job back as it was, so Retry can be called again.
			_, _ = c.state.Update(ctx, id, prev, nrev)
			return c.wrap("retry", err)
		}
		return nil
	}
	return fmt.Errorf("jobs: retry %s: the job keeps changing", id)
}
