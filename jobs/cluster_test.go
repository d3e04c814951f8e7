package jobs

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
	"github.com/herdrun/herd/jobs/jobsnode"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startCluster starts three in-process nodes of a loopback cluster and
// returns their client URLs once the cluster can place a stream of three
// replicas; the test stops them.
func startCluster(t testing.TB) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	var routes []string
	for range 3 {
		routes = append(routes, "127.0.0.1:"+strconv.Itoa(testutil.FreePort(t)))
	}
	var nodes []*jobsnode.Node
	for i := range routes {
		n, err := jobsnode.Start(ctx, jobsnode.Config{
			Name: "n" + strconv.Itoa(i+1), StoreDir: filepath.Join(dir, strconv.Itoa(i)),
			Listen: "127.0.0.1:0", Cluster: routes[i], Routes: routes,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.Close() })
		nodes = append(nodes, n)
	}
	var urls []string
	for _, n := range nodes {
		if err := n.Ready(ctx); err != nil {
			t.Fatal(err)
		}
		urls = append(urls, n.ClientURL())
	}
	// Every node is current, but the meta leader may not have heard from
	// every peer yet ("no suitable peers for placement, peer offline").
	nc, err := nats.Connect(strings.Join(urls, ","))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	probe := jetstream.StreamConfig{Name: "placement_probe", Subjects: []string{"placement.probe"}, Storage: jetstream.MemoryStorage, Replicas: 3}
	for {
		_, err := js.CreateStream(ctx, probe)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the cluster cannot place three replicas: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := js.DeleteStream(ctx, probe.Name); err != nil {
		t.Fatal(err)
	}
	return urls
}

// TestReplicas: Config.Replicas 3 on a cluster makes every stream, bucket
// and object store of the prefix with three replicas, and jobs run on it.
func TestReplicas(t *testing.T) {
	urls := startCluster(t)
	c := open(t, Config{URLs: urls, Replicas: 3})
	Register(c, "echo", func(ctx context.Context, j *Job[int]) (int, error) { return j.Args + 1, nil })
	work(t, c, WorkOptions{})
	ctx := bg(t)
	id, err := c.Submit(ctx, "echo", 41, SubmitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Wait(ctx, id)
	if err != nil || info.State != StateSucceeded || string(info.Result) != "42" {
		t.Fatalf("Wait: %+v, %v", info, err)
	}
	names := []string{"herd_work", "herd_tokens", "KV_herd_jobs", "KV_herd_kinds", "KV_herd_unique", "OBJ_herd_results"}
	for _, name := range names {
		s, err := c.js.Stream(ctx, name)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		si := s.CachedInfo()
		if si.Config.Replicas != 3 || si.Cluster == nil || len(si.Cluster.Replicas) != 2 {
			t.Errorf("stream %s: Replicas %d, cluster %+v; want 3 replicas", name, si.Config.Replicas, si.Cluster)
		}
	}
	// The work consumers inherit the stream's replicas.
	cons, err := c.work.Consumer(ctx, c.consumerName(DefaultQueue, PriorityNormal.level()))
	if err != nil {
		t.Fatal(err)
	}
	if ci := cons.CachedInfo(); ci.Cluster == nil || len(ci.Cluster.Replicas) != 2 {
		t.Errorf("work consumer: cluster %+v, want 3 replicas", ci.Cluster)
	}
}

// TestReplicasTooMany: more replicas than nodes is a clear error from Open.
func TestReplicasTooMany(t *testing.T) {
	urls := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Open(ctx, Config{URLs: urls, Replicas: 5, Prefix: "five"})
	if err == nil {
		_ = c.Close()
		t.Fatal("Open with Replicas 5 on 3 nodes succeeded")
	}
	if !strings.Contains(err.Error(), "five_work") || !strings.Contains(err.Error(), "Replicas") {
		t.Errorf("Open: %v; want the stream and a hint about Replicas", err)
	}
}

func TestReplicasBad(t *testing.T) {
	ctx := bg(t)
	for _, cfg := range []Config{
		{URLs: []string{"nats://127.0.0.1:1"}, Replicas: 6},
		{Dir: t.TempDir(), Replicas: 3},
	} {
		_, err := Open(ctx, cfg)
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != "Config.Replicas" {
			t.Errorf("%+v: got %v, want a ValidationError on Config.Replicas", cfg, err)
		}
	}
}
