package jobsexec_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/herdrun/herd/jobs"
	"github.com/herdrun/herd/jobs/jobsexec"
)

const benchPy = `import json, sys
for line in sys.stdin:
    job = json.loads(line)
    print(json.dumps({"id": job["id"], "result": job["args"]}), flush=True)
`

const benchOncePy = `import json, sys
print(json.dumps(json.load(sys.stdin)))
`

const benchJS = `process.on('message', (job) => process.send({ id: job.id, result: job.args }));
`

// BenchmarkJobs runs b.N no-op jobs through a store and a worker of
// concurrency 2, with the handler in Go, or in Python or Node, one-shot or
// kept, and reports jobs/s:
//
//	go test ./jobs/jobsexec -run '^$' -bench Jobs -benchtime 200x
func BenchmarkJobs(b *testing.B) {
	dir := b.TempDir()
	for name, text := range map[string]string{"kept.py": benchPy, "once.py": benchOncePy, "kept.js": benchJS} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	node, _ := exec.LookPath("node")
	for _, bc := range []struct {
		name string
		cfg  *jobsexec.Config
	}{
		{"go", nil},
		{"python-once", &jobsexec.Config{Command: []string{"python3", filepath.Join(dir, "once.py")}}},
		{"python-kept", &jobsexec.Config{Command: []string{"python3", filepath.Join(dir, "kept.py")}, Keep: true}},
		{"node-kept", &jobsexec.Config{Command: []string{node, filepath.Join(dir, "kept.js")}, Keep: true}},
		{"node-once", &jobsexec.Config{Command: []string{node, filepath.Join(dir, "kept.js")}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if bc.cfg != nil && bc.cfg.Command[0] == "" {
				b.Skip("no node")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			c, err := jobs.Open(ctx, jobs.Config{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			if bc.cfg == nil {
				jobs.Register(c, "k", func(_ context.Context, j *jobs.Job[json.RawMessage]) (json.RawMessage, error) { return j.Args, nil })
			} else {
				r, err := jobsexec.New(*bc.cfg)
				if err != nil {
					b.Fatal(err)
				}
				defer r.Close()
				jobsexec.Register(c, "k", r)
			}
			wctx, stop := context.WithCancel(ctx)
			worked := make(chan error, 1)
			go func() {
				worked <- c.Work(wctx, jobs.WorkOptions{Queues: map[string]jobs.QueueConfig{jobs.DefaultQueue: {Concurrency: 2}}})
			}()
			defer func() { stop(); <-worked }()
			reqs := make([]jobs.Request, b.N)
			for i := range reqs {
				reqs[i] = jobs.Request{Kind: "k", Args: i}
			}
			b.ResetTimer()
			ids, err := c.SubmitMany(ctx, reqs)
			if err != nil {
				b.Fatal(err)
			}
			for _, id := range ids {
				info, err := c.Wait(ctx, id)
				if err != nil || info.State != jobs.StateSucceeded {
					b.Fatalf("%s: %v %s", info.State, err, info.Error)
				}
			}
			b.StopTimer() // not the shutdown of the worker and the store
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
		})
	}
}
