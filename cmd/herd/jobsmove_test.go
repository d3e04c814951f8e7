package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herdrun/herd/cmd/herd/internal/demo"
	"github.com/herdrun/herd/internal/testutil"
	"github.com/herdrun/herd/jobs"
)

// devCluster runs `herd jobs dev-cluster` until the test ends and returns
// its URLs.
func devCluster(t *testing.T) []string {
	t.Helper()
	h := startHerd(t, nil, "jobs", "dev-cluster", "--port", "0")
	t.Cleanup(func() { stopHerd(t, h) })
	var line string
	testutil.WaitFor(t, "dev-cluster to print its URLs", func() bool {
		select {
		case <-h.p.Done():
			t.Fatalf("dev-cluster exited early\nstderr:\n%s", h.stderr.String())
		default:
		}
		var found bool
		line, _, found = strings.Cut(h.stdout.String(), "\n")
		return found
	})
	return strings.Split(line, ",")
}

// TestJobsExportImport: the jobs of a herd demo's embedded store go to a
// three-node cluster through `herd jobs export` and `import` (twice:
// nothing doubles), found by herd.yaml's jobs: block and by the
// environment, and run there.
func TestJobsExportImport(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	dir := t.TempDir()
	src, err := demo.OpenJobs(ctx, demo.JobsOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for name, o := range map[string]jobs.SubmitOptions{
		"a": {}, "b": {Priority: jobs.PriorityHigh}, "later": {Delay: time.Hour}, "cancelled": {},
	} {
		id, err := src.Client.Submit(ctx, demo.ResizeKind, demo.ResizeArgs{Width: 8, Height: 6}, o)
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = id
	}
	if err := src.Client.Cancel(ctx, ids["cancelled"]); err != nil {
		t.Fatal(err)
	}
	// While the demo holds its directory, export refuses to open it.
	code, _, stderr := runHerd(t, nil, "jobs", "export", "--dir", dir)
	if code != 1 || !strings.Contains(stderr, "in use by a running herd demo") {
		t.Fatalf("export of a demo's dir in use: exit %d, stderr %q", code, stderr)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}

	file := filepath.Join(t.TempDir(), "jobs.jsonl")
	code, stdout, stderr := runHerd(t, nil, "jobs", "export", "--dir", dir, "-o", file)
	if code != 0 || stdout != "" || !strings.Contains(stderr, "exported 4 jobs (2 queued, 1 scheduled, 1 cancelled)") {
		t.Fatalf("export: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if b, err := os.ReadFile(file); err != nil || !strings.HasPrefix(string(b), `{"herd_jobs":1,`) {
		t.Fatalf("export file: %.200s %v", b, err)
	}

	urls := devCluster(t)
	yaml := filepath.Join(t.TempDir(), "herd.yaml")
	if err := os.WriteFile(yaml, []byte("jobs:\n  nats: ["+strings.Join(urls, ", ")+"]\n  replicas: 3\napps: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runHerd(t, nil, "jobs", "import", file, "-c", yaml)
	if code != 0 || !strings.Contains(stdout, "imported 4 jobs") || !strings.Contains(stdout, "0 jobs were there already") {
		t.Fatalf("import: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	env := []string{jobs.EnvNATS + "=" + strings.Join(urls, ","), jobs.EnvReplicas + "=3"}
	code, stdout, stderr = runHerd(t, env, "jobs", "import", file)
	if code != 0 || !strings.Contains(stdout, "imported 0 jobs") || !strings.Contains(stdout, "4 jobs were there already") {
		t.Fatalf("second import: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	// The jobs run on the cluster.
	cfg, err := jobs.Config{}.WithEnv(func(k string) string {
		for _, kv := range env {
			if key, v, _ := strings.Cut(kv, "="); key == k {
				return v
			}
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := jobs.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	demo.RegisterResize(c, t.TempDir())
	wctx, wstop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Work(wctx, jobs.WorkOptions{}) }()
	defer func() {
		wstop()
		if err := <-done; err != nil {
			t.Errorf("Work: %v", err)
		}
	}()
	if err := c.Retry(ctx, ids["cancelled"]); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b", "cancelled"} {
		in, err := c.Wait(ctx, ids[name])
		if err != nil || in.State != jobs.StateSucceeded || len(in.Result) == 0 {
			t.Errorf("%s on the cluster: %+v, %v", name, in, err)
		}
	}
	if in, err := c.Get(ctx, ids["later"]); err != nil || in.State != jobs.StateScheduled {
		t.Errorf("later on the cluster: %+v, %v", in, err)
	}

	// A bad line names the file and the line.
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	os.WriteFile(bad, []byte("{\"herd_jobs\":1}\n{\"type\":\"job\",\"id\":\"x\"}\n"), 0o600)
	code, _, stderr = runHerd(t, nil, "jobs", "import", bad, "-c", yaml)
	if code != 1 || !strings.Contains(stderr, bad+": jobs: import line 2: id: \"x\" is not a ULID") {
		t.Errorf("bad file: exit %d, stderr %q", code, stderr)
	}
}

// TestJobsMoveFlags: no store, a store that is not one, and bad flags,
// each with what to write.
func TestJobsMoveFlags(t *testing.T) {
	empty := t.TempDir()
	yaml := filepath.Join(t.TempDir(), "herd.yaml")
	os.WriteFile(yaml, []byte("jobs:\n  replicas: 9\napps: []\n"), 0o600)
	noEnv := []string{jobs.EnvNATS + "=", jobs.EnvDir + "=", jobs.EnvReplicas + "=", jobs.EnvPrefix + "="}
	for _, tc := range []struct {
		env  []string
		args []string
		code int
		want string
	}{
		{noEnv, []string{"export"}, 2, "no jobs store: give --dir DIR"},
		{noEnv, []string{"export", "--dir", empty}, 1, "holds no jobs store"},
		{noEnv, []string{"export", "--dir", empty, "--nats", "nats://a:1"}, 2, "--dir and --nats are both given"},
		{noEnv, []string{"export", "--nats", "http://a:1"}, 2, "--nats: \"http://a:1\": the scheme must be"},
		{noEnv, []string{"export", "--dir", empty, "--prefix", "a.b"}, 2, "--prefix: \"a.b\""},
		{noEnv, []string{"import", "x.jsonl", "--replicas", "7"}, 2, "--replicas 7: want 1 to 5"},
		{noEnv, []string{"import", "missing.jsonl", "--dir", empty}, 2, "missing.jsonl: no such file"},
		{noEnv, []string{"import", "-", "-c", yaml}, 2, "herd.yaml:2: jobs.replicas: want a number from 1 to 5"},
		{noEnv, []string{"import", "-", "--dir", filepath.Join(empty, "new")}, 1, "stdin: jobs: import line 1: the file is empty"},
		{[]string{jobs.EnvReplicas + "=x"}, []string{"export", "--dir", empty}, 2, "HERD_JOBS_REPLICAS: \"x\""},
	} {
		code, _, stderr := runHerd(t, tc.env, append([]string{"jobs"}, tc.args...)...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
}

// TestDemoJobsOnCluster: herd demo keeps its jobs on a NATS cluster given
// by --jobs-nats, and they run and read back from there.
func TestDemoJobsOnCluster(t *testing.T) {
	urls := devCluster(t)
	h, url := startDemoJobs(t, "--workers", "0", "--grace", "1s", "--jobs-nats", strings.Join(urls, ","), "--jobs-replicas", "3")
	if !strings.Contains(h.stdout.String(), "stored in the NATS cluster at "+strings.Join(urls, ",")) {
		t.Errorf("intro does not name the cluster:\n%s", h.stdout.String())
	}
	code, out, stderr := herdJobs(t, url, "submit", "resize", `{"width":8,"height":6}`, "--wait", "--json")
	if code != 0 || !strings.Contains(out, `"state": "succeeded"`) {
		t.Fatalf("submit --wait: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	var in jobs.Info
	if err := json.Unmarshal([]byte(out), &in); err != nil {
		t.Fatal(err)
	}
	stopHerd(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := jobs.Open(ctx, jobs.Config{URLs: urls})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, err := c.Get(ctx, in.ID); err != nil || got.State != jobs.StateSucceeded {
		t.Fatalf("the job on the cluster after the demo: %+v, %v", got, err)
	}
	// In cluster mode the primary opens the store, here named by the
	// environment, and the job is the same one.
	h = startHerd(t, []string{"HERD_DEMO_LIMIT=1000", jobs.EnvNATS + "=" + strings.Join(urls, ",")}, "demo", "--port", "0", "--workers", "1", "--grace", "1s")
	url, _ = waitListening(t, h)
	code, out, stderr = herdJobs(t, url, "get", in.ID, "--json")
	if code != 0 || !strings.Contains(out, `"state": "succeeded"`) || !strings.Contains(h.stdout.String(), "stored in the NATS cluster") {
		t.Errorf("the job through a cluster-mode demo on the same store: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	stopHerd(t, h)
	code, _, stderr = runHerd(t, nil, "demo", "--port", "0", "--jobs-replicas", "3")
	if code != 2 || !strings.Contains(stderr, "--jobs-replicas 3 needs a cluster") {
		t.Errorf("--jobs-replicas without a cluster: exit %d, stderr %q", code, stderr)
	}
}

// TestRunJobsBlock: herd run gives the apps of a herd.yaml its jobs:
// block as HERD_JOBS_* (an app's own env wins), and the caller's
// environment does not override the file.
func TestRunJobsBlock(t *testing.T) {
	dir := t.TempDir()
	y := filepath.Join(dir, "herd.yaml")
	os.WriteFile(y, []byte(`jobs:
  nats: [nats://10.0.0.1:4222, nats://10.0.0.2:4222]
  replicas: 3
apps:
  - name: api
    command: [sh, -c, 'echo "store=$HERD_JOBS_NATS r=$HERD_JOBS_REPLICAS"']
    restart: never
  - name: solo
    command: [sh, -c, 'echo "store=$HERD_JOBS_NATS r=$HERD_JOBS_REPLICAS"']
    env: {HERD_JOBS_REPLICAS: "1"}
    restart: never
`), 0o644)
	code, out, errOut := runHerd(t, []string{"NO_COLOR=1", jobs.EnvReplicas + "=5"}, "run", "-c", y)
	if code != 0 || !strings.Contains(out, "api[0] | store=nats://10.0.0.1:4222,nats://10.0.0.2:4222 r=3") ||
		!strings.Contains(out, "solo[0] | store=nats://10.0.0.1:4222,nats://10.0.0.2:4222 r=1") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}
