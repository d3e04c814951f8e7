package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// syncInterval is the JetStream file store's fsync interval for both
// JetStream contenders: 1 s, the same bound on lost writes as Redis's
// appendfsync everysec.
const syncInterval = time.Second

// jsBench is the raw JetStream floor: publish, fetch and ack on a work-queue
// stream of an embedded nats-server, with no job bookkeeping at all.
//
// With replicas above 1 it runs on the -replicas cluster instead (ns nil,
// a TCP connection to every node's URL), on streams of that many replicas:
// a publish is acknowledged, and an ack recorded, once a quorum has it.
type jsBench struct {
	ns       *server.Server
	nc       *nats.Conn
	js       jetstream.JetStream
	replicas int
}

// tag names the contender in profile file names: jetstream or jetstream-r3.
func (b *jsBench) tag() string {
	if b.replicas <= 1 {
		return "jetstream"
	}
	return "jetstream-r" + strconv.Itoa(b.replicas)
}

const (
	jsStream  = "BENCH"
	jsSubject = "bench.q"
)

// startEmbedded runs nats-server in this process with JetStream on a file
// store in dir, fsync every syncInterval, no TCP listener, and returns an
// in-process connection to it.
func startEmbedded(dir string) (*server.Server, *nats.Conn, error) {
	ns, err := server.NewServer(&server.Options{
		DontListen: true, JetStream: true, StoreDir: dir, SyncInterval: syncInterval,
		NoLog: true, NoSigs: true, JetStreamMaxMemory: 256 << 20, JetStreamMaxStore: 8 << 30,
	})
	if err != nil {
		return nil, nil, err
	}
	ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, nil, fmt.Errorf("embedded nats-server in %s not ready after 30s", dir)
	}
	nc, err := nats.Connect("", nats.InProcessServer(ns))
	if err != nil {
		ns.Shutdown()
		return nil, nil, err
	}
	return ns, nc, nil
}

func startJetStream(dir string) (*jsBench, error) {
	ns, nc, err := startEmbedded(dir)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		nc.Close()
		ns.Shutdown()
		return nil, err
	}
	return &jsBench{ns: ns, nc: nc, js: js, replicas: 1}, nil
}

// startJetStreamCluster is raw JetStream on cl with streams of replicas
// replicas.
func startJetStreamCluster(cl *cluster, replicas int) (*jsBench, error) {
	nc, err := nats.Connect(strings.Join(cl.urls, ","))
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &jsBench{nc: nc, js: js, replicas: replicas}, nil
}

// stream creates the work-queue stream afresh; the caller deletes it with
// reset.
func (b *jsBench) stream(ctx context.Context) (jetstream.Stream, error) {
	return b.js.CreateStream(ctx, jetstream.StreamConfig{
		Name: jsStream, Subjects: []string{"bench.>"}, Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage,
		Replicas: b.replicas,
	})
}

func (b *jsBench) reset(ctx context.Context) {
	b.js.DeleteStream(ctx, jsStream)
}

func jsPayload(i int) []byte { return []byte(`{"i":` + strconv.Itoa(i) + `}`) }

func (b *jsBench) one(ctx context.Context, n int) (float64, error) {
	if _, err := b.stream(ctx); err != nil {
		return 0, err
	}
	defer b.reset(ctx)
	defer profile(b.tag() + "-one")()
	t0 := time.Now()
	for i := range n {
		if _, err := b.js.Publish(ctx, jsSubject, jsPayload(i)); err != nil {
			return 0, err
		}
	}
	return rate(n, t0), nil
}

// fill publishes n messages in batches of batch, each batch asynchronously,
// waiting for every acknowledgement of a batch before the next.
func (b *jsBench) fill(ctx context.Context, n, batch int) error {
	futures := make([]jetstream.PubAckFuture, 0, batch)
	for i := 0; i < n; i += batch {
		futures = futures[:0]
		for j := i; j < min(n, i+batch); j++ {
			f, err := b.js.PublishAsync(jsSubject, jsPayload(j))
			if err != nil {
				return err
			}
			futures = append(futures, f)
		}
		for _, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

func (b *jsBench) bulk(ctx context.Context, n, batch int) (float64, error) {
	if _, err := b.stream(ctx); err != nil {
		return 0, err
	}
	defer b.reset(ctx)
	defer profile(b.tag() + "-bulk")()
	t0 := time.Now()
	if err := b.fill(ctx, n, batch); err != nil {
		return 0, err
	}
	return rate(n, t0), nil
}

func (b *jsBench) burn(ctx context.Context, n, conc, batch int) (burnResult, error) {
	st, err := b.stream(ctx)
	if err != nil {
		return burnResult{}, err
	}
	defer b.reset(ctx)
	if err := b.fill(ctx, n, batch); err != nil {
		return burnResult{}, err
	}
	cons, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable: "burn", AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second, MaxAckPending: 4 * conc,
	})
	if err != nil {
		return burnResult{}, err
	}
	work := make(chan jetstream.Msg, conc)
	var done atomic.Int64
	finished := make(chan struct{})
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range work {
				m.Ack()
				if done.Add(1) == int64(n) {
					close(finished)
				}
			}
		}()
	}
	stopProf := profile(b.tag() + "-burn")
	defer stopProf()
	meter := cpuMeter(selfCPU)
	t0, c0 := time.Now(), meter()
	cc, err := cons.Consume(func(m jetstream.Msg) { work <- m }, jetstream.PullMaxMessages(2*conc))
	if err != nil {
		close(work)
		wg.Wait()
		return burnResult{}, err
	}
	var res burnResult
	select {
	case <-finished:
		err = b.nc.Flush() // every ack has reached the server
		if err == nil {
			err = drained(ctx, st)
		}
		res = meter.measure(n, t0, c0)
	case <-time.After(burnTimeout):
		err = fmt.Errorf("jetstream: %d of %d messages acked after %s", done.Load(), n, burnTimeout)
	case <-ctx.Done():
		err = ctx.Err()
	}
	cc.Stop()
	<-cc.Closed()
	close(work)
	wg.Wait()
	return res, err
}

// drained waits until the work-queue stream st holds no message: every ack
// has been applied (at R3, committed by a quorum of the consumer's replicas
// and the stream's), polling every 5 ms for at most burnTimeout.
func drained(ctx context.Context, st jetstream.Stream) error {
	ctx, cancel := context.WithTimeout(ctx, burnTimeout)
	defer cancel()
	for {
		info, err := st.Info(ctx)
		if err != nil {
			return fmt.Errorf("jetstream: stream info: %w", err)
		}
		if info.State.Msgs == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("jetstream: %d messages still in the stream after every ack: %w", info.State.Msgs, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// latency publishes one message at a time; a consumer acks it and publishes
// a result on a core NATS subject, which the submitter receives.
func (b *jsBench) latency(ctx context.Context, n, warm int) ([]float64, error) {
	st, err := b.stream(ctx)
	if err != nil {
		return nil, err
	}
	defer b.reset(ctx)
	cons, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable: "lat", AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second,
	})
	if err != nil {
		return nil, err
	}
	sub, err := b.nc.SubscribeSync("result.>")
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	cc, err := cons.Consume(func(m jetstream.Msg) {
		m.Ack()
		b.nc.Publish("result.x", m.Data())
	})
	if err != nil {
		return nil, err
	}
	defer func() { cc.Stop(); <-cc.Closed() }()
	defer profile(b.tag() + "-latency")()
	ms := make([]float64, 0, n)
	for i := range warm + n {
		t0 := time.Now()
		if _, err := b.js.Publish(ctx, jsSubject, jsPayload(i)); err != nil {
			return nil, err
		}
		m, err := sub.NextMsg(latencyTimeout)
		if err != nil {
			return nil, fmt.Errorf("jetstream: result %d: %w", i, err)
		}
		if string(m.Data) != string(jsPayload(i)) {
			return nil, fmt.Errorf("jetstream: result %q, want %q", m.Data, jsPayload(i))
		}
		if i >= warm {
			ms = append(ms, msSince(t0))
		}
	}
	return ms, nil
}

func (b *jsBench) Close() error {
	b.nc.Close()
	if b.ns != nil {
		b.ns.Shutdown()
		b.ns.WaitForShutdown()
	}
	return nil
}
