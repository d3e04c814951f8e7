package config

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestJobsBlock: herd.yaml's jobs: block reaches every app's environment
// (an app's own env wins), and LoadJobs reads the same block.
func TestJobsBlock(t *testing.T) {
	p := writeFile(t, "herd.yaml", `jobs:
  nats: [nats://10.0.0.1:4222, "nats://10.0.0.2:4222"]
  replicas: 3
apps:
  - name: api
    command: [./api]
  - name: worker
    command: [./worker]
    env: {HERD_JOBS_REPLICAS: "1", X: y}
`)
	apps, err := Load(p, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"HERD_JOBS_NATS=nats://10.0.0.1:4222,nats://10.0.0.2:4222", "HERD_JOBS_REPLICAS=3"}
	if !reflect.DeepEqual(apps[0].Env, want) {
		t.Errorf("api env %q, want %q", apps[0].Env, want)
	}
	want = []string{"HERD_JOBS_NATS=nats://10.0.0.1:4222,nats://10.0.0.2:4222", "HERD_JOBS_REPLICAS=1", "X=y"}
	if !reflect.DeepEqual(apps[1].Env, want) {
		t.Errorf("worker env %q, want %q", apps[1].Env, want)
	}
	j, err := LoadJobs(p)
	if err != nil || len(j.NATS) != 2 || j.Replicas != 3 {
		t.Fatalf("LoadJobs: %+v, %v", j, err)
	}

	p = writeFile(t, "herd.yml", "jobs: {dir: data/jobs, prefix: t1}\napps: [{name: a, command: [x]}]\n")
	j, err = LoadJobs(p)
	if err != nil || j.Dir != filepath.Join(filepath.Dir(p), "data/jobs") || j.Prefix != "t1" {
		t.Fatalf("dir: %+v, %v", j, err)
	}
	p = writeFile(t, "herd.yaml", "apps: [{name: a, command: [x]}]\n")
	if j, err = LoadJobs(p); err != nil || !reflect.DeepEqual(j, Jobs{}) {
		t.Fatalf("no block: %+v, %v", j, err)
	}
	if apps, err = Load(p, ""); err != nil || len(apps[0].Env) != 0 {
		t.Fatalf("no block: env %q, %v", apps[0].Env, err)
	}
}

// TestJobsBlockBad: each bad value names its line and key and says what
// to write.
func TestJobsBlockBad(t *testing.T) {
	for _, tc := range []struct {
		src  string
		line int
		want string
	}{
		{"jobs: [a]\n", 1, "want a mapping"},
		{"jobs:\n  nats: http://a:1\n", 2, "jobs.nats: \"http://a:1\": the scheme must be"},
		{"jobs:\n  nats: [nats://a]\n", 2, "jobs.nats: \"nats://a\": write a URL with a host and a port"},
		{"jobs:\n  nats: {a: 1}\n", 2, "jobs.nats: want a list of URLs"},
		{"jobs:\n  replicas: 7\n", 2, "jobs.replicas: want a number from 1 to 5"},
		{"jobs:\n  replicas: three\n", 2, "jobs.replicas: want a number"},
		{"jobs:\n  prefix: a.b\n", 2, "jobs.prefix: \"a.b\": use letters"},
		{"jobs:\n  dir: d\n  nats: [nats://a:1]\n", 3, "jobs.nats: nats and dir are both set"},
		{"jobs:\n  url: nats://a:1\n", 2, `jobs: unknown key "url" (want nats, dir, replicas or prefix)`},
		{"jbos: {}\n", 1, `unknown key "jbos" (want apps, or jobs)`},
	} {
		p := writeFile(t, "herd.yaml", tc.src+"apps: [{name: a, command: [x]}]\n")
		for _, load := range []func() error{
			func() error { _, err := Load(p, ""); return err },
			func() error { _, err := LoadJobs(p); return err },
		} {
			err := load()
			if tc.src == "jbos: {}\n" && err == nil {
				continue // LoadJobs reads only the jobs: block
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Line != tc.line || !strings.Contains(ce.Msg, tc.want) {
				t.Errorf("%q: %v; want line %d: %q", tc.src, err, tc.line, tc.want)
			}
		}
	}
	if _, err := LoadJobs(writeFile(t, "ecosystem.config.js", "module.exports = {}")); err == nil || !strings.Contains(err.Error(), "herd.yaml files only") {
		t.Errorf("LoadJobs of a .js file: %v", err)
	}
}
