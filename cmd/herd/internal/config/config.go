package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/herdrun/herd/cmd/herd/internal/app"
	"go.yaml.in/yaml/v3"
)

// ConfigError reports a bad line of a config file.
type ConfigError struct {
	File string
	Line int // 1-based; 0 when unknown
	Msg  string
}

// Error returns "file:line: msg".
func (e *ConfigError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// Load reads the apps of a herd YAML file (.yaml, .yml) or of a PM2
// ecosystem file: JSON (.json; one that is not strict JSON node reads as
// a JavaScript expression, as PM2 does), or JavaScript (.js, .cjs, .mjs,
// such as PM2's ecosystem.config.js), which node evaluates in the file's
// directory (module.exports or the default export, or what it returns
// when it is a function) within 10s. The env block of environment envName ("" for none)
// is merged over each app's env. A bad line is a *ConfigError (for a
// JavaScript file it names the app, not the line).
//
// The YAML format:
//
//	apps:
//	  - name: web
//	    command: [node, server.js]   # or: script: server.js (node for .js) + args
//	    instances: 2                 # or max; at most 32 per CPU unless
//	    no_instance_limit: true      # lifts that bound
//	    ports: [3000]                # cluster mode
//	    cluster: true                # cluster mode with no port: share what the app listens on
//	    ready: listen                # notify, message, start
//	    restart: always              # on-failure, never
//	    stop_exit_codes: [0]
//	    kill_timeout: 10s
//	    max_memory: 300M
//	    max_restarts: 10             # unstable restarts in a row (and exits within restart_window) before errored; -1: never
//	    min_uptime: 1s               # ready this long: an exit is stable
//	    restart_window: 30s
//	    backoff: 100ms               # restart delay, doubling up to backoff_max
//	    backoff_max: 10s
//	    env: {LOG_LEVEL: info}
//	    env_production: {LOG_LEVEL: warn, DEBUG: null}  # null: not set
//	    log_file: logs/web.log       # every line of the app, herd's own too
//	    out_file: logs/web.out.log   # stdout lines only
//	    error_file: logs/web.err.log # stderr lines only
//	    log_max_size: 10M            # rotate a file before it passes this
//	    log_keep: 5                  # rotated files kept: web.log.1 ... web.log.5 (0: none)
//	    log_max_age: 7d              # also delete rotated files older than this (s, m, h, d)
//	    log_format: raw              # file lines as the app wrote them (default); herd: "web[0] | line"
//	    log_date_format: YYYY-MM-DD HH:mm:ss  # raw lines start with the time and ": " (dayjs tokens, as PM2)
//	    kill_signal: SIGTERM         # the graceful stop signal (herd.yaml's default: SIGTERM)
//	jobs:                            # where the jobs store is (see Jobs): every app gets
//	  nats: [nats://10.0.0.1:4222]   # HERD_JOBS_NATS, _DIR, _REPLICAS, _PREFIX, which
//	  replicas: 3                    # jobs.Config.WithEnv reads
//
// An ecosystem file (apps[], or PM2's other forms: pm2[], a list of
// apps, one app) is read as PM2 7 reads it, key by key, aliases and
// camelCase names included (see pm2.go): the command from script,
// interpreter, node_args and args (a script with a space runs under bash
// -c; the interpreter follows the extension; a relative script is looked
// up in cwd, then PATH); instances (0 or 'max': one per CPU, -N: N fewer);
// env and env_<name> (numbers as JavaScript writes them, null unsets);
// PM2's defaults where herd's differ (kill_timeout 1.6s, the SIGINT stop
// signal, max_restarts 16); log files relative to the app's cwd. Every
// key herd ignores or reads differently from PM2 gets a warning in
// app.App.Warnings, which herd prints when the app starts. Every instance
// of an app writes to the same files (PM2's merge_logs); rotation is built
// in with the defaults of app.App.LogMaxSize and LogKeep.
//
// A relative cwd is relative to the config file's directory, and so are
// herd.yaml's log file paths.
func Load(path, envName string) ([]app.App, error) {
	var b []byte
	if !isScriptConfig(path) {
		var err error
		if b, err = os.ReadFile(path); err != nil {
			return nil, err
		}
	}
	return load(path, b, envName, true)
}

// load is Load with the file's bytes b already read (nil for a JavaScript
// file, which node reads). With jsonAsJS, a .json file that is not strict
// JSON is read as PM2 reads every .json file, as a JavaScript expression
// (comments, trailing commas, unquoted keys), by node.
func load(path string, b []byte, envName string, jsonAsJS bool) ([]app.App, error) {
	var apps []app.App
	var err error
	switch {
	case strings.HasSuffix(path, ".json"):
		apps, err = parseEcosystem(path, b, envName)
		if err != nil && jsonAsJS && !json.Valid(b) && inPath("node") {
			apps, err = jsonAsJavaScript(path, envName, err)
		}
	case isScriptConfig(path):
		apps, err = parseEcosystemJS(path, envName)
	default:
		apps, err = parseYAML(path, b, envName)
	}
	if err != nil {
		return nil, err
	}
	if len(apps) == 0 {
		return nil, &ConfigError{File: path, Msg: "no apps"}
	}
	// A relative cwd is relative to the config file's directory (PM2's:
	// to where pm2 runs, most often the same).
	base, _ := filepath.Abs(filepath.Dir(path))
	for i := range apps {
		if !filepath.IsAbs(apps[i].Dir) {
			apps[i].Dir = filepath.Join(base, apps[i].Dir)
		}
		for _, f := range []*string{&apps[i].LogFile, &apps[i].OutFile, &apps[i].ErrorFile} {
			if *f != "" && !filepath.IsAbs(*f) {
				*f = filepath.Join(base, *f)
			}
		}
	}
	return apps, nil
}

type yamlApp struct {
	Name          string             `yaml:"name"`
	Command       []string           `yaml:"command"`
	Script        string             `yaml:"script"`
	Args          []string           `yaml:"args"`
	Cwd           string             `yaml:"cwd"`
	Instances     yaml.Node          `yaml:"instances"`
	Ports         []int              `yaml:"ports"`
	Cluster       bool               `yaml:"cluster"`
	Host          string             `yaml:"host"`
	Ready         app.Ready          `yaml:"ready"`
	ReadyTimeout  time.Duration      `yaml:"ready_timeout"`
	Restart       app.Restart        `yaml:"restart"`
	StopExitCodes []int              `yaml:"stop_exit_codes"`
	KillTimeout   time.Duration      `yaml:"kill_timeout"`
	MaxMemory     string             `yaml:"max_memory"`
	MaxRestarts   int                `yaml:"max_restarts"`
	RestartWindow time.Duration      `yaml:"restart_window"`
	MinUptime     time.Duration      `yaml:"min_uptime"`
	Backoff       time.Duration      `yaml:"backoff"`
	BackoffMax    time.Duration      `yaml:"backoff_max"`
	Env           map[string]*string `yaml:"env"` // nil: not set
	LogFile       string             `yaml:"log_file"`
	OutFile       string             `yaml:"out_file"`
	ErrorFile     string             `yaml:"error_file"`
	LogMaxSize    string             `yaml:"log_max_size"`
	LogKeep       *int               `yaml:"log_keep"`
	LogMaxAge     string             `yaml:"log_max_age"`
	NoInstLimit   bool               `yaml:"no_instance_limit"`
	StopSignal    string             `yaml:"kill_signal"`
	LogFormat     app.LogFormat      `yaml:"log_format"`
	LogDateFormat string             `yaml:"log_date_format"`
}

func parseYAML(path string, b []byte, envName string) ([]app.App, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, yamlSyntaxErr(path, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, &ConfigError{File: path, Line: 1, Msg: "want a mapping with an apps: list"}
	}
	root := doc.Content[0]
	var appsNode *yaml.Node
	var jobsBlock Jobs
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i]
		switch k.Value {
		case "apps":
			appsNode = root.Content[i+1]
		case "jobs":
			j, err := parseJobs(path, root.Content[i+1])
			if err != nil {
				return nil, err
			}
			jobsBlock = j
		default:
			return nil, &ConfigError{File: path, Line: k.Line, Msg: fmt.Sprintf("unknown key %q (want apps, or jobs)", k.Value)}
		}
	}
	if appsNode == nil || appsNode.Kind != yaml.SequenceNode {
		return nil, &ConfigError{File: path, Line: root.Line, Msg: "apps: want a list of apps"}
	}
	var apps []app.App
	for _, n := range appsNode.Content {
		a, err := yamlToApp(path, n, envName)
		if err != nil {
			return nil, err
		}
		withJobsEnv(&a, jobsBlock)
		apps = append(apps, a)
	}
	return apps, nil
}

func yamlToApp(path string, n *yaml.Node, envName string) (app.App, error) {
	if n.Kind != yaml.MappingNode {
		return app.App{}, &ConfigError{File: path, Line: n.Line, Msg: "an app must be a mapping"}
	}
	// env_<name> blocks are split off before the strict decode.
	envs := map[string]map[string]*string{}
	plain := &yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Column: n.Column}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if name, ok := strings.CutPrefix(k.Value, "env_"); ok {
			m := map[string]*string{}
			if err := v.Decode(&m); err != nil {
				return app.App{}, yamlErr(path, err)
			}
			envs[name] = m
			continue
		}
		plain.Content = append(plain.Content, k, v)
	}
	var y yamlApp
	// Unknown keys are errors (a typo must not pass silently).
	for i := 0; i < len(plain.Content); i += 2 {
		k := plain.Content[i]
		if !knownYAMLKey(k.Value) {
			return app.App{}, &ConfigError{File: path, Line: k.Line, Msg: fmt.Sprintf("unknown key %q", k.Value)}
		}
	}
	if err := plain.Decode(&y); err != nil {
		return app.App{}, yamlTypeErr(path, plain, err)
	}
	line := func(key string) int {
		for i := 0; i < len(plain.Content); i += 2 {
			if plain.Content[i].Value == key {
				return plain.Content[i].Line
			}
		}
		return n.Line
	}
	bad := func(key, msg string) (app.App, error) {
		return app.App{}, &ConfigError{File: path, Line: line(key), Msg: msg}
	}
	a := app.App{
		Name: y.Name, Ports: y.Ports, Cluster: y.Cluster, Host: y.Host, Ready: y.Ready, ReadyTimeout: y.ReadyTimeout,
		Restart: y.Restart, StopExitCodes: y.StopExitCodes, KillTimeout: y.KillTimeout,
		MaxRestarts: y.MaxRestarts, RestartWindow: y.RestartWindow, MinUptime: y.MinUptime,
		BackoffInitial: y.Backoff, BackoffMax: y.BackoffMax, Dir: y.Cwd,
		LogFile: y.LogFile, OutFile: y.OutFile, ErrorFile: y.ErrorFile, NoInstanceLimit: y.NoInstLimit,
		StopSignal: y.StopSignal, LogFormat: y.LogFormat, LogDateFormat: y.LogDateFormat,
	}
	switch {
	case len(y.Command) > 0 && y.Script != "":
		return bad("script", "give command or script, not both")
	case len(y.Command) > 0:
		a.Command = append(y.Command, y.Args...)
	case y.Script != "":
		a.Command = scriptCommand(y.Script, "", nil, y.Args)
	default:
		return bad("name", "app has no command (or script)")
	}
	if y.Instances.Kind != 0 {
		n, err := app.ParseInstances(y.Instances.Value)
		if err != nil {
			return app.App{}, &ConfigError{File: path, Line: y.Instances.Line, Msg: err.Error()}
		}
		a.Instances = n
	}
	if y.MaxMemory != "" {
		m, err := app.ParseSize(y.MaxMemory)
		if err != nil {
			return bad("max_memory", err.Error())
		}
		a.MaxMemory = m
	}
	if y.LogMaxSize != "" {
		m, err := app.ParseSize(y.LogMaxSize)
		if err != nil {
			return bad("log_max_size", "log_max_size: "+err.Error())
		}
		a.LogMaxSize = m
	}
	if y.LogKeep != nil {
		if *y.LogKeep < 0 {
			return bad("log_keep", fmt.Sprintf("log_keep must be 0 or more (0 keeps no rotated file), not %d", *y.LogKeep))
		}
		a.LogKeep = *y.LogKeep
		if a.LogKeep == 0 {
			a.LogKeep = -1 // log_keep: 0 keeps none (App's 0 means the default)
		}
	}
	if y.LogMaxAge != "" {
		d, err := parseAge(y.LogMaxAge)
		if err != nil {
			return bad("log_max_age", err.Error())
		}
		a.LogMaxAge = d
	}
	env := map[string]string{}
	for _, m := range []map[string]*string{y.Env, envs[envName]} {
		for k, v := range m {
			if v == nil {
				delete(env, k) // null: not set
			} else {
				env[k] = *v
			}
		}
	}
	a.Env = mergeEnv(env, nil)
	if err := a.Check(); err != nil {
		var fe *app.FieldError
		if errors.As(err, &fe) {
			return bad(fe.Key, fe.Msg)
		}
		return bad("name", err.Error())
	}
	return a, nil
}

var yamlKeys = []string{"name", "command", "script", "args", "cwd", "instances", "ports", "cluster", "host", "ready", "ready_timeout",
	"restart", "stop_exit_codes", "kill_timeout", "max_memory", "max_restarts", "restart_window", "min_uptime",
	"backoff", "backoff_max", "env", "log_file", "out_file", "error_file", "log_max_size", "log_keep", "log_max_age",
	"no_instance_limit", "kill_signal", "log_format", "log_date_format"}

func knownYAMLKey(k string) bool {
	for _, x := range yamlKeys {
		if x == k {
			return true
		}
	}
	return false
}

// yamlSyntaxErr turns a yaml syntax error into a *ConfigError. yaml.v3
// reports a parser error at the line before the construct it was parsing
// (the 0-based line of its start): an unclosed [ on line 3 comes as "line
// 2: did not find expected ',' or ']'". Those errors are moved to the
// construct's own line and say what to write.
func yamlSyntaxErr(path string, err error) error {
	e := yamlErr(path, err)
	ce, ok := e.(*ConfigError)
	if !ok || ce.Line == 0 {
		return e
	}
	for _, m := range []struct{ yaml, msg string }{
		{"did not find expected ',' or ']'", "this [ is not closed: end the list with ] (and quote any item holding a , [ ] { or })"},
		{"did not find expected ',' or '}'", "this { is not closed: end the mapping with } (and quote any value holding a , [ ] { or })"},
		{"did not find expected '-' indicator", "in the list that starts here, a line is not indented as a list item (- ...) or as a key of one: indent it like its neighbours"},
		{"did not find expected key", "in the mapping that starts here, a line is not indented like the keys above it: indent it like its neighbours"},
		{"did not find expected node content", "a value is missing after this point: give one, or quote it"},
	} {
		if ce.Msg == m.yaml {
			ce.Line++
			ce.Msg = m.msg + " (yaml: " + m.yaml + ")"
			break
		}
	}
	return ce
}

// yamlTypeErr turns an error decoding the keys of an app (plain, a
// mapping) into a *ConfigError that names the key, its line and what to
// write instead ("kill_timeout: 5 has no unit: write 5s").
func yamlTypeErr(path string, plain *yaml.Node, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return yamlErr(path, err)
	}
	for i := 0; i+1 < len(plain.Content); i += 2 {
		k, v := plain.Content[i], plain.Content[i+1]
		one := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{k, v}}
		var y yamlApp
		if one.Decode(&y) == nil {
			continue
		}
		return &ConfigError{File: path, Line: k.Line, Msg: typeHint(k.Value, v)}
	}
	return yamlErr(path, err)
}

// typeHint says what the value v of key should look like.
func typeHint(key string, v *yaml.Node) string {
	val := v.Value
	if v.Kind != yaml.ScalarNode {
		val = map[yaml.Kind]string{yaml.SequenceNode: "a list", yaml.MappingNode: "a mapping"}[v.Kind]
	}
	switch key {
	case "ready_timeout", "kill_timeout", "min_uptime", "restart_window", "backoff", "backoff_max":
		if _, err := strconv.ParseFloat(val, 64); err == nil && v.Kind == yaml.ScalarNode {
			return fmt.Sprintf("%s: %s has no unit: write %ss (or %sms)", key, val, val, val)
		}
		return fmt.Sprintf("%s: want a duration such as 10s, 500ms or 1m30s, not %s", key, val)
	case "ports", "stop_exit_codes":
		list := val
		if v.Kind == yaml.ScalarNode {
			list = strings.Join(strings.FieldsFunc(val, func(r rune) bool { return r == ',' || r == ' ' }), ", ")
		} else {
			list = "3000"
		}
		return fmt.Sprintf("%s: want a list of whole numbers, not %s: write %s: [%s]", key, quoteYAML(v), key, list)
	case "command", "args":
		ex := "node, server.js"
		if v.Kind == yaml.ScalarNode && val != "" {
			ex = strings.Join(strings.Fields(val), ", ")
		}
		return fmt.Sprintf("%s: want a list of strings, not %s: write %s: [%s]", key, quoteYAML(v), key, ex)
	case "env":
		return fmt.Sprintf("env: want a mapping of names to values, not %s: write env: {NAME: value}", val)
	case "max_restarts", "log_keep":
		return fmt.Sprintf("%s: want a whole number, not %s", key, quoteYAML(v))
	case "no_instance_limit":
		return fmt.Sprintf("no_instance_limit: want true or false, not %s", quoteYAML(v))
	}
	return fmt.Sprintf("%s: want a single value, not %s", key, val)
}

// quoteYAML shows a value as written: a quoted string in quotes.
func quoteYAML(v *yaml.Node) string {
	switch {
	case v.Kind == yaml.SequenceNode:
		return "a list"
	case v.Kind == yaml.MappingNode:
		return "a mapping"
	case v.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 || v.Tag == "!!str":
		return strconv.Quote(v.Value) + " (a string)"
	}
	return v.Value
}

// yamlErr turns a yaml error ("yaml: line 3: ...") into a *ConfigError.
func yamlErr(path string, err error) error {
	var te *yaml.TypeError
	msg := err.Error()
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.Index(rest, ":"); i > 0 {
			if l, err := strconv.Atoi(rest[:i]); err == nil {
				return &ConfigError{File: path, Line: l, Msg: strings.TrimSpace(rest[i+1:])}
			}
		}
	}
	return &ConfigError{File: path, Msg: msg}
}

// parseAge parses a duration such as "90m", "12h" or "7d" (days of 24h,
// alone or before other units: "1d12h").
func parseAge(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	var days int64
	if i := strings.IndexByte(t, 'd'); i > 0 {
		n, err := strconv.ParseInt(t[:i], 10, 32)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("log_max_age: bad duration %q: want e.g. 12h or 7d", s)
		}
		days, t = n, t[i+1:]
	}
	var d time.Duration
	if t != "" {
		var err error
		if d, err = time.ParseDuration(t); err != nil || d < 0 {
			return 0, fmt.Errorf("log_max_age: bad duration %q: want e.g. 12h or 7d", s)
		}
	}
	return time.Duration(days)*24*time.Hour + d, nil
}

// scriptCommand builds the command for a PM2-style script: node for .js
// (and .cjs, .mjs) files unless interpreter says otherwise.
func scriptCommand(script, interpreter string, interpArgs, args []string) []string {
	if interpreter == "" || interpreter == "none" {
		switch filepath.Ext(script) {
		case ".js", ".cjs", ".mjs":
			interpreter = "node"
		default:
			if interpreter == "" {
				interpreter = "none"
			}
		}
	}
	var cmd []string
	if interpreter != "none" {
		cmd = append(append([]string{interpreter}, interpArgs...), script)
	} else {
		cmd = []string{script}
	}
	return append(cmd, args...)
}

// mergeEnv returns base with over applied, as sorted KEY=VALUE.
func mergeEnv(base, over map[string]string) []string {
	m := map[string]string{}
	for k, v := range base {
		m[k] = v
	}
	for k, v := range over {
		m[k] = v
	}
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// jsonAsJavaScript reads a .json file that is not strict JSON (strict is
// that error) as PM2 does, as JavaScript, with a warning that says so. A
// file that is not JavaScript either gets the strict error, which has a
// line.
func jsonAsJavaScript(path, envName string, strict error) ([]app.App, error) {
	apps, err := parseJSONAsJS(path, envName)
	var ce *ConfigError
	switch {
	case errors.As(err, &ce) && strings.HasPrefix(ce.Msg, "node could not load it"):
		return nil, strict
	case err != nil || len(apps) == 0:
		return apps, err
	}
	why := strict.Error()
	if errors.As(strict, &ce) {
		why = fmt.Sprintf("line %d: %s", ce.Line, ce.Msg)
	}
	apps[0].Warnings = append([]string{"the file is not strict JSON (" + why + "): read as JavaScript, as PM2 reads .json files"}, apps[0].Warnings...)
	return apps, nil
}

// Defaults of PM2 7 that apps of an ecosystem file get where herd's own
// differ.
const (
	pm2KillTimeout = 1600 * time.Millisecond // PM2's kill_timeout
	pm2StopSignal  = "SIGINT"                // PM2's kill signal
	pm2MaxRestarts = 16                      // PM2's max_restarts
	pm2TimeFormat  = "YYYY-MM-DDTHH:mm:ss"   // PM2's log_date_format for time: true
)

func parseEcosystem(path string, b []byte, envName string) ([]app.App, error) {
	var doc struct {
		Apps []json.RawMessage `json:"apps"`
		PM2  []json.RawMessage `json:"pm2"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		// PM2 also takes a list of apps, or one app, as the whole file.
		var list []json.RawMessage
		if lerr := json.Unmarshal(b, &list); lerr != nil {
			return nil, jsonErr(path, b, 0, err)
		}
		doc.Apps = list
	}
	if doc.Apps == nil && doc.PM2 != nil {
		doc.Apps = doc.PM2
	}
	if doc.Apps == nil && bytes.Contains(b, []byte(`"script"`)) {
		var one map[string]json.RawMessage
		if json.Unmarshal(b, &one) == nil && one["script"] != nil {
			doc.Apps = []json.RawMessage{b}
		}
	}
	// Offsets of each app, for line numbers.
	offsets := appOffsets(b)
	var apps []app.App
	for i, raw := range doc.Apps {
		off := int64(0)
		if i < len(offsets) {
			off = offsets[i]
		}
		a, err := ecoApp(path, raw, envName)
		if err != nil {
			var ke *keyError
			line := lineAt(b, off)
			if errors.As(err, &ke) {
				if ko, ok := keyOffsets(raw)[ke.key]; ok {
					line = lineAt(b, off+ko)
				}
			}
			return nil, &ConfigError{File: path, Line: line, Msg: fmt.Sprintf("app %d (%s): %s", i, a.Name, err.Error())}
		}
		apps = append(apps, a)
	}
	if len(apps) > 0 {
		apps[0].Warnings = append(topLevelWarnings(b), apps[0].Warnings...)
	}
	return apps, nil
}

// topLevelWarnings returns a warning for each key of the file beside its
// apps (or pm2) list, which herd does not read: PM2's deploy and static,
// and any other.
func topLevelWarnings(b []byte) []string {
	var top map[string]json.RawMessage
	if json.Unmarshal(b, &top) != nil || (top["apps"] == nil && top["pm2"] == nil) {
		return nil
	}
	var keys []string
	for k := range top {
		if k != "apps" && k != "pm2" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		switch k {
		case "deploy":
			out = append(out, "deploy (beside apps): ignored: herd does not deploy")
		case "static":
			out = append(out, "static (beside apps): ignored: herd does not serve static files")
		default:
			out = append(out, k+" (beside apps): ignored: not a key of a PM2 7 ecosystem file")
		}
	}
	return out
}

// keyError is a bad value of one key of an ecosystem app (key as written
// in the file), for the line number.
type keyError struct {
	key string
	err error
}

func (e *keyError) Error() string { return e.err.Error() }

// ecoApp reads one app of an ecosystem file the way PM2 7 reads it (see
// pm2.go), with a warning for every key herd reads differently or not at
// all. On an error, the App holds the name, for the message.
func ecoApp(path string, raw json.RawMessage, envName string) (app.App, error) {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(raw, &all); err != nil {
		return app.App{}, fmt.Errorf("an app must be an object, not %s", short(raw))
	}
	p := canonical(all)
	var a app.App
	bad := func(key string, err error) (app.App, error) {
		return a, &keyError{key: p.from[key], err: err}
	}
	var err error
	if a.Name, err = p.str("name"); err != nil {
		return bad("name", err)
	}
	script, err := p.str("script")
	if err != nil {
		return bad("script", err)
	}
	if script == "" {
		return a, errors.New("no script: give the program to run, e.g. script: 'app.js'")
	}
	if a.Name == "" {
		a.Name = pm2Name(script)
	}
	spec := scriptSpec{script: script}
	if spec.args, err = p.list("args"); err != nil {
		return bad("args", err)
	}
	if spec.interpArgs, err = p.list("node_args"); err != nil {
		return bad("node_args", err)
	}
	if spec.interpreter, err = p.str("exec_interpreter"); err != nil {
		return bad("exec_interpreter", err)
	}
	if a.Dir, err = p.str("cwd"); err != nil {
		return bad("cwd", err)
	}
	base, _ := filepath.Abs(filepath.Dir(path))
	spec.dir = a.Dir
	if !filepath.IsAbs(spec.dir) {
		spec.dir = filepath.Join(base, spec.dir)
	}
	cmd, warns, err := pm2Command(spec)
	if err != nil {
		return bad("script", err)
	}
	a.Command = cmd
	a.Warnings = append(p.warnings, warns...)

	if p.has("instances") {
		if a.Instances, err = pm2Instances(p); err != nil {
			return bad("instances", err)
		}
	}
	if a.NoInstanceLimit, err = p.boolean("no_instance_limit", false); err != nil {
		return bad("no_instance_limit", err)
	}

	// env, then env_<envName> over it; null unsets.
	env := map[string]string{}
	for _, blk := range []struct {
		key string
		v   json.RawMessage
	}{{"env", p.vals["env"]}, {"env_" + envName, p.envs[envName]}} {
		if blk.v == nil || blk.key == "env_" { // no --env: env alone
			continue
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(blk.v, &m); err != nil {
			return a, &keyError{key: blk.key, err: fmt.Errorf("%s: want an object of names and values, not %s", blk.key, short(blk.v))}
		}
		for k, v := range m {
			s, set, err := jsString(v)
			switch {
			case err != nil:
				return a, &keyError{key: blk.key, err: fmt.Errorf("%s.%s: %v, not %s", blk.key, k, err, short(v))}
			case set:
				env[k] = s
			default:
				delete(env, k) // null: not set
			}
		}
	}
	if p.has("port") {
		port, _, err := p.number("port")
		if err != nil {
			return bad("port", err)
		}
		env["PORT"] = jsNumber(port) // PM2 sets PORT from port
	}
	if strings.Contains(filepath.Base(a.Command[0]), "python") {
		if _, ok := env["PYTHONUNBUFFERED"]; !ok {
			env["PYTHONUNBUFFERED"] = "1" // as PM2, so that lines arrive as written
		}
	}
	a.Env = mergeEnv(env, nil)

	execMode, err := p.str("exec_mode")
	if err != nil {
		return bad("exec_mode", err)
	}
	switch execMode {
	case "", "fork", "fork_mode", "cluster", "cluster_mode":
	default:
		return bad("exec_mode", fmt.Errorf("exec_mode: want 'fork' or 'cluster', not %q", execMode))
	}
	if execMode == "" && p.has("instances") && a.IsNode() {
		execMode = "cluster" // PM2 7 runs a node app with instances in cluster mode
	}
	if execMode == "cluster" || execMode == "cluster_mode" {
		// The port, if the file gives one (env, env_<name>, port); else
		// the command line's or the caller's (see cmd/herd), or none: the
		// instances share whatever port they listen on.
		a.Cluster = true
		if port, err := strconv.Atoi(env["PORT"]); err == nil && port > 0 && port <= 65535 {
			a.Ports = []int{port}
		} else if v, ok := env["PORT"]; ok {
			return a, fmt.Errorf("env.PORT: %q is not a port number (1-65535): exec_mode cluster shares that port", v)
		}
	}

	if ok, err := p.boolean("wait_ready", false); err != nil {
		return bad("wait_ready", err)
	} else if ok {
		a.Ready = app.ReadyMessage
	}
	ms := func(key string, d *time.Duration) error {
		n, ok, err := p.millis(key)
		if ok && err == nil {
			*d = time.Duration(n) * time.Millisecond
		}
		return err
	}
	if err := ms("listen_timeout", &a.ReadyTimeout); err != nil {
		return bad("listen_timeout", err)
	}
	a.KillTimeout = pm2KillTimeout
	if err := ms("kill_timeout", &a.KillTimeout); err != nil {
		return bad("kill_timeout", err)
	}
	if a.KillTimeout == 0 {
		a.KillTimeout = pm2KillTimeout // PM2 reads 0 as not set
	}
	if a.StopSignal, err = p.str("kill_signal"); err != nil {
		return bad("kill_signal", err)
	}
	if a.StopSignal == "" {
		a.StopSignal = pm2StopSignal
	}
	if v, ok := p.vals["min_uptime"]; ok {
		if err := ms("min_uptime", &a.MinUptime); err != nil {
			d, perr := time.ParseDuration(strings.Trim(string(v), `"`))
			if perr != nil || d < 0 {
				return bad("min_uptime", errors.New("min_uptime: want milliseconds or a duration such as 1s"))
			}
			a.MinUptime = d
		}
	}
	a.MaxRestarts = pm2MaxRestarts
	if n, ok, err := p.number("max_restarts"); err != nil {
		return bad("max_restarts", err)
	} else if ok {
		if n != math.Trunc(n) || n < -1e9 || n > 1e9 {
			return bad("max_restarts", fmt.Errorf("max_restarts: want a whole number, not %s", short(p.vals["max_restarts"])))
		}
		a.MaxRestarts = int(n)
		if a.MaxRestarts == 0 {
			a.MaxRestarts = pm2MaxRestarts // PM2 reads 0 as not set
		}
	}
	if ok, err := p.boolean("autorestart", true); err != nil {
		return bad("autorestart", err)
	} else if !ok {
		a.Restart = app.RestartNever
	}
	if v, ok := p.vals["stop_exit_codes"]; ok {
		var one int
		if json.Unmarshal(v, &one) == nil {
			a.StopExitCodes = []int{one}
		} else if err := json.Unmarshal(v, &a.StopExitCodes); err != nil {
			return bad("stop_exit_codes", errors.New("stop_exit_codes: want a number or a list of numbers"))
		}
	}
	if v, ok := p.vals["max_memory_restart"]; ok {
		var n float64
		if json.Unmarshal(v, &n) == nil && n >= 0 {
			a.MaxMemory = int64(n) // bytes
		} else {
			s, _ := p.str("max_memory_restart")
			if a.MaxMemory, err = app.ParseSize(s); err != nil {
				return bad("max_memory_restart", errors.New("max_memory_restart: "+err.Error()))
			}
		}
	}
	restartDelay, _, err := p.millis("restart_delay")
	if err != nil {
		return bad("restart_delay", err)
	}
	expBackoff, _, err := p.millis("exp_backoff_restart_delay")
	if err != nil {
		return bad("exp_backoff_restart_delay", err)
	}
	switch {
	case expBackoff > 0: // PM2: grows from this, capped at 15s
		a.BackoffInitial, a.BackoffMax = time.Duration(expBackoff)*time.Millisecond, 15*time.Second
	case restartDelay > 0: // PM2: the same wait before every restart
		a.BackoffInitial = time.Duration(restartDelay) * time.Millisecond
		a.BackoffMax = a.BackoffInitial
	}
	if err := ecoLogs(p, &a, spec.dir); err != nil {
		return a, err
	}
	if err := a.Check(); err != nil {
		var fe *app.FieldError
		if errors.As(err, &fe) {
			return bad(fe.Key, err)
		}
		return a, err
	}
	return a, nil
}

// pm2Instances reads instances as PM2 7 does: 0 or "max" is one per CPU
// (App's -1), -N is N fewer than the CPUs (at least one), a number in a
// string counts as that number.
func pm2Instances(p *pm2App) (int, error) {
	if s, err := p.str("instances"); err == nil && strings.TrimSpace(s) == "max" {
		return -1, nil
	}
	n, _, err := p.number("instances")
	if err != nil || n != math.Trunc(n) || math.Abs(n) > 1e9 {
		return 0, fmt.Errorf("instances: want a whole number, 0 or 'max' (one per CPU) or -N (N fewer than the CPUs), not %s", short(p.vals["instances"]))
	}
	switch {
	case n == 0:
		return -1, nil
	case n < 0:
		return max(runtime.NumCPU()+int(n), 1), nil
	}
	return int(n), nil
}

// ecoLogs reads the log keys of an ecosystem app: log_file, out_file and
// error_file (and their aliases; /dev/null or NULL means no file; a
// relative path is relative to the app's cwd dir, ~/ is $HOME, as PM2
// reads them), log_date_format and time, merge_logs, and herd's
// log_format.
func ecoLogs(p *pm2App, a *app.App, dir string) error {
	for _, f := range []struct {
		key string
		dst *string
	}{{"log_file", &a.LogFile}, {"out_file", &a.OutFile}, {"error_file", &a.ErrorFile}} {
		v, ok := p.vals[f.key]
		if !ok {
			continue
		}
		var b bool
		if f.key == "log_file" && json.Unmarshal(v, &b) == nil {
			if b {
				a.Warnings = append(a.Warnings, p.from[f.key]+": true: ignored: PM2 writes ~/.pm2/logs/NAME.log; herd writes a log file only to a path you give")
			}
			continue
		}
		s, err := p.str(f.key)
		if err != nil {
			return &keyError{key: p.from[f.key], err: err}
		}
		if rest, ok := strings.CutPrefix(s, "~/"); ok {
			if home, err := os.UserHomeDir(); err == nil {
				s = filepath.Join(home, rest)
			}
		}
		if s != "" && s != "/dev/null" && s != "NULL" {
			if !filepath.IsAbs(s) {
				s = filepath.Join(dir, s)
			}
			*f.dst = s
		}
	}
	var err error
	if a.LogDateFormat, err = p.str("log_date_format"); err != nil {
		return &keyError{key: p.from["log_date_format"], err: err}
	}
	if t, err := p.boolean("time", false); err != nil {
		return &keyError{key: p.from["time"], err: err}
	} else if t {
		a.LogDateFormat = pm2TimeFormat // PM2: time wins over log_date_format
	}
	if merge, err := p.boolean("merge_logs", true); err != nil {
		return &keyError{key: p.from["merge_logs"], err: err}
	} else if !merge {
		a.Warnings = append(a.Warnings, p.from["merge_logs"]+": false: ignored: herd writes every instance's lines to the app's one file")
	}
	if tk, err := p.boolean("treekill", true); err != nil {
		return &keyError{key: p.from["treekill"], err: err}
	} else if !tk {
		a.Warnings = append(a.Warnings, p.from["treekill"]+": false: ignored: herd always stops an instance's whole process tree")
	}
	f, err := p.str("log_format")
	if err != nil {
		return &keyError{key: p.from["log_format"], err: err}
	}
	a.LogFormat = app.LogFormat(f)
	return nil
}

// keyOffsets returns the byte offsets, in the object raw, of its
// top-level keys.
func keyOffsets(raw []byte) map[string]int64 {
	out := map[string]int64{}
	dec := json.NewDecoder(bytes.NewReader(raw))
	depth, wantKey := 0, false
	for {
		off := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return out
		}
		switch t := tok.(type) {
		case json.Delim:
			if t == '{' || t == '[' {
				depth++
			} else {
				depth--
			}
			wantKey = depth == 1
			continue
		case string:
			if depth == 1 && wantKey {
				out[t] = skipSpace(raw, off)
				wantKey = false
				continue
			}
		}
		wantKey = depth == 1
	}
}

// appOffsets returns the byte offsets of the elements of the top-level
// "apps" array.
func appOffsets(b []byte) []int64 {
	dec := json.NewDecoder(bytes.NewReader(b))
	depth := 0
	inApps := false
	var out []int64
	for {
		off := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return out
		}
		switch t := tok.(type) {
		case json.Delim:
			if (t == '{' || t == '[') && inApps && depth == 2 {
				out = append(out, skipSpace(b, off))
			}
			if t == '{' || t == '[' {
				depth++
			} else {
				depth--
				if depth == 1 {
					inApps = false
				}
			}
		case string:
			if depth == 1 && t == "apps" {
				inApps = true
			}
		default:
			if inApps && depth == 2 {
				out = append(out, skipSpace(b, off))
			}
		}
	}
}

// jsonErr turns a JSON error into a *ConfigError with its line.
func jsonErr(path string, b []byte, base int64, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return &ConfigError{File: path, Line: lineAt(b, base+se.Offset), Msg: se.Error()}
	case errors.As(err, &te):
		return &ConfigError{File: path, Line: lineAt(b, base+te.Offset), Msg: fmt.Sprintf("%s: want %s, not %s", te.Field, te.Type, te.Value)}
	}
	return &ConfigError{File: path, Line: lineAt(b, base), Msg: err.Error()}
}

// lineAt returns the 1-based line of byte offset off in b.
func lineAt(b []byte, off int64) int {
	if off > int64(len(b)) {
		off = int64(len(b))
	}
	if off < 0 {
		off = 0
	}
	return bytes.Count(b[:off], []byte("\n")) + 1
}

// skipSpace returns the offset of the first byte at or after off that is not
// JSON white space or a separator.
func skipSpace(b []byte, off int64) int64 {
	for off < int64(len(b)) && strings.IndexByte(" \t\r\n,:", b[off]) >= 0 {
		off++
	}
	return off
}
