package jobsnode

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
)

// startCluster starts three nodes on loopback; the test closes them.
func startCluster(t *testing.T) []*Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	var nodes []*Node
	var routes []string
	for range 3 {
		routes = append(routes, "127.0.0.1:"+strconv.Itoa(testutil.FreePort(t)))
	}
	for i, name := range []string{"n1", "n2", "n3"} {
		n, err := Start(ctx, Config{
			Name: name, StoreDir: filepath.Join(dir, name),
			Listen: "127.0.0.1:0", Cluster: routes[i], Routes: routes,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.Close() })
		nodes = append(nodes, n)
	}
	for _, n := range nodes {
		if err := n.Ready(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return nodes
}

func TestCluster(t *testing.T) {
	nodes := startCluster(t)
	for _, n := range nodes {
		if !strings.HasPrefix(n.ClientURL(), "nats://127.0.0.1:") {
			t.Errorf("%s: ClientURL %q, want loopback", n.Name(), n.ClientURL())
		}
		if !strings.HasPrefix(n.ClusterAddr(), "127.0.0.1:") {
			t.Errorf("%s: ClusterAddr %q, want loopback", n.Name(), n.ClusterAddr())
		}
		if got := n.ns.NumRoutes(); got < 2 {
			t.Errorf("%s: %d routes, want a full mesh (2)", n.Name(), got)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg   Config
		field string
	}{
		{Config{StoreDir: "x"}, "Name"},
		{Config{Name: "a b", StoreDir: "x"}, "Name"},
		{Config{Name: "n1"}, "StoreDir"},
		{Config{Name: "n1", StoreDir: "x", Listen: "4222"}, "Listen"},
		{Config{Name: "n1", StoreDir: "x", Listen: "h:port"}, "Listen"},
		{Config{Name: "n1", StoreDir: "x", Cluster: "h:99999", Routes: []string{"h:1"}}, "Cluster"},
		{Config{Name: "n1", StoreDir: "x", Cluster: "127.0.0.1:0"}, "Routes"},
		{Config{Name: "n1", StoreDir: "x", Routes: []string{"127.0.0.1:6222"}}, "Routes"},
		{Config{Name: "n1", StoreDir: "x", Cluster: "127.0.0.1:0", Routes: []string{"nohost"}}, "Routes[0]"},
	} {
		_, err := tc.cfg.Options()
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != tc.field || !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: got %v, want a ConfigError on %s", tc.cfg, err, tc.field)
		}
	}
}
