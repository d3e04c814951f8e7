package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// pm2Split splits as PM2 7 splits a string of args (checked against PM2's
// own splitting run by node on these and 3000 random strings).
func TestPM2Split(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{`--title "My App"`, []string{"--title", "My App"}},
		{`--title="My App" -x`, []string{`--title="My App"`, "-x"}}, // PM2 keeps these quotes
		{`k='v w' "u`, []string{"k='v w'", `"u`}},
		{`a'b c'd`, []string{"a'b", "c'd"}},
		{`"" '' x`, []string{"x"}},
		{`'a "b" c'`, []string{`a "b" c`}},
		{`"a b"c d`, []string{"a b", "c", "d"}},
		{`--x=1 --y="2 3"=4`, []string{"--x=1", `--y="2 3"`, "=4"}},
		{"  lead \t trail\n", []string{"lead", "trail"}},
		{`'`, nil},
		{`a=b="c d"`, []string{"a=b=\"c", `d"`}},
		{`--port 3000 --env production`, []string{"--port", "3000", "--env", "production"}},
	} {
		if got := pm2Split(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
}

// Env values are what the program would get from PM2 (JavaScript's
// String()), and null is no value.
func TestJSString(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		set      bool
	}{
		{`10485760`, "10485760", true}, {`1e3`, "1000", true}, {`0.1`, "0.1", true}, {`-5`, "-5", true},
		{`1e21`, "1e+21", true}, {`1.5e-7`, "1.5e-7", true}, {`0.000001`, "0.000001", true},
		{`12345678901234567890`, "12345678901234567000", true}, {`-0`, "0", true},
		{`"x y"`, "x y", true}, {`true`, "true", true}, {`false`, "false", true}, {`null`, "", false},
	} {
		got, set, err := jsString(json.RawMessage(tc.in))
		if err != nil || got != tc.want || set != tc.set {
			t.Errorf("%s: got %q %v %v, want %q %v", tc.in, got, set, err, tc.want, tc.set)
		}
	}
	for _, bad := range []string{`{"a":1}`, `[1]`} {
		if _, _, err := jsString(json.RawMessage(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// PM2's aliases and camelCase names are read in PM2's order; the names it
// passes over, and every key herd does not read, are warned about by name.
func TestPM2Keys(t *testing.T) {
	var all map[string]json.RawMessage
	json.Unmarshal([]byte(`{"script":"a.js","err":"e1.log","error":"e2.log","outFile":"o.log","killTimeout":500,
		"instaces":2,"watch":true,"nonsense":1,"env_staging":{"A":"1"}}`), &all)
	p := canonical(all)
	if p.from["error_file"] != "err" || p.from["out_file"] != "outFile" || p.from["kill_timeout"] != "killTimeout" {
		t.Errorf("from = %v", p.from)
	}
	want := []string{
		"error: ignored: err is set, and PM2 reads it first",
		"watch: ignored: herd does not watch files: reload after a change with kill -HUP <herd pid>",
		"instaces: ignored: not a key of a PM2 7 ecosystem file; did you mean instances?",
		"nonsense: ignored: not a key of a PM2 7 ecosystem file",
	}
	if !reflect.DeepEqual(p.warnings, want) {
		t.Errorf("warnings:\n%q\nwant\n%q", p.warnings, want)
	}
	if string(p.envs["staging"]) != `{"A":"1"}` {
		t.Errorf("envs = %q", p.envs)
	}
}

// Instances as PM2 7 counts them: 0 and 'max' all CPUs, -N N fewer (at
// least one), numbers in strings as numbers.
func TestPM2Instances(t *testing.T) {
	cpus := runtime.NumCPU()
	for _, tc := range []struct {
		in   string
		want int
	}{
		{`4`, 4}, {`"4"`, 4}, {`0`, -1}, {`"max"`, -1}, {`-1`, max(cpus-1, 1)}, {`-100`, 1}, {`"-1"`, max(cpus-1, 1)},
	} {
		p := canonical(map[string]json.RawMessage{"instances": json.RawMessage(tc.in)})
		if got, err := pm2Instances(p); err != nil || got != tc.want {
			t.Errorf("instances %s: got %d %v, want %d", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{`"lots"`, `2.5`, `true`, `"1e99"`} {
		p := canonical(map[string]json.RawMessage{"instances": json.RawMessage(bad)})
		if _, err := pm2Instances(p); err == nil || !strings.Contains(err.Error(), "instances: want a whole number") {
			t.Errorf("instances %s: error %v", bad, err)
		}
	}
}

// The interpreter and the script's place, as PM2 7 finds them.
func TestPM2Command(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string, mode os.FileMode) {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("app.js", "", 0o644)
	write("worker.py", "", 0o644)
	write("run.sh", "", 0o644)
	write("bin/www", "#!/usr/bin/env node\n", 0o644) // not executable: node, as PM2
	write("start", "#!/bin/sh\nexec sleep 1\n", 0o755)
	write("server", "\x7fELF\x02\x01\x01\x00\x00\x00", 0o755)
	write("app.ts", "", 0o644)
	write("app.rb", "", 0o644)
	bunErr := "script app.ts runs under bun, which is not in PATH (PM2 7 runs .ts files with bun): install bun, or set interpreter: node with node_args: --experimental-strip-types (Node 22.6+), or interpreter: tsx"
	bun := inPath("bun")
	for _, tc := range []struct {
		spec  scriptSpec
		want  []string
		warns []string
		err   string
	}{
		{spec: scriptSpec{script: "app.js", args: []string{"--x"}}, want: []string{"node", "app.js", "--x"}},
		{spec: scriptSpec{script: "app.js", interpArgs: []string{"--max-old-space-size=512"}}, want: []string{"node", "--max-old-space-size=512", "app.js"}},
		{spec: scriptSpec{script: "worker.py"}, want: []string{"python3", "worker.py"}},
		{spec: scriptSpec{script: "run.sh"}, want: []string{"bash", "run.sh"}},
		{spec: scriptSpec{script: "bin/www"}, want: []string{"node", "bin/www"}},
		{spec: scriptSpec{script: "start"}, want: []string{"./start"},
			warns: []string{"script start: runs as it is, under its #!/bin/sh line; PM2 7 runs a text file without a known extension under node"}},
		{spec: scriptSpec{script: "server", interpArgs: []string{"-x"}}, want: []string{"./server"}, warns: []string{"node_args: ignored: the script runs without an interpreter"}},
		{spec: scriptSpec{script: "app.js", interpreter: "none"}, want: []string{"./app.js"}},
		{spec: scriptSpec{script: "run.sh", interpreter: "sh", interpArgs: []string{"-e"}}, want: []string{"sh", "-e", "run.sh"}},
		{spec: scriptSpec{script: "sh", args: []string{"-c", "true"}}, want: []string{"sh", "-c", "true"}}, // from PATH
		{spec: scriptSpec{script: "npm run a && npm run b", args: []string{"x"}}, want: []string{"bash", "-c", "npm run a && npm run b"},
			warns: []string{"args: ignored: a script with a space runs as bash -c SCRIPT, as PM2 runs it: put the arguments in the script"}},
		{spec: scriptSpec{script: "nope.js"}, err: "script nope.js: not found in the app's cwd (" + dir + ") nor in PATH"},
		{spec: scriptSpec{script: "app.rb"}, err: "script app.rb runs under ruby, which is not in PATH (PM2 picks it for .rb files): install it, or set interpreter"},
		{spec: scriptSpec{script: "app.js", interpreter: "nodejs-99"}, err: "script app.js runs under nodejs-99, which is not in PATH: install it, or fix interpreter"},
	} {
		if !bun && tc.spec.script == "app.ts" {
			tc.err = bunErr
		}
		tc.spec.dir = dir
		got, warns, err := pm2Command(tc.spec)
		if tc.err != "" {
			if inPath("ruby") && tc.spec.script == "app.rb" {
				continue
			}
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s: error %v, want %q", tc.spec.script, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) || !reflect.DeepEqual(warns, tc.warns) {
			t.Errorf("%s: got %q %q %v, want %q %q", tc.spec.script, got, warns, err, tc.want, tc.warns)
		}
	}
	if !bun {
		if _, _, err := pm2Command(scriptSpec{dir: dir, script: "app.ts"}); err == nil || err.Error() != bunErr {
			t.Errorf("app.ts: %v, want %q", err, bunErr)
		}
	}
}

// A bad value in an ecosystem file names the app, the key as written and
// its line.
func TestPM2ErrorsNameKeyAndLine(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{`"instances": "lots"`, `:4: app 0 (web): instances: want a whole number, 0 or 'max' (one per CPU) or -N (N fewer than the CPUs), not "lots"`},
		{`"env": {"A": {"b": 1}}`, `:4: app 0 (web): env.A: want a string, number or boolean, not {"b": 1}`},
		{`"exec_mode": "forks"`, `:4: app 0 (web): exec_mode: want 'fork' or 'cluster', not "forks"`},
		{`"killTimeout": -5`, `:4: app 0 (web): killTimeout: want whole milliseconds, 0 or more, not -5`},
		{`"args": {"a": 1}`, `:4: app 0 (web): args: want a string or a list of strings, not {"a": 1}`},
		{`"output": 5`, `:4: app 0 (web): output: want a string, not 5`},
		{`"kill_signal": "SIGNOPE"`, `:4: app 0 (web): kill_signal: unknown signal "SIGNOPE": want a name such as SIGINT, SIGTERM or SIGQUIT`},
		{`"log_date_format": "Y-M"`, `:4: app 0 (web): log_date_format: "Y-M": dayjs has no token Y: use YYYY or YY for the year`},
		{`"wait_ready": "yes"`, `:4: app 0 (web): wait_ready: want true or false, not "yes"`},
	} {
		src := "{\"apps\": [{\n  \"name\": \"web\",\n  \"script\": \"app.js\",\n  " + tc.line + "\n}]}\n"
		p := writeFile(t, "ecosystem.json", src, "app.js")
		_, err := Load(p, "")
		if err == nil || err.Error() != p+tc.want {
			t.Errorf("%s:\n got %v\nwant %s", tc.line, err, p+tc.want)
		}
	}
}
