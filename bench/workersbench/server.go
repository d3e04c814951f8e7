package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herdrun/herd/bench/internal/report"
	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/ipc"
	"github.com/herdrun/herd/workers"
)

func init() {
	// The herd side of the responsiveness scenario, in its own process as
	// the Node server is: GET / on the request path, GET /heavy on a
	// 2-process pool with the default options, or with Nice: 5 or
	// Idle: true, as WORKERSBENCH_POOL says (default, nice5, idle).
	child.Register("workersbench.server", func(ctx context.Context, parent *ipc.Conn) error {
		opts := workers.Options{Backend: workers.Processes, Size: 2, Name: "bench-heavy"}
		switch os.Getenv("WORKERSBENCH_POOL") {
		case "nice5":
			opts.Nice = 5
		case "idle":
			opts.Idle = true
		}
		pool, err := workers.New(taskHeavy, &opts)
		if err != nil {
			return err
		}
		defer pool.Kill()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		mux := http.NewServeMux()
		mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "OK") })
		mux.HandleFunc("GET /heavy", func(w http.ResponseWriter, r *http.Request) {
			n, _ := strconv.Atoi(r.URL.Query().Get("n"))
			sum, err := pool.Run(r.Context(), n)
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			io.WriteString(w, "Result is "+strconv.FormatFloat(sum, 'f', -1, 64))
		})
		srv := &http.Server{Handler: mux}
		go srv.Serve(ln)
		window(pool, 1000, 2, 2) // both workers up before we say ready
		if err := parent.Send(ctx, map[string]int{"port": ln.Addr().(*net.TCPAddr).Port}); err != nil {
			return err
		}
		<-ctx.Done()
		srv.Close()
		return nil
	})
}

// calibrateHeavy returns the loop count that takes about d in Go here.
func calibrateHeavy(d time.Duration) int {
	n := 1_000_000
	var best time.Duration = 1 << 62
	for range 5 {
		t0 := time.Now()
		sink.Add(int64(heavy(n)))
		best = min(best, time.Since(t0))
	}
	return int(float64(n) * float64(d) / float64(best))
}

type server struct {
	base string
	stop func()
}

// startHerdServer starts the herd server with the pool settings named
// pool: default, nice5 or idle.
func startHerdServer(pool string) (*server, error) {
	ctx, cancel := context.WithCancel(context.Background())
	p, err := child.ForkSelf(ctx, "workersbench.server", nil, &child.Options{Stderr: os.Stderr, Env: append(os.Environ(), "WORKERSBENCH_POOL="+pool)})
	if err != nil {
		cancel()
		return nil, err
	}
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	defer rcancel()
	m, err := p.Channel.Recv(rctx)
	if err != nil {
		cancel()
		p.Wait()
		return nil, fmt.Errorf("herd server: %w", err)
	}
	var r struct{ Port int }
	m.Decode(&r)
	return &server{base: fmt.Sprintf("http://127.0.0.1:%d", r.Port), stop: func() {
		p.Channel.Close()
		cancel()
		p.Wait()
	}}, nil
}

func startNodeServer(dir string) (*server, error) {
	cmd := exec.Command("node", filepath.Join(dir, "workers-server.js"))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadBytes('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("node server: %w", err)
	}
	var r struct{ Port int }
	json.Unmarshal(line, &r)
	return &server{base: fmt.Sprintf("http://127.0.0.1:%d", r.Port), stop: func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Process.Kill()
		cmd.Wait()
	}}, nil
}

// load puts 4 clients on /heavy for d while a prober gets / every 10ms,
// and returns the probes' p99 in ms and the heavy requests per second.
func load(base string, n int, d time.Duration) (p99ms, heavyPerSec float64) {
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	get := func(url string) error {
		resp, err := c.Get(url)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		return nil
	}
	get(base + "/") // warm the connection
	end := time.Now().Add(d)
	var heavyDone atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				if err := get(fmt.Sprintf("%s/heavy?n=%d", base, n)); err != nil {
					fatal(err)
				}
				heavyDone.Add(1)
			}
		}()
	}
	var lat []float64
	t0 := time.Now()
	for time.Now().Before(end) {
		s := time.Now()
		if err := get(base + "/"); err != nil {
			fatal(err)
		}
		lat = append(lat, float64(time.Since(s).Microseconds())/1e3)
		time.Sleep(10 * time.Millisecond)
	}
	wg.Wait()
	return report.Percentile(lat, 99), float64(heavyDone.Load()) / time.Since(t0).Seconds()
}

func responsiveness(p params, nodeDir string, log io.Writer) ([]report.Row, error) {
	n := calibrateHeavy(50 * time.Millisecond)
	var servers []*server
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	for _, pool := range []string{"default", "nice5", "idle"} {
		s, err := startHerdServer(pool)
		if err != nil {
			return nil, err
		}
		servers = append(servers, s)
	}
	ns, err := startNodeServer(nodeDir)
	if err != nil {
		return nil, err
	}
	servers = append(servers, ns)
	// p99s and heavy rates per server, in the order above; the servers take
	// turns within each round.
	p99 := make([][]float64, len(servers))
	rate := make([][]float64, len(servers))
	for range p.respRounds {
		for i, s := range servers {
			a, b := load(s.base, n, p.respDur)
			p99[i], rate[i] = append(p99[i], a), append(rate[i], b)
		}
	}
	fmt.Fprintf(log, "heavy n = %d\n", n)
	note := fmt.Sprintf("GET /heavy = heavyCalculation(%d), about 50ms of CPU, on a 2-worker pool; 4 /heavy clients while GET / is probed every 10ms", n)
	pnote := note + fmt.Sprintf("; each sample is one %v round's p99", p.respDur)
	node := func(xs []float64) report.Series { return report.Series{Name: "node+piscina", Samples: xs} }
	return []report.Row{
		{Suite: "workers", Name: "responsiveness: light-request p99 under heavy load", Unit: "ms", Better: "lower",
			Herd: report.Series{Name: "herd process pool, default options", Samples: p99[0]}, Peers: []report.Series{node(p99[3])},
			TargetPeer: "node+piscina", TargetRatio: 0.5, Note: pnote},
		{Suite: "workers", Name: "responsiveness: heavy throughput", Unit: "req/s", Better: "higher",
			Herd: report.Series{Name: "herd process pool, default options", Samples: rate[0]}, Peers: []report.Series{node(rate[3])},
			TargetPeer: "node+piscina", TargetRatio: 1.0, Note: note},
		{Suite: "workers", Name: "responsiveness with Options.Nice 5: light-request p99", Unit: "ms", Better: "lower",
			Herd:  report.Series{Name: "herd nice-5 pool", Samples: p99[1]},
			Peers: []report.Series{node(p99[3]), {Name: "herd default pool", Samples: p99[0]}},
			Note:  pnote + "; the pool's workers at nice 5"},
		{Suite: "workers", Name: "responsiveness with Options.Nice 5: heavy throughput", Unit: "req/s", Better: "higher",
			Herd:  report.Series{Name: "herd nice-5 pool", Samples: rate[1]},
			Peers: []report.Series{node(rate[3]), {Name: "herd default pool", Samples: rate[0]}},
			Note:  note + "; the pool's workers at nice 5"},
		{Suite: "workers", Name: "responsiveness with Options.Idle: light-request p99", Unit: "ms", Better: "lower",
			Herd:  report.Series{Name: "herd idle pool", Samples: p99[2]},
			Peers: []report.Series{node(p99[3]), {Name: "herd default pool", Samples: p99[0]}},
			Note:  pnote + "; the pool's workers under SCHED_IDLE"},
		{Suite: "workers", Name: "responsiveness with Options.Idle: heavy throughput", Unit: "req/s", Better: "higher",
			Herd:  report.Series{Name: "herd idle pool", Samples: rate[2]},
			Peers: []report.Series{node(rate[3]), {Name: "herd default pool", Samples: rate[0]}},
			Note:  note + "; the pool's workers under SCHED_IDLE"},
	}, nil
}
