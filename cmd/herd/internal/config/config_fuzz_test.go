package config

import (
	"errors"
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
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, name := range []string{"/etc/herd/herd.yaml", "/etc/herd/ecosystem.json"} {
			apps, err := load(name, b, "production")
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
