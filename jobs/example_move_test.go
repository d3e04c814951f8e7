package jobs_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/herdrun/herd/jobs"
)

// Moving the jobs of one store into another: here two embedded stores; the
// same calls move an embedded store to a cluster (Config.URLs) and back.
// Importing the file a second time stores nothing twice.
func ExampleClient_Export() {
	dir, _ := os.MkdirTemp("", "jobs-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	from, err := jobs.Open(ctx, jobs.Config{Dir: filepath.Join(dir, "from")})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = from.Declare(ctx, "report")
	id, _ := from.Submit(ctx, "report", map[string]string{"month": "2026-11"}, jobs.SubmitOptions{})
	file, _ := os.Create(filepath.Join(dir, "jobs.jsonl"))
	st, err := from.Export(ctx, file)
	file.Close()
	from.Close()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("exported", st.Jobs, "job(s)")

	to, err := jobs.Open(ctx, jobs.Config{Dir: filepath.Join(dir, "to")})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer to.Close()
	for range 2 {
		file, _ := os.Open(filepath.Join(dir, "jobs.jsonl"))
		st, err := to.Import(ctx, file, jobs.ImportOptions{})
		file.Close()
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("imported", st.Jobs, "skipped", st.Skipped)
	}
	info, _ := to.Get(ctx, id)
	fmt.Println(info.State, string(info.Args))
	// Output:
	// exported 1 job(s)
	// imported 1 skipped 0
	// imported 0 skipped 1
	// queued {"month":"2026-11"}
}

// The store comes from the environment when it names one: here the
// variables that herd sets from herd.yaml's jobs: block for a cluster.
func ExampleConfig_WithEnv() {
	env := map[string]string{
		jobs.EnvNATS:     "nats://10.0.0.1:4222,nats://10.0.0.2:4222,nats://10.0.0.3:4222",
		jobs.EnvReplicas: "3",
	}
	cfg, err := jobs.Config{Dir: "data/jobs"}.WithEnv(func(k string) string { return env[k] })
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("dir %q, %d URLs, %d replicas\n", cfg.Dir, len(cfg.URLs), cfg.Replicas)
	// Output: dir "", 3 URLs, 3 replicas
}
