package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Client submits, reads and runs jobs. Its methods are safe for concurrent
// use. Close it when done.
type Client struct {
	cfg    Config
	log    *slog.Logger
	ns     *server.Server // nil when remote
	lock   *os.File       // the embedded store's lock; nil when remote
	nc     *nats.Conn
	js     jetstream.JetStream
	work   jetstream.Stream
	tokens jetstream.Stream
	state  jetstream.KeyValue
	kinds  jetstream.KeyValue
	unique jetstream.KeyValue
	obj    jetstream.ObjectStore

	worker string

	hub hub
	pub statePub // a worker's writes to the state bucket

	mu         sync.Mutex
	closed     bool
	handlers   map[string]*handler
	declared   map[string]bool
	known      map[string]bool // kinds seen in the kinds bucket
	queues     map[string]bool // queues whose consumers exist
	depth      map[string]*depthCache
	workStops  []func()
	maxDeliver int

	// createMu lets one goroutine at a time create work consumers (see
	// Client.consumer).
	createMu sync.Mutex

	done chan struct{}
}

var tokenRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Names of streams, buckets and subjects under a prefix.
func (c *Client) workStream() string  { return c.cfg.Prefix + "_work" }
func (c *Client) stateBucket() string { return c.cfg.Prefix + "_jobs" }
func (c *Client) workSubj(q string, l int, id string) string {
	return c.cfg.Prefix + ".work." + q + "." + strconv.Itoa(l) + "." + id
}
func (c *Client) schedSubj(q string, l int, id string) string {
	return c.cfg.Prefix + ".sched." + q + "." + strconv.Itoa(l) + "." + id
}
func (c *Client) stateSubj(id string) string { return "$KV." + c.stateBucket() + "." + id }
func (c *Client) cancelSubj() string         { return c.cfg.Prefix + ".cancel" }
func (c *Client) keepSubj() string           { return c.cfg.Prefix + ".sched.keep" }
func (c *Client) consumerName(q string, l int) string {
	return "w_" + q + "_" + strconv.Itoa(l)
}

// Open connects to the jobs of cfg: it starts an embedded NATS server with
// JetStream on cfg.Dir (or connects to cfg.URLs) and makes the streams and
// buckets it needs if they are missing. ctx bounds the start.
func Open(ctx context.Context, cfg Config) (*Client, error) {
	if (cfg.Dir == "") == (len(cfg.URLs) == 0) {
		return nil, &ValidationError{Field: "Config.Dir", Problem: "set exactly one of Dir (embedded server) and URLs (remote NATS)"}
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if !tokenRE.MatchString(cfg.Prefix) {
		return nil, &ValidationError{Field: "Config.Prefix", Problem: fmt.Sprintf("%q is not a subject token: use letters, digits, '-' and '_'", cfg.Prefix)}
	}
	if cfg.SyncInterval <= 0 {
		cfg.SyncInterval = DefaultSyncInterval
	}
	if err := checkReplicas(cfg); err != nil {
		return nil, err
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.MaxQueueDepth <= 0 {
		cfg.MaxQueueDepth = DefaultMaxQueueDepth
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = DefaultAckWait
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Client{
		cfg:      cfg,
		log:      cfg.Logger,
		handlers: map[string]*handler{},
		declared: map[string]bool{},
		known:    map[string]bool{},
		queues:   map[string]bool{},
		done:     make(chan struct{}),
		worker:   cfg.WorkerName,
	}
	c.pub.c = c
	c.maxDeliver = MaxAttemptsLimit + 1
	if testMaxDeliver > 0 {
		c.maxDeliver = testMaxDeliver
	}
	if c.worker == "" {
		h, _ := os.Hostname()
		c.worker = h + ":" + strconv.Itoa(os.Getpid())
	}
	if err := c.connect(ctx); err != nil {
		c.shutdown()
		return nil, err
	}
	if err := c.setup(ctx); err != nil {
		c.shutdown()
		return nil, err
	}
	return c, nil
}

// testMaxDeliver, when set by a test, lowers the work consumers' MaxDeliver.
var testMaxDeliver int

func (c *Client) connect(ctx context.Context) error {
	opts := []nats.Option{nats.Name("herd-jobs"), nats.MaxReconnects(-1)}
	if c.cfg.Dir != "" {
		lock, err := lockStore(c.cfg.Dir)
		if err != nil {
			return err
		}
		c.lock = lock
		so := &server.Options{
			ServerName:   "herd-jobs",
			DontListen:   c.cfg.Listen == "",
			JetStream:    true,
			StoreDir:     c.cfg.Dir,
			SyncInterval: c.cfg.SyncInterval,
			NoSigs:       true,
			NoLog:        true,
		}
		if c.cfg.Listen != "" {
			host, port, err := net.SplitHostPort(c.cfg.Listen)
			if err != nil {
				return &ValidationError{Field: "Config.Listen", Problem: err.Error() + ` (write "127.0.0.1:0")`}
			}
			p, err := strconv.Atoi(port)
			if err != nil {
				return &ValidationError{Field: "Config.Listen", Problem: "bad port " + port}
			}
			if p == 0 {
				p = server.RANDOM_PORT
			}
			so.Host, so.Port = host, p
		}
		ns, err := server.NewServer(so)
		if err != nil {
			return fmt.Errorf("jobs: embedded server on %s: %w", c.cfg.Dir, err)
		}
		c.ns = ns
		ns.Start()
		wait := 30 * time.Second
		if dl, ok := ctx.Deadline(); ok {
			wait = time.Until(dl)
		}
		if !ns.ReadyForConnections(wait) {
			return fmt.Errorf("jobs: embedded server on %s did not start within %v", c.cfg.Dir, wait)
		}
		opts = append(opts, nats.InProcessServer(ns))
	}
	url := ""
	if len(c.cfg.URLs) > 0 {
		for i, u := range c.cfg.URLs {
			if i > 0 {
				url += ","
			}
			url += u
		}
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return fmt.Errorf("jobs: connect: %w", err)
	}
	c.nc = nc
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096), jetstream.WithPublishAsyncTimeout(pubAckTimeout))
	if err != nil {
		return err
	}
	c.js = js
	return nil
}

func (c *Client) setup(ctx context.Context) error {
	var err error
	c.work, err = ensureStream(ctx, c.js, jetstream.StreamConfig{
		Name:              c.workStream(),
		Subjects:          []string{c.cfg.Prefix + ".work.>", c.cfg.Prefix + ".sched.>"},
		Retention:         jetstream.WorkQueuePolicy,
		Storage:           jetstream.FileStorage,
		Replicas:          c.cfg.Replicas,
		Duplicates:        DefaultDuplicateWindow,
		AllowMsgSchedules: true,
		AllowRollup:       true,
		AllowDirect:       true,
	})
	if err != nil {
		return fmt.Errorf("jobs: stream %s: %w", c.workStream(), placementHint(err, c.cfg.Replicas))
	}
	// One message that no consumer takes keeps the work stream from ever
	// being empty: the file store then keeps its block instead of deleting
	// the file and creating a new one each time a queue drains.
	if _, err := c.work.GetLastMsgForSubject(ctx, c.keepSubj()); errors.Is(err, jetstream.ErrMsgNotFound) {
		if _, err := c.js.Publish(ctx, c.keepSubj(), nil); err != nil {
			return fmt.Errorf("jobs: stream %s: %w", c.workStream(), err)
		}
	}
	c.state, err = ensureKeyValue(ctx, c.js, jetstream.KeyValueConfig{
		Bucket: c.stateBucket(), History: 1, Storage: jetstream.FileStorage, Replicas: c.cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("jobs: bucket %s: %w", c.stateBucket(), err)
	}
	c.tokens, err = ensureStream(ctx, c.js, jetstream.StreamConfig{
		Name:                 c.cfg.Prefix + "_tokens",
		Subjects:             []string{c.cfg.Prefix + ".token.>"},
		Retention:            jetstream.WorkQueuePolicy,
		Storage:              jetstream.FileStorage,
		Replicas:             c.cfg.Replicas,
		MaxMsgsPerSubject:    1,
		Discard:              jetstream.DiscardNew,
		DiscardNewPerSubject: true,
	})
	if err != nil {
		return fmt.Errorf("jobs: stream %s_tokens: %w", c.cfg.Prefix, err)
	}
	c.kinds, err = ensureKeyValue(ctx, c.js, jetstream.KeyValueConfig{
		Bucket: c.cfg.Prefix + "_kinds", History: 1, Storage: jetstream.FileStorage, Replicas: c.cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("jobs: bucket %s_kinds: %w", c.cfg.Prefix, err)
	}
	c.unique, err = ensureKeyValue(ctx, c.js, jetstream.KeyValueConfig{
		Bucket: c.cfg.Prefix + "_unique", History: 1, Storage: jetstream.FileStorage, Replicas: c.cfg.Replicas,
		LimitMarkerTTL: time.Second,
	})
	if err != nil {
		return fmt.Errorf("jobs: bucket %s_unique: %w", c.cfg.Prefix, err)
	}
	c.obj, err = ensureObjectStore(ctx, c.js, jetstream.ObjectStoreConfig{
		Bucket: c.cfg.Prefix + "_results", Storage: jetstream.FileStorage, Replicas: c.cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("jobs: object store %s_results: %w", c.cfg.Prefix, err)
	}
	c.hub.init(c)
	return nil
}

// URL is the address other processes can connect to (Config.URLs): the
// embedded server's listener when Config.Listen is set, else the first of
// Config.URLs; "" for an embedded server without a listener.
func (c *Client) URL() string {
	if c.ns != nil {
		if c.cfg.Listen == "" {
			return ""
		}
		return c.ns.ClientURL()
	}
	return c.cfg.URLs[0]
}

// Close stops every Work call (each drains as its ShutdownTimeout allows),
// then closes the connection and stops the embedded server. It is
// idempotent; it returns nil when everything stopped.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	stops := c.workStops
	c.workStops = nil
	close(c.done)
	c.mu.Unlock()
	c.hub.wakeAll() // Waits return ErrClosed now, not after Work drains
	for _, stop := range stops {
		stop()
	}
	c.shutdown()
	return nil
}

func (c *Client) shutdown() {
	c.hub.close()
	c.pub.close()
	if c.nc != nil {
		if c.js != nil {
			select {
			case <-c.js.PublishAsyncComplete():
			case <-time.After(5 * time.Second):
			}
		}
		c.nc.Close()
	}
	if c.ns != nil {
		c.ns.Shutdown()
		c.ns.WaitForShutdown()
	}
	if c.lock != nil {
		c.lock.Close() // releases the flock
	}
}

func (c *Client) isClosed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// ctxErr turns a NATS error after Close into ErrClosed.
func (c *Client) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if c.isClosed() || errors.Is(err, nats.ErrConnectionClosed) {
		return ErrClosed
	}
	return fmt.Errorf("jobs: %s: %w", op, err)
}

// ensureStream opens the stream cfg names, creating it with cfg when it
// does not exist. An existing stream is used as it is, not updated: a
// stream update that runs while another client creates consumers on the
// stream races inside nats-server (the file store's config), and every
// process that opens the store would otherwise rewrite the same config.
func ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	s, err := js.Stream(ctx, cfg.Name)
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return s, err
	}
	s, err = js.CreateStream(ctx, cfg)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) { // another client made it first
		return js.Stream(ctx, cfg.Name)
	}
	return s, err
}

// ensureKeyValue opens the bucket cfg names, creating it with cfg when it
// does not exist; as ensureStream, it never updates an existing one.
func ensureKeyValue(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return kv, err
	}
	kv, err = js.CreateKeyValue(ctx, cfg)
	if errors.Is(err, jetstream.ErrBucketExists) || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return js.KeyValue(ctx, cfg.Bucket)
	}
	return kv, err
}

// ensureObjectStore opens the object store cfg names, creating it with cfg
// when it does not exist; as ensureStream, it never updates an existing one.
func ensureObjectStore(ctx context.Context, js jetstream.JetStream, cfg jetstream.ObjectStoreConfig) (jetstream.ObjectStore, error) {
	os, err := js.ObjectStore(ctx, cfg.Bucket)
	if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return os, err
	}
	os, err = js.CreateObjectStore(ctx, cfg)
	if errors.Is(err, jetstream.ErrBucketExists) || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return js.ObjectStore(ctx, cfg.Bucket)
	}
	return os, err
}
