package cluster_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/herdrun/herd/cluster"
)

// Drive the cluster from the primary: New, then Run in the background;
// Ready says when every worker serves, Addrs where, Workers who they are,
// Reload replaces them one by one, OnEvent tells what happens to them, and
// Shutdown stops them. The workers run hello (see ExampleRun).
func ExampleCluster() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := exampleConfig()
	retired := make(chan int, 4) // workers that drained and exited
	cfg.OnEvent = func(e cluster.Event) {
		if e.Kind == cluster.EventExit && e.Expected {
			select {
			case retired <- e.PID:
			default:
			}
		}
	}
	c := cluster.New(cfg, hello)
	ran := make(chan error, 1)
	go func() { ran <- c.Run(ctx) }()
	select {
	case <-c.Ready():
	case err := <-ran:
		fmt.Println("Run:", err)
		return
	}

	url := "http://" + c.Addrs()[0].String() + "/"
	before := pids(c)
	fmt.Println(len(before), "workers; / answered by one of them:", slices.Contains(before, answeredBy(url)))

	if err := c.Reload(ctx); err != nil {
		fmt.Println("reload:", err) // the old workers would still be serving
	}
	for range before {
		select {
		case <-retired:
		case <-ctx.Done():
		}
	}
	after := pids(c)
	fmt.Println(len(after), "new workers; / answered by one of them:", slices.Contains(after, answeredBy(url)))
	fmt.Println("any old worker left:", slices.ContainsFunc(after, func(p int) bool { return slices.Contains(before, p) }))

	fmt.Println("Shutdown:", c.Shutdown(ctx))
	fmt.Println("Run:", <-ran)
	// Output:
	// 2 workers; / answered by one of them: true
	// 2 new workers; / answered by one of them: true
	// any old worker left: false
	// Shutdown: <nil>
	// Run: <nil>
}

// pids returns the process ids of the cluster's workers.
func pids(c *cluster.Cluster) []int {
	var ps []int
	for _, w := range c.Workers() {
		ps = append(ps, w.PID)
	}
	return ps
}

// answeredBy GETs url on a new connection and returns the pid in "Handled
// by worker <pid>", or 0.
func answeredBy(url string) int {
	cl := &http.Client{Timeout: time.Minute, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := cl.Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	pid, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(string(b), "Handled by worker ")))
	return pid
}
