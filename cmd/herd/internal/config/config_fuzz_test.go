package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/herdrun/herd/cmd/herd/internal/app"
)

// fuzzSeeds are config files, good and bad: the bad inputs of the
// reliability report among them.
var fuzzSeeds = []string{
	ecosystem,
	goodYAML,
	`{"apps":[{"name":"x","script":"a.js","instances":"max","exec_mode":"cluster","env":{"PORT":1}}]}`,
	`{"apps":[{"script":"a","args":["x"],"stop_exit_codes":[1,2],"min_uptime":"1s","restart_delay":-1}]}`,
	`{"apps":[{"script":"a","instances":100000,"max_restarts":-3,"kill_timeout":-1}]}`,
	`{"apps":[{"script":"/","instances":-1,"no_instance_limit":true,"max_memory_restart":"-1M"}]}`,
	"apps:\n  - name: web\n    command: [node, a.js]\n    instances: max\n    ports: [3000]\n    env_production: {A: b}\n",
	"apps:\n  - script: a.js\n    log_max_size: 10M\n    log_max_age: 7d\n",
	"apps:\n  - name: a\n    command: [sh]\n    kill_timeout: 5\n",
	"apps:\n  - name: a\n    command: [sh]\n    ports: \"3010\"\n",
	"apps:\n  - name: web\n    command: [sh, -c, \"sleep 1\"\n    kill_timeout: 5s\n",
	"apps:\n  - name: a\n    command: [sh]\n    log_keep: -3\n    max_restarts: -2\n",
	"apps:\n  - name: a\n    command: [sh]\n    instances: 0\n",
	"apps:\n  - name: a\n    command: [sh]\n    instances: 100000\n    no_instance_limit: true\n",
	"apps:\n  - name: a\n    command: [/tmp]\n    min_uptime: -1s\n    backoff: 1\n",
	"apps:\n  - name: a\n    command: node app.js\n    env: [A]\n",
	"{\"apps\": [ {,} ]}",
	// herd.yaml's jobs: block.
	"jobs:\n  nats: [nats://10.0.0.1:4222, \"tls://u:p@[::1]:4222\"]\n  replicas: 3\n  prefix: t1\napps:\n  - name: a\n    command: [sh]\n    env: {HERD_JOBS_REPLICAS: \"1\"}\n",
	"jobs: {dir: data/jobs, nats: nats://a}\napps: [{name: a, command: [sh]}]\n",
	"jobs: [1]\napps: []\n",
	// PM2's forms, aliases and value styles.
	`{"apps":[{"script":"app.js","args":"--title \"My App\" --x='a b' k=\"v w\"","node_args":"--inspect","env":{"BIG":10485760,"N":null,"F":1e21,"B":true}}]}`,
	`{"apps":[{"script":"app.js","instances":-1},{"script":"app.js","instances":"max"},{"script":"app.js","instances":"-3"},{"script":"app.js","instances":2.5}]}`,
	`{"apps":[{"cmd":"worker.py","interpreter_args":["-u"],"output":"o.log","err":"e.log","error":"x","logDateFormat":"YYYY Z","time":true}]}`,
	`[{"script":"app.js","port":3000,"kill_signal":"SIGQUIT","kill_timeout":"5000","max_memory_restart":1048576}]`,
	`{"script":"npm run a && npm run b","args":"x","watch":["src"],"cron_restart":"* * * * *","instaces":2}`,
	`{"pm2":[{"script":"a","env":{"A":{"nested":1}}}]}`,
	`{"apps":[{"script":"app.js","log_file":true,"out_file":"/dev/null","error_file":"NULL","log_format":"herd","merge_logs":false}]}`,
	`{"apps":[{"script":"app.js","env":[1],"env_production":"x","min_uptime":"soon","max_restarts":"x"}]}`,
	"apps:\n  - name: a\n    command: [sh]\n    kill_signal: INT\n    log_format: herd\n    log_date_format: YYYY-MM-DD\n",
	"apps:\n  - name: a\n    command: [sh]\n    kill_signal: SIGNOPE\n    log_format: pm2\n    log_date_format: Y\n",
}

// FuzzLoadAndValidate feeds arbitrary bytes to every config reader that
// reads bytes (herd.yaml, and ecosystem JSON, which a .js ecosystem file
// also comes as, from node's output), through Load's own path, and validates every
// app it returns as herd run does: nothing may panic, a reader's error is
// a *ConfigError with a message, and an app Load returns passes Check.
func FuzzLoadAndValidate(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	// The corpus's JSON files too.
	files, _ := filepath.Glob(filepath.Join("testdata", "pm2", "*", "*.json"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	// The scripts the seeds name exist, so that the readers go past the
	// script look-up.
	dir := f.TempDir()
	for _, s := range []string{"a", "a.js", "app.js", "server.js", "worker.py", "index.js"} {
		if err := os.WriteFile(filepath.Join(dir, s), nil, 0o644); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, name := range []string{filepath.Join(dir, "herd.yaml"), filepath.Join(dir, "ecosystem.json")} {
			apps, err := load(name, b, "production", false)
			if err != nil {
				var ce *ConfigError
				if !errors.As(err, &ce) || ce.Msg == "" {
					t.Fatalf("%s: error %T %v, want a *ConfigError with a message", name, err, err)
				}
				continue
			}
			for i := range apps {
				a := apps[i]
				if err := a.Check(); err != nil {
					t.Fatalf("%s: app %d passed Load but not Check: %v", name, i, err)
				}
				err := a.Validate()
				var fe *app.FieldError
				var nf *app.NotFoundError
				var ne *app.NotExecutableError
				if err != nil && !errors.Is(err, app.ErrNoCommand) && !errors.As(err, &fe) && !errors.As(err, &nf) && !errors.As(err, &ne) {
					t.Fatalf("%s: Validate: %T %v", name, err, err)
				}
				d := a.WithDefaults()
				if err == nil && (d.Count() < 1 || d.Count() > app.MaxInstances() && !d.NoInstanceLimit) {
					t.Fatalf("%s: valid app with %d instances", name, d.Count())
				}
			}
		}
	})
}
