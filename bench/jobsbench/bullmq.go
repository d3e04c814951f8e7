package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// bullBench is BullMQ on a redis-server this benchmark started, driven
// through bench/node/jobs-bullmq.js, which stays up between rounds.
//
// With replica set (the -replicas mode's "bullmq replica"), a second
// redis-server runs as --replicaof the first, and the script waits for the
// replica to acknowledge every write it must keep (REDIS_WAIT=1, see the
// script): Redis replicates asynchronously, so without WAIT an acknowledged
// job could be lost with the primary.
type bullBench struct {
	redis   *dbServer
	replica *dbServer
	cmd     *exec.Cmd
	in      io.WriteCloser
	out     *bufio.Reader
}

// bullMQModule is the file whose absence means `npm ci` has not run in
// bench/node.
func bullMQModule(nodeDir string) string {
	return filepath.Join(nodeDir, "node_modules", "bullmq", "package.json")
}

func startBullMQ(ctx context.Context, dir, nodeDir string, log io.Writer, replica bool) (_ *bullBench, err error) {
	if _, err := exec.LookPath("node"); err != nil {
		return nil, &missingToolError{Tool: "node", Install: "install Node 20 and put node on PATH", Err: err}
	}
	if _, err := os.Stat(bullMQModule(nodeDir)); err != nil {
		return nil, &missingToolError{Tool: "bullmq (npm)", Install: "npm ci --prefix " + nodeDir, Err: err}
	}
	redis, port, err := startRedis(ctx, dir, log)
	if err != nil {
		return nil, err
	}
	b := &bullBench{redis: redis}
	env := append(os.Environ(), "REDIS_PORT="+strconv.Itoa(port))
	if replica {
		rdir := filepath.Join(dir, "replica")
		if err := os.Mkdir(rdir, 0o755); err != nil {
			redis.Close()
			return nil, err
		}
		if b.replica, _, err = startRedis(ctx, rdir, log, "--replicaof", "127.0.0.1", strconv.Itoa(port)); err != nil {
			redis.Close()
			return nil, err
		}
		env = append(env, "REDIS_WAIT=1")
		defer func() {
			if err != nil && b.cmd.Process == nil {
				b.replica.Close()
			}
		}()
	}
	b.cmd = exec.Command("node", filepath.Join(nodeDir, "jobs-bullmq.js"))
	b.cmd.Env = env
	b.cmd.Stderr = log
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	b.cmd.WaitDelay = 5 * time.Second
	if b.in, err = b.cmd.StdinPipe(); err != nil {
		redis.Close()
		return nil, err
	}
	out, err := b.cmd.StdoutPipe()
	if err != nil {
		redis.Close()
		return nil, err
	}
	b.out = bufio.NewReader(out)
	if err := b.cmd.Start(); err != nil {
		redis.Close()
		return nil, err
	}
	var ready struct{ Ready bool }
	if err := b.call(nil, &ready); err != nil || !ready.Ready {
		b.Close()
		return nil, fmt.Errorf("bullmq: the node script did not start: %v", err)
	}
	return b, nil
}

// call sends req (nothing when nil) and decodes the reply line into v. A
// reply {"error":...} becomes an error.
func (b *bullBench) call(req map[string]any, v any) error {
	if req != nil {
		line, _ := json.Marshal(req)
		if _, err := b.in.Write(append(line, '\n')); err != nil {
			return fmt.Errorf("bullmq: %w", err)
		}
	}
	line, err := b.out.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("bullmq: reading the node script's reply: %w", err)
	}
	var e struct{ Error string }
	if json.Unmarshal(line, &e) == nil && e.Error != "" {
		return errors.New("bullmq: " + e.Error)
	}
	return json.Unmarshal(line, v)
}

func (b *bullBench) seconds(req map[string]any, n int) (float64, error) {
	var r struct{ Seconds float64 }
	if err := b.call(req, &r); err != nil {
		return 0, err
	}
	if r.Seconds <= 0 {
		return 0, fmt.Errorf("bullmq: %v took %v s", req, r.Seconds)
	}
	return float64(n) / r.Seconds, nil
}

func (b *bullBench) one(ctx context.Context, n int) (float64, error) {
	return b.seconds(map[string]any{"op": "one", "n": n}, n)
}

func (b *bullBench) bulk(ctx context.Context, n, batch int) (float64, error) {
	return b.seconds(map[string]any{"op": "bulk", "n": n, "batch": batch}, n)
}

func (b *bullBench) burn(ctx context.Context, n, conc, batch int) (burnResult, error) {
	if _, err := b.seconds(map[string]any{"op": "fill", "n": n, "batch": batch}, n); err != nil {
		return burnResult{}, err
	}
	node, redis := b.cmd.Process.Pid, b.redis.cmd.Process.Pid
	replica := 0
	if b.replica != nil {
		replica = b.replica.cmd.Process.Pid
	}
	meter := cpuMeter(func() time.Duration {
		t := pidCPU(node) + pidCPU(redis)
		if replica != 0 {
			t += pidCPU(replica)
		}
		return t
	})
	c0 := meter()
	x, err := b.seconds(map[string]any{"op": "drain", "n": n, "concurrency": conc}, n)
	if err != nil {
		return burnResult{}, err
	}
	return burnResult{rate: x, cpu: float64(meter()-c0) / float64(time.Microsecond) / float64(n)}, nil
}

func (b *bullBench) latency(ctx context.Context, n, warm int) ([]float64, error) {
	var r struct{ Ms []float64 }
	if err := b.call(map[string]any{"op": "latency", "n": n, "warm": warm}, &r); err != nil {
		return nil, err
	}
	return r.Ms, nil
}

// Close ends the node script (closing its stdin lets it close the queue
// and exit) and then redis-server.
func (b *bullBench) Close() error {
	if b.in != nil {
		b.in.Close()
	}
	if b.cmd != nil && b.cmd.Process != nil {
		done := make(chan struct{})
		go func() { b.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			b.cmd.Process.Kill()
			<-done
		}
	}
	err := b.redis.Close()
	if b.replica != nil {
		b.replica.Close()
	}
	return err
}
