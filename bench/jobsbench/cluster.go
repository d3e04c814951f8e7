package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/herdrun/herd/jobs/jobsnode"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// clusterStartTimeout bounds how long the loopback cluster may take to form
// and to place a stream of three replicas.
const clusterStartTimeout = 2 * time.Minute

// cluster is the -replicas mode's JetStream cluster: three jobsnode nodes in
// this process, each with its own file store (synced every syncInterval, as
// the embedded servers), listening for clients and routes on loopback. herd
// and raw JetStream reach it over TCP, as an application would. Its nodes'
// CPU counts in this process's rusage, as the embedded servers' does for the
// R1 contenders.
type cluster struct {
	nodes []*jobsnode.Node
	urls  []string
	nc    *nats.Conn // for deleting streams between measurements
	js    jetstream.JetStream
}

// startCluster starts the nodes under dir and returns once JetStream has a
// meta leader and can place a stream of replicas replicas: a cluster whose
// meta leader has not heard from every peer yet answers "no suitable peers
// for placement".
func startCluster(ctx context.Context, dir string, replicas int) (_ *cluster, err error) {
	ctx, cancel := context.WithTimeout(ctx, clusterStartTimeout)
	defer cancel()
	c := &cluster{}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	var routes []string
	for range 3 {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		routes = append(routes, "127.0.0.1:"+strconv.Itoa(p))
	}
	for i := range routes {
		n, err := jobsnode.Start(ctx, jobsnode.Config{
			Name: "n" + strconv.Itoa(i+1), StoreDir: filepath.Join(dir, strconv.Itoa(i)),
			Listen: "127.0.0.1:0", Cluster: routes[i], Routes: routes, SyncInterval: syncInterval,
		})
		if err != nil {
			return nil, err
		}
		c.nodes = append(c.nodes, n)
		c.urls = append(c.urls, n.ClientURL())
	}
	for _, n := range c.nodes {
		if err := n.Ready(ctx); err != nil {
			return nil, err
		}
	}
	if c.nc, err = nats.Connect(strings.Join(c.urls, ",")); err != nil {
		return nil, err
	}
	if c.js, err = jetstream.New(c.nc); err != nil {
		return nil, err
	}
	probe := jetstream.StreamConfig{Name: "placement_probe", Subjects: []string{"placement.probe"}, Storage: jetstream.MemoryStorage, Replicas: replicas}
	for {
		rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := c.js.CreateStream(rctx, probe)
		rcancel()
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("the cluster cannot place %d replicas after %s: %w", replicas, clusterStartTimeout, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return c, c.js.DeleteStream(ctx, probe.Name)
}

// deleteStreams deletes every stream whose name holds prefix+"_": a herd
// store's work and token streams, KV buckets and object store.
func (c *cluster) deleteStreams(ctx context.Context, prefix string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	names := c.js.StreamNames(ctx)
	var del []string
	for n := range names.Name() {
		if strings.Contains(n, prefix+"_") {
			del = append(del, n)
		}
	}
	if err := names.Err(); err != nil {
		return err
	}
	for _, n := range del {
		if err := c.js.DeleteStream(ctx, n); err != nil {
			return fmt.Errorf("delete stream %s: %w", n, err)
		}
	}
	return nil
}

// Close stops the nodes.
func (c *cluster) Close() error {
	if c.nc != nil {
		c.nc.Close()
	}
	for _, n := range c.nodes {
		n.Close()
	}
	return nil
}
