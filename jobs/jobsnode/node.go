// Package jobsnode runs one NATS server with JetStream as a node of a jobs
// cluster, so that the herd binary needs no second program: `herd jobs node`
// and `herd jobs dev-cluster` are thin layers over Start.
//
// # Model
//
// A jobs cluster is a NATS cluster whose nodes each run JetStream on their
// own store directory. Every node has a unique server name, a client
// listener (Listen) that jobs.Config.URLs point at, and a cluster listener
// (Cluster) that the other nodes route to. Routes are explicit: each node
// names the cluster addresses of one or more others, and NATS gossips the
// rest, so a full mesh forms as long as the routes connect the nodes.
// JetStream elects a meta leader once a majority of the nodes it expects
// (three for Replicas 3) have met; Ready waits for that.
//
// When a node dies, the raft groups it led elect new leaders once a
// follower's election timer fires, ElectionTimeout to twice it after the
// dead leader's last heartbeat (2–4 s by default, where nats-server alone
// waits 4–9 s); jobs wait meanwhile and none is lost.
//
// Everything listens on loopback unless an address says otherwise. The
// official nats-server binary with a config file that sets the same things
// (server_name, jetstream.store_dir, cluster.name, cluster.listen,
// cluster.routes) works just as well; the two kinds of node can be mixed.
package jobsnode

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Defaults for a zero Config field.
const (
	// DefaultListen is the client listener: loopback, NATS's usual port.
	DefaultListen = "127.0.0.1:4222"
	// DefaultClusterName names the NATS cluster; every node of one cluster
	// must use the same name.
	DefaultClusterName = "herd"
	// DefaultSyncInterval is how often the file store syncs to disk, as in
	// jobs.DefaultSyncInterval.
	DefaultSyncInterval = time.Second
)

// ErrConfig is matched (errors.Is) by every *ConfigError.
var ErrConfig = errors.New("jobsnode: bad config")

// ConfigError names the Config field that is wrong and what to write.
type ConfigError struct {
	Field, Problem string
}

func (e *ConfigError) Error() string { return "jobsnode: " + e.Field + ": " + e.Problem }

// Is makes errors.Is(err, ErrConfig) true.
func (e *ConfigError) Is(target error) bool { return target == ErrConfig }

// Config describes one node.
type Config struct {
	// Name is the node's server name; it must be unique in the cluster and
	// stay the same across restarts (JetStream knows peers by it). Required.
	Name string
	// StoreDir holds the node's JetStream files (created if missing).
	// Required; one directory per node.
	StoreDir string
	// Listen is the client listener, HOST:PORT; DefaultListen if empty.
	// Port 0 picks a free port (see ClientURL).
	Listen string
	// Cluster is the cluster listener, HOST:PORT. Empty runs a single
	// server without clustering (Routes must then be empty). Port 0 picks a
	// free port (see ClusterAddr).
	Cluster string
	// Routes are the cluster addresses of the nodes, as HOST:PORT or
	// nats-route://HOST:PORT. A clustered node needs at least one; the usual
	// setting is the same list of every node's Cluster on each node (a node
	// skips its own address).
	Routes []string
	// ClusterName is the NATS cluster's name; DefaultClusterName if empty.
	ClusterName string
	// SyncInterval is how often the file store syncs; DefaultSyncInterval
	// if zero.
	SyncInterval time.Duration
	// ElectionTimeout is how long a follower waits after its raft
	// leader's last heartbeat before it calls an election: a random time
	// between ElectionTimeout and twice it. It bounds how long a killed
	// node's streams and consumers stay without a leader.
	// DefaultElectionTimeout if zero; at least MinElectionTimeout. It is
	// the process's: every clustered node one process starts must use the
	// same value (see setElectionTimeout). Ignored without Cluster.
	ElectionTimeout time.Duration
	// Log, when true, makes the server log to stderr.
	Log bool
}

// Node is a running server. Close stops it.
type Node struct {
	cfg Config
	ns  *server.Server
}

func hostPort(field, s string) (string, int, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, &ConfigError{Field: field, Problem: fmt.Sprintf("%q: %v (write HOST:PORT, such as 127.0.0.1:6222)", s, err)}
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return "", 0, &ConfigError{Field: field, Problem: fmt.Sprintf("%q: bad port %q (write a number 0-65535)", s, port)}
	}
	if p == 0 {
		p = server.RANDOM_PORT
	}
	return host, p, nil
}

// Options turns cfg into the NATS server's options, checking every field.
func (cfg Config) Options() (*server.Options, error) {
	if cfg.Name == "" {
		return nil, &ConfigError{Field: "Name", Problem: "required: a name unique in the cluster, such as n1"}
	}
	if strings.ContainsAny(cfg.Name, " \t\r\n") {
		return nil, &ConfigError{Field: "Name", Problem: fmt.Sprintf("%q has white space", cfg.Name)}
	}
	if cfg.StoreDir == "" {
		return nil, &ConfigError{Field: "StoreDir", Problem: "required: a directory for this node's JetStream files"}
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.ClusterName == "" {
		cfg.ClusterName = DefaultClusterName
	}
	if cfg.SyncInterval <= 0 {
		cfg.SyncInterval = DefaultSyncInterval
	}
	if cfg.ElectionTimeout != 0 && cfg.ElectionTimeout < MinElectionTimeout {
		return nil, &ConfigError{Field: "ElectionTimeout", Problem: fmt.Sprintf("%v is shorter than %v: raft leaders send a heartbeat every second (write %v or more, or 0 for %v)", cfg.ElectionTimeout, MinElectionTimeout, MinElectionTimeout, DefaultElectionTimeout)}
	}
	host, port, err := hostPort("Listen", cfg.Listen)
	if err != nil {
		return nil, err
	}
	o := &server.Options{
		ServerName:   cfg.Name,
		Host:         host,
		Port:         port,
		JetStream:    true,
		StoreDir:     cfg.StoreDir,
		SyncInterval: cfg.SyncInterval,
		NoSigs:       true,
		NoLog:        !cfg.Log,
	}
	if cfg.Cluster == "" {
		if len(cfg.Routes) > 0 {
			return nil, &ConfigError{Field: "Routes", Problem: "routes need a cluster listener: set Cluster (--cluster HOST:PORT)"}
		}
		return o, nil
	}
	if len(cfg.Routes) == 0 {
		return nil, &ConfigError{Field: "Routes", Problem: "a cluster node needs routes to the other nodes (--routes HOST:PORT,...; the same list on every node)"}
	}
	chost, cport, err := hostPort("Cluster", cfg.Cluster)
	if err != nil {
		return nil, err
	}
	o.Cluster.Name = cfg.ClusterName
	o.Cluster.Host = chost
	o.Cluster.Port = cport
	for i, r := range cfg.Routes {
		r = strings.TrimSpace(r)
		if !strings.Contains(r, "://") {
			r = "nats-route://" + r
		}
		u, err := url.Parse(r)
		if err != nil || u.Host == "" || u.Port() == "" {
			return nil, &ConfigError{Field: "Routes[" + strconv.Itoa(i) + "]", Problem: fmt.Sprintf("%q is not HOST:PORT or nats-route://HOST:PORT", cfg.Routes[i])}
		}
		o.Routes = append(o.Routes, u)
	}
	return o, nil
}

// Start starts the node and waits (bounded by ctx) until it accepts client
// connections. It does not wait for the cluster to form: see Ready.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	o, err := cfg.Options()
	if err != nil {
		return nil, err
	}
	if cfg.Cluster != "" {
		if err := setElectionTimeout(cmp.Or(cfg.ElectionTimeout, DefaultElectionTimeout)); err != nil {
			return nil, err
		}
	}
	ns, err := server.NewServer(o)
	if err != nil {
		return nil, fmt.Errorf("jobsnode: node %s: %w", cfg.Name, err)
	}
	if cfg.Log {
		ns.ConfigureLogger()
	}
	ns.Start()
	wait := 30 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		wait = time.Until(dl)
	}
	if !ns.ReadyForConnections(wait) {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("jobsnode: node %s did not accept connections within %v (is %s or %s in use?)", cfg.Name, wait, cfg.Listen, cfg.Cluster)
	}
	return &Node{cfg: cfg, ns: ns}, nil
}

// Name is the node's server name.
func (n *Node) Name() string { return n.cfg.Name }

// ClientURL is the URL clients connect to (an element of jobs.Config.URLs),
// such as nats://127.0.0.1:4222.
func (n *Node) ClientURL() string { return n.ns.ClientURL() }

// ClusterAddr is the cluster listener's HOST:PORT (what other nodes put in
// their Routes); "" without clustering.
func (n *Node) ClusterAddr() string {
	a := n.ns.ClusterAddr()
	if a == nil {
		return ""
	}
	return a.String()
}

// Ready waits until JetStream has a meta leader (the cluster formed and
// elected one, or a single server is up) and this node is current with it,
// polling every 50 ms until ctx ends.
func (n *Node) Ready(ctx context.Context) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if n.ns.JetStreamEnabled() && (!n.ns.JetStreamIsClustered() || n.ns.JetStreamIsCurrent()) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("jobsnode: node %s: JetStream not ready: %w (do its routes reach a majority of the nodes?)", n.cfg.Name, ctx.Err())
		case <-t.C:
		}
	}
}

// Close stops the node and waits until it has stopped. It is idempotent.
func (n *Node) Close() error {
	n.ns.Shutdown()
	n.ns.WaitForShutdown()
	return nil
}
