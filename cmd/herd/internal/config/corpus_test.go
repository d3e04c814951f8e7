package config

import (
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/herdrun/herd/cmd/herd/internal/app"
	"github.com/herdrun/herd/internal/testutil"
)

// corpusApp is what herd derives for one app of a corpus file. Log paths
// are relative to the case's folder.
type corpusApp struct {
	name      string
	cmd       []string
	instances int // App.Instances: -1 is one per CPU
	ports     []int
	cluster   bool // App.Cluster: cluster mode on the ports the app listens on
	env       []string
	stop      string
	kill      time.Duration
	logs      [3]string // log_file, out_file, error_file
	date      string
	warnings  []string
}

// corpusCase is one ecosystem file of testdata/pm2, written in a style
// PM2 users write, with what herd derives from it and, in pm2, what PM2 7
// does with it (from PM2 7.0's lib/Common.js, lib/God.js and
// lib/API/schema.json).
type corpusCase struct {
	file string
	env  string // --env
	pm2  string
	apps []corpusApp
	err  string // herd's error, instead of apps
	// needs names a program the case needs in PATH (the test skips
	// without it).
	needs string
}

// pm2Defaults fills the fields every app of an ecosystem file has unless
// the file says otherwise: PM2's stop signal and kill timeout.
func pm2Defaults(a corpusApp) corpusApp {
	if a.stop == "" {
		a.stop = "SIGINT"
	}
	if a.kill == 0 {
		a.kill = 1600 * time.Millisecond
	}
	return a
}

// norm makes nil lists empty, for comparison.
func norm(a corpusApp) corpusApp {
	for _, l := range []*[]string{&a.cmd, &a.env, &a.warnings} {
		if *l == nil {
			*l = []string{}
		}
	}
	if a.ports == nil {
		a.ports = []int{}
	}
	return a
}

var cpusMinusOne = max(runtime.NumCPU()-1, 1)

var corpus = []corpusCase{{
	file: "01-express-generator/ecosystem.config.js", env: "production",
	pm2: "node ./bin/www (bin/www has no extension and is text: PM2 runs it with node) in cluster mode on every CPU; " +
		"env NODE_ENV=production PORT=3000; watch: false is PM2's default; deploy is for pm2 deploy",
	apps: []corpusApp{{name: "shop", cmd: []string{"node", "./bin/www"}, instances: -1, ports: []int{3000}, cluster: true,
		env: []string{"NODE_ENV=production", "PORT=3000"}, warnings: []string{"deploy (beside apps): ignored: herd does not deploy"}}},
}, {
	file: "02-env-numbers/ecosystem.json", env: "production",
	pm2: "env values pass through String(): MAX_BODY=10485760, TINY=1e-7, HUGE=1e+21, VERBOSE=true; kill_timeout '5000' is " +
		"read as 5000 ms; instances -1 is CPUs-1; env_production's LEGACY_FLAG: null gives the string 'null' (herd: not set)",
	apps: []corpusApp{{name: "uploader", cmd: []string{"node", "server.js"}, instances: cpusMinusOne, ports: []int{8080}, cluster: true, kill: 5 * time.Second,
		env: []string{"HUGE=1e+21", "MAX_BODY=10485760", "PORT=8080", "RATIO=1", "SENTRY_DSN=https://key@sentry.example/1", "TINY=1e-7", "VERBOSE=true"}}},
}, {
	file: "03-instance-counts/ecosystem.config.cjs",
	pm2: "all-cores: instances 0 is one per CPU; leave-one: -1 is CPUs-1; three: '3' is 3. Without exec_mode PM2 puts a " +
		"node app with instances in cluster mode, sharing the ports it listens on (PORT for web); herd too",
	apps: []corpusApp{
		{name: "all-cores", cmd: []string{"node", "worker.js"}, instances: -1, cluster: true},
		{name: "leave-one", cmd: []string{"node", "worker.js"}, instances: cpusMinusOne, cluster: true},
		{name: "three", cmd: []string{"node", "worker.js"}, instances: 3},
		{name: "web", cmd: []string{"node", "worker.js"}, instances: 2, ports: []int{3300}, cluster: true, env: []string{"PORT=3300"}},
	},
}, {
	file: "04-npm-start/ecosystem.json", needs: "npm",
	pm2: "script npm is found in PATH; it is a text file, so PM2 runs node /usr/bin/npm start (herd: npm start, by its #! line, " +
		"the same program); args as a list are passed as they are (4001 as '4001')",
	apps: []corpusApp{
		{name: "next-site", cmd: []string{"npm", "start"}, instances: 2, ports: []int{4000}, cluster: true, env: []string{"NODE_ENV=production", "PORT=4000"}},
		{name: "next-site-dev", cmd: []string{"npm", "run", "dev", "--", "--port", "4001"}},
	},
}, {
	file: "05-shell-chain/ecosystem.config.js",
	pm2: "a script with a space runs as bash -c SCRIPT and its args are dropped; the second app is named main " +
		"(the base name of the script string up to its last dot)",
	apps: []corpusApp{
		{name: "build-and-serve", cmd: []string{"bash", "-c", "npm run build && npm start"},
			warnings: []string{"args: ignored: a script with a space runs as bash -c SCRIPT, as PM2 runs it: put the arguments in the script"}},
		{name: "main", cmd: []string{"bash", "-c", "node dist/main.js --port 5000"}},
	},
}, {
	file: "06-python-and-shell/ecosystem.json", needs: "python3",
	pm2: "worker.py runs under python (python3 when python is missing) with interpreter_args first and PYTHONUNBUFFERED=1 " +
		"unless env sets it; backup.sh runs under bash; autorestart: false never restarts",
	apps: []corpusApp{
		{name: "mailer", cmd: []string{"python3", "-X", "dev", "worker.py", "--queue", "emails"},
			env: []string{"PYTHONUNBUFFERED=1", "REDIS_URL=redis://127.0.0.1:6379/0"}},
		{name: "nightly", cmd: []string{"bash", "scripts/backup.sh", "--target", "/srv/backups"}},
		{name: "unbuffered-set", cmd: []string{"python3", "worker.py"}, env: []string{"PYTHONUNBUFFERED=0"}},
	},
}, {
	file: "07-typescript/ecosystem.config.js",
	pm2:  "PM2 7 runs .ts files with bun, and fails with 'Interpreter bun is NOT AVAILABLE in PATH' without it",
	err: "app 0 (api-ts): script src/index.ts runs under bun, which is not in PATH (PM2 7 runs .ts files with bun): install bun, " +
		"or set interpreter: node with node_args: --experimental-strip-types (Node 22.6+), or interpreter: tsx",
}, {
	file: "08-log-paths/ecosystem.json",
	pm2: "log paths are relative to the app's cwd (api/logs/...), whose folder PM2 creates; /dev/null and NULL write " +
		"nowhere; log_file: true writes ~/.pm2/logs/quiet.log (herd: no file, with a warning)",
	apps: []corpusApp{
		{name: "api", cmd: []string{"node", "index.js"}, logs: [3]string{"api/logs/api-combined.log", "api/logs/api-out.log", "api/logs/api-err.log"},
			date: "YYYY-MM-DD HH:mm:ss Z"},
		{name: "quiet", cmd: []string{"node", "api/index.js"},
			warnings: []string{"log_file: true: ignored: PM2 writes ~/.pm2/logs/NAME.log; herd writes a log file only to a path you give"}},
	},
}, {
	file: "09-log-aliases/ecosystem.config.js",
	pm2: "output/out and error/err are out_file and error_file, log is log_file, camelCase names are aliases; of err and " +
		"error PM2 reads err; time: true dates lines YYYY-MM-DDTHH:mm:ss",
	apps: []corpusApp{
		{name: "a", cmd: []string{"node", "a.js"}, logs: [3]string{"out/a.all", "out/a.log", "out/a.err"}, date: "YYYY-MM-DDTHH:mm:ss"},
		{name: "b", cmd: []string{"node", "a.js"}, logs: [3]string{"", "out/b.log", "out/b.err"},
			warnings: []string{"error: ignored: err is set, and PM2 reads it first"}},
		{name: "c", cmd: []string{"node", "a.js"}, logs: [3]string{"", "out/c.log", "out/c.err"}, date: "HH:mm:ss.SSS"},
	},
}, {
	file: "10-cron-watch/ecosystem.json",
	pm2:  "PM2 restarts report at 03:00 and on changes under src and config, and does not start dev (autostart: false)",
	apps: []corpusApp{
		{name: "report", cmd: []string{"node", "report.js"}, warnings: []string{
			"cron_restart: ignored: herd has no cron restarts: send SIGHUP to herd from cron or a systemd timer",
			"ignore_watch: ignored: herd does not watch files",
			"watch: ignored: herd does not watch files: reload after a change with kill -HUP <herd pid>",
			"watch_options: ignored: herd does not watch files"}},
		{name: "dev", cmd: []string{"node", "report.js"}, warnings: []string{
			"autostart: ignored: herd starts every app of the file: pick some with --only NAME[,NAME]",
			"cron: ignored: herd has no cron restarts: send SIGHUP to herd from cron or a systemd timer",
			"watch: ignored: herd does not watch files: reload after a change with kill -HUP <herd pid>"}},
	},
}, {
	file: "11-args-quoting/ecosystem.config.js",
	pm2: "a string of args is split on spaces, quotes group and are removed, KEY=\"a b\" keeps its quotes; node_args go " +
		"before the script; numbers in a list become strings",
	apps: []corpusApp{
		{name: "titled", cmd: []string{"node", "--max-old-space-size=4096", "--enable-source-maps", "server.js",
			"--title", "My App", "--mode=prod", `--label="a b"`, "single quoted"}},
		{name: "listed", cmd: []string{"node", "--inspect=127.0.0.1:9229", "server.js", "--title", "My App", "8080"}},
	},
}, {
	file: "12-typos/ecosystem.json",
	pm2:  "PM2 drops keys it does not know without a word: one instance, fork mode, kill_timeout 1600 ms",
	apps: []corpusApp{{name: "typos", cmd: []string{"node", "app.js"}, warnings: []string{
		"enviroment: ignored: not a key of a PM2 7 ecosystem file",
		"exec-mode: ignored: not a key of a PM2 7 ecosystem file; did you mean exec_mode?",
		"instaces: ignored: not a key of a PM2 7 ecosystem file; did you mean instances?",
		"kill_timout: ignored: not a key of a PM2 7 ecosystem file; did you mean kill_timeout?",
		"max_memory: ignored: not a key of a PM2 7 ecosystem file"}}},
}, {
	file: "13-stop-signals/ecosystem.config.cjs",
	pm2: "PM2 stops every app with SIGINT (PM2_KILL_SIGNAL, daemon-wide; it has no kill_signal key) and SIGKILL after " +
		"kill_timeout, 1600 ms by default; message gets process.send('shutdown') and, with treekill false, only its main process is signalled",
	apps: []corpusApp{
		{name: "default-stop", cmd: []string{"node", "app.js"}},
		{name: "term", cmd: []string{"node", "app.js"}, stop: "SIGTERM", kill: 8 * time.Second},
		{name: "message", cmd: []string{"node", "app.js"}, warnings: []string{
			"shutdown_with_message: ignored: herd stops an instance with a signal (kill_signal), never with a 'shutdown' message",
			"treekill: false: ignored: herd always stops an instance's whole process tree"}},
	},
}, {
	file: "14-binaries/ecosystem.json",
	pm2: "bin/api is binary: run as it is (node_args unused); bin/tool is text without a known extension: PM2 runs " +
		"node bin/tool, which fails on a shell script (herd runs it under its #! line); interpreter sh is used as given",
	apps: []corpusApp{
		{name: "go-api", cmd: []string{"./bin/api", "-addr", ":9000"}, warnings: []string{"node_args: ignored: the script runs without an interpreter"}},
		{name: "tool", cmd: []string{"bin/tool"}, warnings: []string{
			"script bin/tool: runs as it is, under its #!/bin/sh line; PM2 7 runs a text file without a known extension under node"}},
		{name: "explicit", cmd: []string{"sh", "bin/tool"}},
	},
}, {
	file: "15-bare-list/processes.json",
	pm2: "a list of apps is the whole file; queue is named from its script and port sets PORT; metrics waits for " +
		"process.send('ready') up to 8 s and restarts 2 s after each exit",
	apps: []corpusApp{
		{name: "queue", cmd: []string{"node", "queue.js"}, env: []string{"CONCURRENCY=8", "PORT=6000"}},
		{name: "metrics", cmd: []string{"node", "metrics.js"}},
	},
}, {
	file: "16-json-as-javascript/ecosystem.json",
	pm2: "PM2 evaluates a .json file as a JavaScript expression, so comments, unquoted keys, single quotes and " +
		"trailing commas pass; herd reads it the same way, through node, and says so",
	apps: []corpusApp{{name: "billing", cmd: []string{"node", "billing.js"}, instances: 2, ports: []int{9100}, cluster: true,
		env: []string{"PORT=9100", "RETRIES=3"}, warnings: []string{"the file is not strict JSON (line 2: invalid character '/' " +
			"looking for beginning of object key string): read as JavaScript, as PM2 reads .json files"}}},
	needs: "node",
}}

// TestPM2Corpus reads every ecosystem file of testdata/pm2 and checks the
// exact commands, environments, instance counts, stop settings, log files
// and warnings herd derives from it.
func TestPM2Corpus(t *testing.T) {
	if len(corpus) < 12 {
		t.Fatalf("%d corpus files, want at least 12", len(corpus))
	}
	for _, tc := range corpus {
		t.Run(filepath.Dir(tc.file), func(t *testing.T) {
			if strings.HasSuffix(tc.file, "js") {
				testutil.RequireNode(t)
			}
			if tc.needs != "" && !inPath(tc.needs) {
				t.Skip(tc.needs + " is not in PATH")
			}
			path := filepath.Join("testdata", "pm2", tc.file)
			dir, _ := filepath.Abs(filepath.Dir(path))
			apps, err := Load(path, tc.env)
			if tc.err != "" {
				if inPath("bun") && strings.Contains(tc.err, "bun") {
					t.Skip("bun is installed")
				}
				if err == nil || !strings.HasSuffix(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(apps) != len(tc.apps) {
				t.Fatalf("%d apps, want %d", len(apps), len(tc.apps))
			}
			for i, a := range apps {
				w := pm2Defaults(tc.apps[i])
				rel := func(p string) string {
					if p == "" {
						return ""
					}
					r, _ := filepath.Rel(dir, p)
					return r
				}
				got := corpusApp{name: a.Name, cmd: a.Command, instances: a.Instances, ports: a.Ports, cluster: a.Cluster, env: a.Env,
					stop: a.StopSignal, kill: a.KillTimeout, logs: [3]string{rel(a.LogFile), rel(a.OutFile), rel(a.ErrorFile)},
					date: a.LogDateFormat, warnings: a.Warnings}
				if !reflect.DeepEqual(norm(got), norm(w)) {
					t.Errorf("app %d:\n got %+v\nwant %+v\n(PM2 7: %s)", i, got, w, tc.pm2)
				}
				if a.MaxRestarts != 16 && a.Name != "mailer" {
					t.Errorf("app %s: max_restarts %d, want PM2's 16", a.Name, a.MaxRestarts)
				}
				if err := a.Check(); err != nil {
					t.Errorf("app %s: %v", a.Name, err)
				}
			}
		})
	}
}

// The corpus apps that PM2 would start start under herd too: each passes
// Validate, and the counts are what the machine allows.
func TestPM2CorpusValidates(t *testing.T) {
	testutil.RequireNode(t)
	for _, tc := range corpus {
		if tc.err != "" || tc.needs != "" && !inPath(tc.needs) {
			continue
		}
		apps, err := Load(filepath.Join("testdata", "pm2", tc.file), tc.env)
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		for _, a := range apps {
			if err := a.Validate(); err != nil {
				t.Errorf("%s: %s: %v", tc.file, a.Name, err)
			}
			d := a.WithDefaults()
			if n := d.Count(); n < 1 || a.Instances == -1 && n != runtime.NumCPU() {
				t.Errorf("%s: %s: %d instances", tc.file, a.Name, n)
			}
			if a.Name == "metrics" && (a.Ready != app.ReadyMessage || a.ReadyTimeout != 8*time.Second || a.BackoffInitial != 2*time.Second) {
				t.Errorf("metrics: wait_ready, listen_timeout or restart_delay not read: %+v", a)
			}
		}
	}
}
