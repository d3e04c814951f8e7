package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/ipc"
)

// The Go sides of the ipc measurements. Each spans exactly what the Node
// script it is paired with times.

// startRole starts this binary as role: with ForkSelf over ipc.ModeFast, or,
// for node mode, with Fork and ipc.ModeNode (Node's json framing between two
// herd processes).
func (b *bench) startRole(ctx context.Context, mode ipc.Mode, role string, args ...string) (*child.Process, error) {
	return b.startRoleQueue(ctx, mode, 0, role, args...)
}

// startRoleQueue is startRole with the parent's ipc.Options.SendQueue set
// to queue.
func (b *bench) startRoleQueue(ctx context.Context, mode ipc.Mode, queue int, role string, args ...string) (*child.Process, error) {
	if mode == ipc.ModeFast {
		return child.ForkSelf(ctx, role, args, &child.Options{Channel: ipc.Options{SendQueue: queue}})
	}
	return child.Fork(ctx, b.exe, args, &child.Options{
		Env:     append(os.Environ(), child.EnvRole+"="+role),
		Channel: ipc.Options{Mode: ipc.ModeNode, SendQueue: queue},
	})
}

// stop closes the channel, which ends a benchmark child, and reaps it.
func stop(p *child.Process) error {
	p.Channel.Close()
	if err := p.Wait(); err != nil {
		return fmt.Errorf("benchmark child: %w", err)
	}
	return nil
}

// forkFirst times ForkSelf to the first message received, samples times
// after one warm-up, in milliseconds.
func (b *bench) forkFirst(samples int) ([]float64, error) {
	ctx, cancel := b.context()
	defer cancel()
	var out []float64
	for i := range samples + 1 {
		t0 := time.Now()
		p, err := child.ForkSelf(ctx, roleHello, nil, nil)
		if err != nil {
			return nil, err
		}
		m, err := p.Channel.Recv(ctx)
		dt := time.Since(t0)
		if err == nil && string(m.Data) != `"hello"` {
			err = fmt.Errorf("first message %q, want \"hello\"", m.Data)
		}
		if err := errors.Join(err, stop(p)); err != nil {
			return nil, err
		}
		if i > 0 {
			out = append(out, ms(dt))
		}
	}
	return out, nil
}

// roundTrips sends {i: n} to an echo child and waits for it back, one at a
// time, and returns the n timed round trips after warm untimed ones, in
// microseconds.
func (b *bench) roundTrips(mode ipc.Mode, warm, n int) ([]float64, error) {
	ctx, cancel := b.context()
	defer cancel()
	p, err := b.startRole(ctx, mode, roleEcho)
	if err != nil {
		return nil, err
	}
	c := p.Channel
	out := make([]float64, 0, n)
	var s small
	for i := range warm + n {
		t0 := time.Now()
		if err = c.Send(ctx, small{I: i}); err != nil {
			break
		}
		var m ipc.Message
		if m, err = c.RecvView(ctx); err != nil {
			break
		}
		if err = m.Decode(&s); err == nil && s.I != i {
			err = fmt.Errorf("echo of %d came back as %s", i, m.Data)
		}
		if err != nil {
			break
		}
		if i >= warm {
			out = append(out, us(time.Since(t0)))
		}
	}
	return out, errors.Join(err, stop(p))
}

// smallMsgs sends warm, then n small messages {i: k} to a sink child and
// returns n divided by the time from the first timed send to the child's
// report that it has them all, in messages per second. With queue > 0 the
// parent's channel has ipc.Options.SendQueue = queue, and the sender
// calls Flush after the last Send.
func (b *bench) smallMsgs(mode ipc.Mode, queue, warm, n int) (float64, error) {
	ctx, cancel := b.context()
	defer cancel()
	p, err := b.startRoleQueue(ctx, mode, queue, roleSink, "msgs", strconv.Itoa(warm), strconv.Itoa(n))
	if err != nil {
		return 0, err
	}
	batch := func(count int) error {
		for i := range count {
			if err := p.Channel.Send(ctx, small{I: i}); err != nil {
				return err
			}
		}
		if err := p.Channel.Flush(ctx); err != nil {
			return err
		}
		return waitDone(ctx, p.Channel)
	}
	d, err := warmThenTime(warm, n, batch)
	return perSecond(float64(n), d), errors.Join(err, stop(p))
}

// smallMsgsBatch is smallMsgs with the messages sent by SendBatch, size at
// a time: the same messages to the same sink child, about one write(2)
// per size messages instead of one per message.
func (b *bench) smallMsgsBatch(mode ipc.Mode, warm, n, size int) (float64, error) {
	ctx, cancel := b.context()
	defer cancel()
	p, err := b.startRole(ctx, mode, roleSink, "msgs", strconv.Itoa(warm), strconv.Itoa(n))
	if err != nil {
		return 0, err
	}
	msgs := make([]any, 0, size)
	batch := func(count int) error {
		for i := 0; i < count; {
			msgs = msgs[:0]
			for ; i < count && len(msgs) < size; i++ {
				msgs = append(msgs, small{I: i})
			}
			if _, err := p.Channel.SendBatch(ctx, msgs...); err != nil {
				return err
			}
		}
		return waitDone(ctx, p.Channel)
	}
	d, err := warmThenTime(warm, n, batch)
	return perSecond(float64(n), d), errors.Join(err, stop(p))
}

// bulkBytes is smallMsgs for payloads of size bytes sent with SendBytes over
// ModeFast, in MiB per second.
func (b *bench) bulkBytes(warm, n, size int) (float64, error) {
	ctx, cancel := b.context()
	defer cancel()
	p, err := b.startRole(ctx, ipc.ModeFast, roleSink, "bytes", strconv.Itoa(warm), strconv.Itoa(n), strconv.Itoa(size))
	if err != nil {
		return 0, err
	}
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = 7
	}
	batch := func(count int) error {
		for range count {
			if err := p.Channel.SendBytes(ctx, payload); err != nil {
				return err
			}
		}
		return waitDone(ctx, p.Channel)
	}
	d, err := warmThenTime(warm, n, batch)
	return perSecond(mib(n*size), d), errors.Join(err, stop(p))
}

func waitDone(ctx context.Context, c *ipc.Conn) error {
	m, err := c.Recv(ctx)
	if err != nil {
		return err
	}
	if string(m.Data) != `"done"` {
		return fmt.Errorf("sink sent %q, want \"done\"", m.Data)
	}
	return nil
}

// floorRoundTrips is roundTrips over the raw socketpair: size-byte messages
// echoed with blocking reads and writes on both sides.
func (b *bench) floorRoundTrips(warm, n, size int) ([]float64, error) {
	r, err := startRaw(b.exe, "echo:"+strconv.Itoa(size))
	if err != nil {
		return nil, err
	}
	msg := make([]byte, size)
	out := make([]float64, 0, n)
	for i := range warm + n {
		t0 := time.Now()
		if err = writeFull(r.fd, msg); err != nil {
			break
		}
		if err = readFull(r.fd, msg); err != nil {
			break
		}
		if i >= warm {
			out = append(out, us(time.Since(t0)))
		}
	}
	return out, errors.Join(err, r.close())
}

// floorMsgs is smallMsgs over the raw socketpair: one blocking write of a
// size-byte message per message, read by the peer in 64 KiB reads. It is
// the limit of any channel that makes one system call per message.
func (b *bench) floorMsgs(warm, n, size int) (float64, error) {
	d, err := b.floorSink(warm, n, size)
	return perSecond(float64(n), d), err
}

// floorBytes is bulkBytes over the raw socketpair: size-byte writes, read
// by the peer into a 64 KiB buffer.
func (b *bench) floorBytes(warm, n, size int) (float64, error) {
	d, err := b.floorSink(warm, n, size)
	return perSecond(mib(n*size), d), err
}

// floorSink writes warm, then n size-byte messages with blocking writes to
// a raw sink peer, and returns the time from the first timed write to the
// peer's acknowledgement of the last.
func (b *bench) floorSink(warm, n, size int) (time.Duration, error) {
	r, err := startRaw(b.exe, fmt.Sprintf("sink:%d:%d", warm*size, n*size))
	if err != nil {
		return 0, err
	}
	msg := make([]byte, size)
	ack := make([]byte, 1)
	batch := func(count int) error {
		for range count {
			if err := writeFull(r.fd, msg); err != nil {
				return err
			}
		}
		return readFull(r.fd, ack)
	}
	d, err := warmThenTime(warm, n, batch)
	return d, errors.Join(err, r.close())
}

// warmThenTime runs batch(warm), then batch(n), and returns how long the
// second run took (0 after an error).
func warmThenTime(warm, n int, batch func(int) error) (time.Duration, error) {
	if err := batch(warm); err != nil {
		return 0, err
	}
	t0 := time.Now()
	if err := batch(n); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

// perSecond returns amount per second of d, or 0 for a failed run (d 0).
func perSecond(amount float64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return amount / d.Seconds()
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
func mib(n int) float64          { return float64(n) / (1 << 20) }
