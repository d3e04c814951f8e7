package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"

	"github.com/herdrun/herd/cmd/herd/internal/app"
)

func TestMain(m *testing.M) {
	testutil.VerifyTestMain(m)
}

// writeFile writes src to name in a new temporary folder, with an empty
// file for each of scripts beside it, and returns its path.
func writeFile(t *testing.T, name, src string, scripts ...string) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, s := range scripts {
		if err := os.WriteFile(filepath.Join(dir, s), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

const goodYAML = `apps:
  - name: web
    script: server.js
    args: [--verbose]
    instances: max
    ports: [3000]
    ready: message
    kill_timeout: 5s
    max_memory: 300M
    env: {LOG: info, A: "1", BIG: 10485760, GONE: x}
    env_production: {LOG: warn, GONE: null}
  - name: jobs
    command: [python3, worker.py]
    instances: 2
    restart: on-failure
`

func TestLoadYAML(t *testing.T) {
	p := writeFile(t, "herd.yaml", goodYAML)
	apps, err := Load(p, "production")
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) != 2 {
		t.Fatalf("%d apps", len(apps))
	}
	w := apps[0]
	if !reflect.DeepEqual(w.Command, []string{"node", "server.js", "--verbose"}) || w.Instances != -1 || !reflect.DeepEqual(w.Ports, []int{3000}) ||
		w.Ready != "message" || w.KillTimeout != 5*time.Second || w.MaxMemory != 300<<20 || w.Dir != filepath.Dir(p) {
		t.Errorf("web = %+v", w)
	}
	if !reflect.DeepEqual(w.Env, []string{"A=1", "BIG=10485760", "LOG=warn"}) {
		t.Errorf("env %v", w.Env)
	}
	j := apps[1]
	if !reflect.DeepEqual(j.Command, []string{"python3", "worker.py"}) || j.Instances != 2 || j.Restart != "on-failure" {
		t.Errorf("jobs = %+v", j)
	}
	apps, _ = Load(p, "")
	if !slices.Contains(apps[0].Env, "LOG=info") {
		t.Errorf("no env name: %v", apps[0].Env)
	}
}

func TestLoadYAMLErrorsHaveLines(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"apps:\n  - name: a\n    command: [x]\n    instancs: 2\n", `herd.yaml:4: unknown key "instancs"`},
		{"apps:\n  - name: a\n    command: [x]\n    instances: lots\n", `herd.yaml:4: instances must be a positive number or max`},
		{"apps:\n  - name: a\n    command: [x]\n    ports: [http]\n", `herd.yaml:4: `},
		{"apps:\n  - name: a\n    command: [x]\n    ready: later\n", `herd.yaml:4: ready must be`},
		{"apps:\n  - name: a\n\n    kill_timeout: 5s\n", `herd.yaml:2: app has no command`},
		{"apps:\n  - name: a\n   command: [x]\n", `: did not find expected '-' indicator`}, // yaml.v3 reports where the block began
		{"services: []\n", `herd.yaml:1: unknown key "services"`},
	} {
		p := writeFile(t, "herd.yaml", tc.src)
		_, err := Load(p, "")
		var ce *ConfigError
		if !errors.As(err, &ce) || !strings.Contains(filepath.Base(ce.File)+":"+strconv.Itoa(ce.Line)+": "+ce.Msg, tc.want) {
			t.Errorf("%q: got %v, want %q", tc.src, err, tc.want)
		}
	}
}

const ecosystem = `{
  "apps": [
    {
      "name": "api",
      "script": "app.js",
      "instances": "max",
      "exec_mode": "cluster",
      "wait_ready": true,
      "kill_timeout": 3000,
      "max_memory_restart": "200M",
      "env": {"PORT": 8080, "NODE_ENV": "development"},
      "env_production": {"NODE_ENV": "production"},
      "merge_logs": true,
      "watch": true,
      "cron_restart": "0 * * * *",
      "exp_backoff_restart_delay": 100
    },
    {
      "name": "cron",
      "script": "./cron.sh",
      "args": "--every 5m",
      "autorestart": false,
      "restart_delay": 250,
      "interpreter": "bash",
      "interpreter_args": "-e"
    }
  ]
}
`

func TestLoadEcosystem(t *testing.T) {
	p := writeFile(t, "ecosystem.json", ecosystem, "app.js", "cron.sh")
	apps, err := Load(p, "production")
	if err != nil {
		t.Fatal(err)
	}
	a := apps[0]
	if !reflect.DeepEqual(a.Command, []string{"node", "app.js"}) || a.Instances != -1 || !reflect.DeepEqual(a.Ports, []int{8080}) ||
		a.Ready != app.ReadyMessage || a.KillTimeout != 3*time.Second || a.MaxMemory != 200<<20 ||
		!reflect.DeepEqual(a.Env, []string{"NODE_ENV=production", "PORT=8080"}) {
		t.Errorf("api = %+v", a)
	}
	wantWarn := []string{"cron_restart: ignored: herd has no cron restarts: send SIGHUP to herd from cron or a systemd timer",
		"watch: ignored: herd does not watch files: reload after a change with kill -HUP <herd pid>"}
	if a.BackoffInitial != 100*time.Millisecond || a.BackoffMax != 15*time.Second || !reflect.DeepEqual(a.Warnings, wantWarn) {
		t.Errorf("api backoff %v..%v, warnings %q", a.BackoffInitial, a.BackoffMax, a.Warnings)
	}
	c := apps[1]
	if !reflect.DeepEqual(c.Command, []string{"bash", "-e", "./cron.sh", "--every", "5m"}) || c.Restart != "never" || len(c.Ports) != 0 ||
		c.BackoffInitial != 250*time.Millisecond || c.BackoffMax != 250*time.Millisecond || c.Warnings != nil {
		t.Errorf("cron = %+v", c)
	}
}

func TestLoadEcosystemErrorsHaveLines(t *testing.T) {
	bad := strings.Replace(ecosystem, `"kill_timeout": 3000`, `"kill_timeout": "3s"`, 1)
	_, err := Load(writeFile(t, "ecosystem.json", bad, "app.js", "cron.sh"), "")
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Line != 9 {
		t.Errorf("type error: %v (want line 9)", err)
	}
	noPort := strings.Replace(ecosystem, `"PORT": 8080, `, ``, 1)
	// Cluster mode without PORT: the instances share whatever port they
	// listen on (herd opens it when the first asks).
	apps, err := Load(writeFile(t, "ecosystem.json", noPort, "app.js", "cron.sh"), "")
	if err != nil || !apps[0].Cluster || len(apps[0].Ports) != 0 || !apps[0].ClusterMode() {
		t.Errorf("cluster without PORT: %+v, %v; want cluster mode with no port", apps, err)
	}
	badPort := strings.Replace(ecosystem, `"PORT": 8080, `, `"PORT": "http", `, 1)
	_, err = Load(writeFile(t, "ecosystem.json", badPort, "app.js", "cron.sh"), "")
	if !errors.As(err, &ce) || ce.Line != 3 || !strings.Contains(ce.Msg, `env.PORT: "http" is not a port number`) {
		t.Errorf("cluster with PORT=http: %v (want line 3)", err)
	}
	_, err = Load(writeFile(t, "ecosystem.json", "{\n  \"apps\": [\n    {,}\n  ]\n}\n"), "")
	if !errors.As(err, &ce) || ce.Line != 3 {
		t.Errorf("syntax error: %v (want line 3)", err)
	}
}

func TestConfigLogKeys(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "herd.yaml")
	os.WriteFile(p, []byte(`apps:
  - name: web
    command: [sh]
    log_file: logs/web.log
    out_file: /var/log/web.out
    error_file: web.err
    log_max_size: 2M
    log_keep: 0
    log_max_age: 1d12h
  - name: jobs
    command: [sh]
    log_keep: 3
    log_max_age: 90m
`), 0o644)
	apps, err := Load(p, "")
	if err != nil {
		t.Fatal(err)
	}
	w := apps[0]
	if w.LogFile != filepath.Join(dir, "logs/web.log") || w.OutFile != "/var/log/web.out" || w.ErrorFile != filepath.Join(dir, "web.err") ||
		w.LogMaxSize != 2<<20 || w.LogKeep != -1 || w.LogMaxAge != 36*time.Hour {
		t.Errorf("web = %+v", w)
	}
	if j := apps[1]; j.LogFile != "" || j.LogKeep != 3 || j.LogMaxAge != 90*time.Minute || j.LogMaxSize != 0 {
		t.Errorf("jobs = %+v", j)
	}

	eco := filepath.Join(dir, "ecosystem.config.json")
	os.WriteFile(filepath.Join(dir, "server.js"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "old.js"), nil, 0o644)
	os.WriteFile(eco, []byte(`{"apps": [
  {"name": "api", "script": "server.js", "log_file": "logs/api.log", "out_file": "/tmp/api.out", "error_file": "api.err", "max_size": "10M"},
  {"name": "old", "script": "old.js", "output": "old.out", "error": "/dev/null"}
]}`), 0o644)
	apps, err = Load(eco, "")
	if err != nil {
		t.Fatal(err)
	}
	if a := apps[0]; a.LogFile != filepath.Join(dir, "logs/api.log") || a.OutFile != "/tmp/api.out" || a.ErrorFile != filepath.Join(dir, "api.err") || a.LogMaxSize != 0 ||
		!reflect.DeepEqual(a.Warnings, []string{"max_size: ignored: not a key of a PM2 7 ecosystem file"}) {
		t.Errorf("api = %+v", a)
	}
	// PM2's aliases; /dev/null is no file.
	if o := apps[1]; o.OutFile != filepath.Join(dir, "old.out") || o.ErrorFile != "" {
		t.Errorf("old = %+v", o)
	}
}

func TestConfigBadLogKeys(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"log_max_size: lots", `:4: log_max_size: bad size "lots"`},
		{"log_max_age: soon", `:4: log_max_age: bad duration "soon"`},
		{"log_max_age: -3h", `:4: log_max_age: bad duration "-3h"`},
		{"log_keep: many", `:4: `},
		{"log_files: x.log", `:4: unknown key "log_files"`},
	} {
		p := writeFile(t, "herd.yaml", "apps:\n  - name: web\n    command: [sh]\n    "+tc.line+"\n")
		_, err := Load(p, "")
		var ce *ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), p+tc.want) {
			t.Errorf("%s: error %v, want %q", tc.line, err, p+tc.want)
		}
	}
	a := app.App{Command: []string{"sh"}, LogMaxSize: -1}
	if err := a.Validate(); err == nil || !strings.Contains(err.Error(), "log_max_size must not be negative") {
		t.Errorf("negative LogMaxSize: %v", err)
	}
}

// Every key of herd.yaml that is an App field has that field's name in
// App's JSON form, so that the file and the JSON form do not drift apart.
func TestYAMLKeysAreAppKeys(t *testing.T) {
	tags := map[string]bool{}
	rt := reflect.TypeFor[app.App]()
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		tags[name] = true
	}
	for _, k := range yamlKeys {
		if k == "script" || k == "args" { // herd.yaml's shorthand for command
			continue
		}
		if !tags[k] {
			t.Errorf("herd.yaml key %q is no App field's JSON name", k)
		}
	}
}

// Bad values name the key, the line and what to write instead.
func TestConfigErrorsSayWhatToWrite(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"apps:\n  - name: a\n    command: [x]\n    kill_timeout: 5\n", `herd.yaml:4: kill_timeout: 5 has no unit: write 5s`},
		{"apps:\n  - name: a\n    command: [x]\n    min_uptime: soon\n", `herd.yaml:4: min_uptime: want a duration such as 10s`},
		{"apps:\n  - name: a\n    command: [x]\n    ports: \"3010\"\n", `herd.yaml:4: ports: want a list of whole numbers, not "3010" (a string): write ports: [3010]`},
		{"apps:\n  - name: a\n    command: [x]\n    ports: 3010\n", `herd.yaml:4: ports: want a list of whole numbers, not 3010: write ports: [3010]`},
		{"apps:\n  - name: a\n    command: node app.js\n", `herd.yaml:3: command: want a list of strings, not "node app.js" (a string): write command: [node, app.js]`},
		{"apps:\n  - name: web\n    command: [sh, -c, \"sleep 1\"\n    kill_timeout: 5s\n", `herd.yaml:3: this [ is not closed: end the list with ]`},
		{"apps:\n  - name: web\n    env: {A: b\n", `herd.yaml:3: this { is not closed`},
		{"apps:\n  - name: a\n    command: [x]\n    log_keep: -3\n", `herd.yaml:4: log_keep must be 0 or more`},
		{"apps:\n  - name: a\n    command: [x]\n    max_restarts: -2\n", `herd.yaml:4: max_restarts must be 0 or more (or -1: never give up), not -2`},
		{"apps:\n  - name: a\n    command: [x]\n    instances: 0\n", `herd.yaml:4: instances must be a positive number or max, not "0"`},
		{"apps:\n  - name: a\n    command: [x]\n    instances: 100000\n", `herd.yaml:4: instances: 100000 is more than`},
		{"apps:\n  - name: a\n    command: [x]\n    kill_timeout: -5s\n", `herd.yaml:4: kill_timeout must not be negative`},
	} {
		p := writeFile(t, "herd.yaml", tc.src)
		_, err := Load(p, "")
		var ce *ConfigError
		if !errors.As(err, &ce) || !strings.Contains(filepath.Base(ce.File)+":"+strconv.Itoa(ce.Line)+": "+ce.Msg, tc.want) {
			t.Errorf("%q: got %v, want %q", tc.src, err, tc.want)
		}
	}
	for _, tc := range []struct{ src, want string }{
		{`{"apps": [{"script": "a", "max_restarts": -5}]}`, "max_restarts must be 0 or more"},
		{`{"apps": [{"script": "a", "instances": 100000}]}`, "instances: 100000 is more than"},
	} {
		p := writeFile(t, "eco.json", tc.src, "a")
		if _, err := Load(p, ""); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.src, err, tc.want)
		}
	}
	// PM2's instances 0 means one per CPU; no_instance_limit lifts the
	// bound in both formats.
	p := writeFile(t, "eco.json", `{"apps": [{"script": "a", "instances": 0}, {"script": "b", "instances": 100000, "no_instance_limit": true}]}`, "a", "b")
	if apps, err := Load(p, ""); err != nil || apps[0].Instances != -1 || !apps[1].NoInstanceLimit {
		t.Errorf("ecosystem instances: %+v, %v", apps, err)
	}
	p = writeFile(t, "herd.yaml", "apps:\n  - name: a\n    command: [x]\n    instances: 100000\n    no_instance_limit: true\n")
	if apps, err := Load(p, ""); err != nil || apps[0].Instances != 100000 {
		t.Errorf("no_instance_limit: %+v, %v", apps, err)
	}
}

// cluster: true is cluster mode without ports.
func TestYAMLCluster(t *testing.T) {
	apps, err := Load(writeFile(t, "herd.yaml", "apps:\n  - name: a\n    command: [node, app.js]\n    cluster: true\n"), "")
	if err != nil || len(apps) != 1 || !apps[0].Cluster || len(apps[0].Ports) != 0 || !apps[0].ClusterMode() {
		t.Fatalf("%+v, %v", apps, err)
	}
}
