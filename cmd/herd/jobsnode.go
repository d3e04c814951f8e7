package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/herdrun/herd/jobs/jobsnode"
	"github.com/spf13/cobra"
)

const jobsNodeLong = `Run one NATS server with JetStream as a node of a jobs cluster, in the
foreground, until SIGINT or SIGTERM.

  herd jobs node --name n1 --store /var/lib/herd/n1 \
      --listen 10.0.0.1:4222 --cluster 10.0.0.1:6222 \
      --routes 10.0.0.1:6222,10.0.0.2:6222,10.0.0.3:6222

Give every node a unique --name (keep it across restarts), its own
--store, and the same --routes list (every node's --cluster address).
Applications connect with jobs.Config{URLs: [every node's client URL],
Replicas: 3}. Without --cluster the node runs alone.

When the node is ready (the cluster has elected a JetStream leader) it
prints one line to stdout:

  ready n1 nats://10.0.0.1:4222 cluster 10.0.0.1:6222`

func newJobsNodeCmd() *cobra.Command {
	var cfg jobsnode.Config
	var routes string
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run one NATS JetStream node of a jobs cluster",
		Long:  jobsNodeLong,
		Args:  cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if routes != "" {
				cfg.Routes = strings.Split(routes, ",")
			}
			if _, err := cfg.Options(); err != nil {
				return &usageError{nodeFlagError(err)}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			n, err := jobsnode.Start(ctx, cfg)
			if err != nil {
				return err
			}
			defer n.Close()
			if err := n.Ready(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ready %s %s cluster %s\n", n.Name(), n.ClientURL(), n.ClusterAddr())
			<-ctx.Done()
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Name, "name", "", "the node's server name, unique in the cluster (required)")
	f.StringVar(&cfg.StoreDir, "store", "", "the node's JetStream directory (required)")
	f.StringVar(&cfg.Listen, "listen", jobsnode.DefaultListen, "client listener HOST:PORT")
	f.StringVar(&cfg.Cluster, "cluster", "", "cluster listener HOST:PORT (empty: no cluster)")
	f.StringVar(&routes, "routes", "", "every node's cluster HOST:PORT, comma-separated")
	f.StringVar(&cfg.ClusterName, "cluster-name", jobsnode.DefaultClusterName, "the NATS cluster's name, the same on every node")
	f.DurationVar(&cfg.ElectionTimeout, "election-timeout", jobsnode.DefaultElectionTimeout, "how long a follower waits after its raft leader's last heartbeat before it calls an election (a random time up to twice this; nats-server's own is 4s, up to 9s)")
	f.BoolVar(&cfg.Log, "log", false, "print the server's log to stderr")
	return cmd
}

// nodeFlagError names the flag behind a jobsnode.ConfigError.
func nodeFlagError(err error) error {
	var ce *jobsnode.ConfigError
	if !errors.As(err, &ce) {
		return err
	}
	flag := map[string]string{"Name": "--name", "StoreDir": "--store", "Listen": "--listen", "Cluster": "--cluster", "ElectionTimeout": "--election-timeout"}[ce.Field]
	if strings.HasPrefix(ce.Field, "Routes") {
		flag = "--routes"
	}
	return fmt.Errorf("%s: %s", flag, ce.Problem)
}

const devClusterLong = `Start a three-node jobs cluster on loopback to try a cluster out, print
its URL list on stdout, and run until SIGINT or SIGTERM, which stops all
three nodes. The stores live in a temporary directory that is removed at
the end, unless --dir names one.

  herd jobs dev-cluster
  nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224

--port P uses client ports P, P+1, P+2 and cluster ports P+2000...;
--port 0 picks free ports.`

func newJobsDevClusterCmd() *cobra.Command {
	var dir string
	var port int
	cmd := &cobra.Command{
		Use:   "dev-cluster",
		Short: "Run a three-node jobs cluster on loopback and print its URLs",
		Long:  devClusterLong,
		Args:  cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if port < 0 || port > 65535-2002 {
				return &usageError{fmt.Errorf("--port: %d is out of range (write 0 for free ports, or a port up to %d)", port, 65535-2002)}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			if dir == "" {
				d, err := os.MkdirTemp("", "herd-dev-cluster-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(d)
				dir = d
			}
			listen, routes, err := devPorts(port)
			if err != nil {
				return err
			}
			var nodes []*jobsnode.Node
			defer func() {
				for _, n := range nodes {
					_ = n.Close()
				}
			}()
			sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			for i := range 3 {
				name := "n" + strconv.Itoa(i+1)
				n, err := jobsnode.Start(sctx, jobsnode.Config{
					Name: name, StoreDir: filepath.Join(dir, name),
					Listen: listen[i], Cluster: routes[i], Routes: routes,
				})
				if err != nil {
					return err
				}
				nodes = append(nodes, n)
			}
			var urls []string
			for _, n := range nodes {
				if err := n.Ready(sctx); err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return err
				}
				urls = append(urls, n.ClientURL())
			}
			fmt.Fprintln(cmd.OutOrStdout(), strings.Join(urls, ","))
			fmt.Fprintf(cmd.ErrOrStderr(), "herd: 3 nodes ready (stores in %s); use jobs.Config{URLs: ..., Replicas: 3}; Ctrl-C stops them\n", dir)
			<-ctx.Done()
			return nil
		}),
	}
	cmd.Flags().StringVar(&dir, "dir", "", "keep the nodes' stores here (default: a temporary directory, removed at exit)")
	cmd.Flags().IntVar(&port, "port", 4222, "first client port (0: free ports)")
	return cmd
}

// devPorts returns the client and cluster addresses of three loopback
// nodes from the first client port, or free ports for 0.
func devPorts(port int) (listen, cluster []string, err error) {
	for i := range 3 {
		if port == 0 {
			c, err := devFreePort()
			if err != nil {
				return nil, nil, err
			}
			r, err := devFreePort()
			if err != nil {
				return nil, nil, err
			}
			listen = append(listen, net.JoinHostPort("127.0.0.1", strconv.Itoa(c)))
			cluster = append(cluster, net.JoinHostPort("127.0.0.1", strconv.Itoa(r)))
			continue
		}
		listen = append(listen, net.JoinHostPort("127.0.0.1", strconv.Itoa(port+i)))
		cluster = append(cluster, net.JoinHostPort("127.0.0.1", strconv.Itoa(port+2000+i)))
	}
	return listen, cluster, nil
}

// devFreePort returns a loopback port that was free a moment ago.
func devFreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
