package config

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
// ecosystem file: JSON (.json), or JavaScript (.js, .cjs, .mjs, such as
// PM2's ecosystem.config.js), which node evaluates in the file's directory
// (module.exports or the default export, or what it returns when it is a
// function) within 10s. The env block of environment envName ("" for none)
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
//	    env_production: {LOG_LEVEL: warn}
//	    log_file: logs/web.log       # every line of the app, herd's own too
//	    out_file: logs/web.out.log   # stdout lines only
//	    error_file: logs/web.err.log # stderr lines only
//	    log_max_size: 10M            # rotate a file before it passes this
//	    log_keep: 5                  # rotated files kept: web.log.1 ... web.log.5 (0: none)
//	    log_max_age: 7d              # also delete rotated files older than this (s, m, h, d)
//
// Ecosystem JSON: apps[] with name, script, args (string or list),
// interpreter, node_args, instances (number, 0, -1 or "max"), exec_mode
// ("cluster" needs PORT in env: herd shares that port), env, env_<name>,
// cwd, wait_ready, kill_timeout and min_uptime (ms), max_restarts,
// restart_delay and exp_backoff_restart_delay (ms),
// autorestart, stop_exit_codes, max_memory_restart, log_file, out_file
// (or output) and error_file (or error), interpreter_args (as node_args),
// and herd's own no_instance_limit.
// Every instance of an app writes to the same files (PM2's merge_logs);
// rotation is built in with the defaults of app.App.LogMaxSize and LogKeep.
// Other keys (watch, cron_restart, ...) are listed in app.App.Unsupported, and
// herd warns about them when the app starts.
//
// Relative cwd and log file paths are relative to the config file's
// directory.
func Load(path, envName string) ([]app.App, error) {
	var b []byte
	if !isScriptConfig(path) {
		var err error
		if b, err = os.ReadFile(path); err != nil {
			return nil, err
		}
	}
	return load(path, b, envName)
}

// load is Load with the file's bytes b already read (nil for a JavaScript
// file, which node reads).
func load(path string, b []byte, envName string) ([]app.App, error) {
	var apps []app.App
	var err error
	switch {
	case strings.HasSuffix(path, ".json"):
		apps, err = parseEcosystem(path, b, envName)
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
	// Like PM2, paths are relative to the config file's directory.
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
	Name          string            `yaml:"name"`
	Command       []string          `yaml:"command"`
	Script        string            `yaml:"script"`
	Args          []string          `yaml:"args"`
	Cwd           string            `yaml:"cwd"`
	Instances     yaml.Node         `yaml:"instances"`
	Ports         []int             `yaml:"ports"`
	Host          string            `yaml:"host"`
	Ready         app.Ready         `yaml:"ready"`
	ReadyTimeout  time.Duration     `yaml:"ready_timeout"`
	Restart       app.Restart       `yaml:"restart"`
	StopExitCodes []int             `yaml:"stop_exit_codes"`
	KillTimeout   time.Duration     `yaml:"kill_timeout"`
	MaxMemory     string            `yaml:"max_memory"`
	MaxRestarts   int               `yaml:"max_restarts"`
	RestartWindow time.Duration     `yaml:"restart_window"`
	MinUptime     time.Duration     `yaml:"min_uptime"`
	Backoff       time.Duration     `yaml:"backoff"`
	BackoffMax    time.Duration     `yaml:"backoff_max"`
	Env           map[string]string `yaml:"env"`
	LogFile       string            `yaml:"log_file"`
	OutFile       string            `yaml:"out_file"`
	ErrorFile     string            `yaml:"error_file"`
	LogMaxSize    string            `yaml:"log_max_size"`
	LogKeep       *int              `yaml:"log_keep"`
	LogMaxAge     string            `yaml:"log_max_age"`
	NoInstLimit   bool              `yaml:"no_instance_limit"`
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
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i]
		if k.Value != "apps" {
			return nil, &ConfigError{File: path, Line: k.Line, Msg: fmt.Sprintf("unknown key %q (want apps)", k.Value)}
		}
		appsNode = root.Content[i+1]
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
		apps = append(apps, a)
	}
	return apps, nil
}

func yamlToApp(path string, n *yaml.Node, envName string) (app.App, error) {
	if n.Kind != yaml.MappingNode {
		return app.App{}, &ConfigError{File: path, Line: n.Line, Msg: "an app must be a mapping"}
	}
	// env_<name> blocks are split off before the strict decode.
	envs := map[string]map[string]string{}
	plain := &yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Column: n.Column}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if name, ok := strings.CutPrefix(k.Value, "env_"); ok {
			m := map[string]string{}
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
		Name: y.Name, Ports: y.Ports, Host: y.Host, Ready: y.Ready, ReadyTimeout: y.ReadyTimeout,
		Restart: y.Restart, StopExitCodes: y.StopExitCodes, KillTimeout: y.KillTimeout,
		MaxRestarts: y.MaxRestarts, RestartWindow: y.RestartWindow, MinUptime: y.MinUptime,
		BackoffInitial: y.Backoff, BackoffMax: y.BackoffMax, Dir: y.Cwd,
		LogFile: y.LogFile, OutFile: y.OutFile, ErrorFile: y.ErrorFile, NoInstanceLimit: y.NoInstLimit,
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
	a.Env = mergeEnv(y.Env, envs[envName])
	if err := a.Check(); err != nil {
		var fe *app.FieldError
		if errors.As(err, &fe) {
			return bad(fe.Key, fe.Msg)
		}
		return bad("name", err.Error())
	}
	return a, nil
}

var yamlKeys = []string{"name", "command", "script", "args", "cwd", "instances", "ports", "host", "ready", "ready_timeout",
	"restart", "stop_exit_codes", "kill_timeout", "max_memory", "max_restarts", "restart_window", "min_uptime",
	"backoff", "backoff_max", "env", "log_file", "out_file", "error_file", "log_max_size", "log_keep", "log_max_age",
	"no_instance_limit"}

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

// ecoApp is one app of a PM2 ecosystem file.
type ecoApp struct {
	Name             string          `json:"name"`
	Script           string          `json:"script"`
	Args             json.RawMessage `json:"args"`
	Interpreter      string          `json:"interpreter"`
	NodeArgs         json.RawMessage `json:"node_args"`
	InterpreterArgs  json.RawMessage `json:"interpreter_args"`
	Instances        json.RawMessage `json:"instances"`
	ExecMode         string          `json:"exec_mode"`
	Cwd              string          `json:"cwd"`
	WaitReady        bool            `json:"wait_ready"`
	KillTimeout      int64           `json:"kill_timeout"`
	ListenTimeout    int64           `json:"listen_timeout"`
	MinUptime        json.RawMessage `json:"min_uptime"`
	MaxRestarts      int             `json:"max_restarts"`
	Autorestart      *bool           `json:"autorestart"`
	StopExitCodes    json.RawMessage `json:"stop_exit_codes"`
	MaxMemoryRestart string          `json:"max_memory_restart"`
	LogFile          string          `json:"log_file"`
	OutFile          string          `json:"out_file"`
	Output           string          `json:"output"`
	ErrorFile        string          `json:"error_file"`
	Error            string          `json:"error"`
	RestartDelay     int64           `json:"restart_delay"`
	ExpBackoff       int64           `json:"exp_backoff_restart_delay"`
	NoInstanceLimit  bool            `json:"no_instance_limit"` // herd's own
}

// ecoKnown are the ecosystem keys herd acts on (ecoApp's, and env blocks)
// or that ask for what herd always does: merge_logs and combine_logs (one
// file for every instance), time (file lines carry timestamps), treekill.
var ecoKnown = map[string]bool{
	"name": true, "script": true, "args": true, "interpreter": true, "node_args": true, "interpreter_args": true,
	"instances": true, "exec_mode": true, "cwd": true, "wait_ready": true, "kill_timeout": true,
	"listen_timeout": true, "min_uptime": true, "max_restarts": true, "autorestart": true,
	"stop_exit_codes": true, "max_memory_restart": true, "log_file": true, "out_file": true, "output": true,
	"error_file": true, "error": true, "restart_delay": true, "exp_backoff_restart_delay": true, "env": true,
	"merge_logs": true, "combine_logs": true, "time": true, "treekill": true, "no_instance_limit": true,
}

// ecoUnsupported returns, sorted, the keys of an ecosystem app that herd
// does not act on (watch, cron_restart, ...).
func ecoUnsupported(all map[string]json.RawMessage) []string {
	var out []string
	for k := range all {
		if !ecoKnown[k] && !strings.HasPrefix(k, "env_") {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func parseEcosystem(path string, b []byte, envName string) ([]app.App, error) {
	var doc struct {
		Apps []json.RawMessage `json:"apps"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, jsonErr(path, b, 0, err)
	}
	// Offsets of each app, for line numbers.
	offsets := appOffsets(b)
	var apps []app.App
	for i, raw := range doc.Apps {
		off := int64(0)
		if i < len(offsets) {
			off = offsets[i]
		}
		var e ecoApp
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, jsonErr(path, b, off, err)
		}
		var all map[string]json.RawMessage
		_ = json.Unmarshal(raw, &all)
		bad := func(msg string) ([]app.App, error) {
			return nil, &ConfigError{File: path, Line: lineAt(b, off), Msg: fmt.Sprintf("app %d (%s): %s", i, e.Name, msg)}
		}
		if e.Script == "" {
			return bad("no script")
		}
		args, err := stringOrList(e.Args)
		if err != nil {
			return bad("args: " + err.Error())
		}
		nodeArgs, err := stringOrList(e.NodeArgs)
		if err != nil {
			return bad("node_args: " + err.Error())
		}
		if len(nodeArgs) == 0 {
			if nodeArgs, err = stringOrList(e.InterpreterArgs); err != nil {
				return bad("interpreter_args: " + err.Error())
			}
		}
		a := app.App{Name: e.Name, Command: scriptCommand(e.Script, e.Interpreter, nodeArgs, args), Dir: e.Cwd, MaxRestarts: e.MaxRestarts,
			LogFile: e.LogFile, OutFile: cmp.Or(e.OutFile, e.Output), ErrorFile: cmp.Or(e.ErrorFile, e.Error)}
		if len(e.Instances) > 0 {
			s := strings.Trim(string(e.Instances), `"`)
			if s == "0" || s == "-1" { // PM2: one per CPU
				s = "max"
			}
			if a.Instances, err = app.ParseInstances(s); err != nil {
				return bad(err.Error())
			}
		}
		a.NoInstanceLimit = e.NoInstanceLimit
		env := map[string]string{}
		over := map[string]string{}
		for k, v := range all {
			if k != "env" && !(envName != "" && k == "env_"+envName) {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal(v, &m); err != nil {
				return bad(k + ": want an object")
			}
			dst := env
			if k != "env" {
				dst = over
			}
			for kk, vv := range m {
				dst[kk] = fmt.Sprint(vv)
			}
		}
		for k, v := range over {
			env[k] = v
		}
		a.Env = mergeEnv(env, nil)
		if e.ExecMode == "cluster" || e.ExecMode == "cluster_mode" {
			p, err := strconv.Atoi(env["PORT"])
			if err != nil {
				return bad(`exec_mode "cluster" needs PORT in env: herd opens that port once and shares it`)
			}
			a.Ports = []int{p}
		}
		if e.WaitReady {
			a.Ready = app.ReadyMessage
		}
		if e.ListenTimeout > 0 {
			a.ReadyTimeout = time.Duration(e.ListenTimeout) * time.Millisecond
		}
		if e.KillTimeout > 0 {
			a.KillTimeout = time.Duration(e.KillTimeout) * time.Millisecond
		}
		if len(e.MinUptime) > 0 {
			var ms float64
			if json.Unmarshal(e.MinUptime, &ms) == nil {
				a.MinUptime = time.Duration(ms) * time.Millisecond
			} else if d, err := time.ParseDuration(strings.Trim(string(e.MinUptime), `"`)); err == nil {
				a.MinUptime = d
			} else {
				return bad("min_uptime: want milliseconds or a duration")
			}
		}
		if e.Autorestart != nil && !*e.Autorestart {
			a.Restart = app.RestartNever
		}
		if len(e.StopExitCodes) > 0 {
			var one int
			if json.Unmarshal(e.StopExitCodes, &one) == nil {
				a.StopExitCodes = []int{one}
			} else if err := json.Unmarshal(e.StopExitCodes, &a.StopExitCodes); err != nil {
				return bad("stop_exit_codes: want a number or a list")
			}
		}
		if e.MaxMemoryRestart != "" {
			if a.MaxMemory, err = app.ParseSize(e.MaxMemoryRestart); err != nil {
				return bad("max_memory_restart: " + err.Error())
			}
		}
		switch {
		case e.RestartDelay < 0 || e.ExpBackoff < 0:
			return bad("restart_delay and exp_backoff_restart_delay are milliseconds, not negative")
		case e.ExpBackoff > 0: // PM2: grows from this, capped at 15s
			a.BackoffInitial, a.BackoffMax = time.Duration(e.ExpBackoff)*time.Millisecond, 15*time.Second
		case e.RestartDelay > 0: // PM2: the same wait before every restart
			a.BackoffInitial = time.Duration(e.RestartDelay) * time.Millisecond
			a.BackoffMax = a.BackoffInitial
		}
		if err := a.Check(); err != nil {
			return bad(err.Error())
		}
		a.Unsupported = ecoUnsupported(all)
		apps = append(apps, a)
	}
	return apps, nil
}

// stringOrList decodes "a b c" (split on spaces) or ["a","b","c"].
func stringOrList(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.Fields(s), nil
	}
	var l []string
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, errors.New("want a string or a list of strings")
	}
	return l, nil
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
