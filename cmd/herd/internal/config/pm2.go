package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file holds what herd knows of PM2 7's ecosystem keys: their names
// and aliases, which herd reads and why it ignores the others, and how PM2
// reads a script, its interpreter, its args and its env values.

// pm2Key is one key of a PM2 ecosystem app.
type pm2Key struct {
	// aliases are the other names PM2 accepts, in the order PM2 tries
	// them after the key itself; the camelCase form of the key (PM2
	// accepts outFile for out_file) is added by pm2Aliases.
	aliases []string
	// ignored, when set, says why herd does not act on the key; herd
	// warns with it. Empty for the keys herd reads.
	ignored string
	// same, when set, is the value (as JSON) that asks for what herd does
	// anyway (watch: false); it gets no warning.
	same string
}

// pm2Keys are the keys of an app in PM2 7's schema (lib/API/schema.json),
// and herd's own additions (kill_signal, log_format, no_instance_limit).
var pm2Keys = map[string]pm2Key{
	// Read by herd.
	"name": {}, "script": {aliases: []string{"command", "cmd"}}, "args": {}, "cwd": {},
	"node_args":        {aliases: []string{"interpreter_args", "interpreterArgs"}},
	"exec_interpreter": {aliases: []string{"interpreter"}},
	"instances":        {}, "exec_mode": {}, "port": {}, "env": {},
	"wait_ready": {}, "listen_timeout": {}, "kill_timeout": {}, "min_uptime": {}, "max_restarts": {},
	"autorestart": {}, "stop_exit_codes": {}, "max_memory_restart": {},
	"restart_delay": {}, "exp_backoff_restart_delay": {},
	"log_file":   {aliases: []string{"log"}},
	"out_file":   {aliases: []string{"out_log", "output", "out"}},
	"error_file": {aliases: []string{"err_log", "err_file", "err", "error"}},
	"merge_logs": {aliases: []string{"combine_logs"}},
	"time":       {}, "log_date_format": {}, "treekill": {}, "windowsHide": {},
	"kill_signal": {}, "log_format": {}, "no_instance_limit": {}, // herd's own

	// Ignored, with the reason.
	"watch":                      {ignored: "herd does not watch files: reload after a change with kill -HUP <herd pid>", same: "false"},
	"ignore_watch":               {ignored: "herd does not watch files"},
	"watch_options":              {ignored: "herd does not watch files"},
	"watch_delay":                {ignored: "herd does not watch files"},
	"cron_restart":               {aliases: []string{"cron"}, ignored: "herd has no cron restarts: send SIGHUP to herd from cron or a systemd timer"},
	"autostart":                  {ignored: "herd starts every app of the file: pick some with --only NAME[,NAME]", same: "true"},
	"shutdown_with_message":      {ignored: "herd stops an instance with a signal (kill_signal), never with a 'shutdown' message", same: "false"},
	"kill_retry_time":            {ignored: "herd sends SIGKILL once kill_timeout has passed, without polling"},
	"uid":                        {aliases: []string{"user"}, ignored: "herd runs apps as the user herd runs as"},
	"gid":                        {ignored: "herd runs apps as the group herd runs as"},
	"username":                   {ignored: "herd runs apps as the user herd runs as"},
	"pid_file":                   {aliases: []string{"pid"}, ignored: "herd writes no pid files"},
	"filter_env":                 {ignored: "herd passes its whole environment on to apps", same: "false"},
	"namespace":                  {ignored: "herd has no namespaces"},
	"name_prefix":                {ignored: "herd uses names as written"},
	"append_env_to_name":         {ignored: "herd uses names as written", same: "false"},
	"instance_var":               {ignored: "herd always sets NODE_APP_INSTANCE (and HERD_INSTANCE)"},
	"increment_var":              {ignored: "herd does not increment variables per instance"},
	"source_map_support":         {ignored: "herd does not load source-map-support", same: "false"},
	"disable_source_map_support": {ignored: "herd does not load source-map-support", same: "true"},
	"disable_logs":               {ignored: "herd always shows the app's output", same: "false"},
	"log_type":                   {ignored: "herd writes JSON lines with herd run --json, for every app"},
	"pmx":                        {ignored: "PM2.io monitoring is not part of herd", same: "false"},
	"automation":                 {ignored: "PM2.io monitoring is not part of herd", same: "false"},
	"trace":                      {ignored: "PM2.io tracing is not part of herd", same: "false"},
	"disable_trace":              {ignored: "PM2.io tracing is not part of herd", same: "true"},
	"deep_monitoring":            {ignored: "PM2.io monitoring is not part of herd", same: "false"},
	"event_loop_inspector":       {ignored: "PM2.io monitoring is not part of herd", same: "false"},
	"v8":                         {ignored: "PM2.io monitoring is not part of herd", same: "false"},
	"io":                         {ignored: "PM2.io monitoring is not part of herd"},
	"vizion":                     {ignored: "herd does not track versions", same: "false"},
	"post_update":                {ignored: "herd does not deploy"},
	"install_url":                {ignored: "herd does not install modules"},
	"force":                      {ignored: "herd starts an app once per run", same: "false"},
	"execute_command":            {ignored: "herd reads the command from script"},
	"write":                      {ignored: "herd does not read it"},
}

// pm2Aliases returns the names PM2 reads key from, in its order: the key,
// its aliases, its camelCase form.
func pm2Aliases(key string) []string {
	names := append([]string{key}, pm2Keys[key].aliases...)
	if c := camel(key); c != key {
		names = append(names, c)
	}
	return names
}

// camel returns key in camelCase as PM2 forms its aliases: every part
// after the first, when longer than one letter, gets a capital.
func camel(key string) string {
	parts := strings.Split(key, "_")
	for i, p := range parts {
		if i > 0 && len(p) > 1 {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "")
}

// pm2App is one app of an ecosystem file with its keys under PM2's own
// names: vals holds each key's value, from the name it was written as.
type pm2App struct {
	vals     map[string]json.RawMessage
	from     map[string]string // canonical key -> the name in the file
	envs     map[string]json.RawMessage
	warnings []string
}

// canonical reads the keys of one app: each value under its canonical name
// (PM2's order decides between a key and its aliases; the names left out
// are warned about), env_<name> blocks apart, and a warning for every key
// herd does not read.
func canonical(all map[string]json.RawMessage) *pm2App {
	p := &pm2App{vals: map[string]json.RawMessage{}, from: map[string]string{}, envs: map[string]json.RawMessage{}}
	claimed := map[string]bool{}
	keys := make([]string, 0, len(pm2Keys))
	for k := range pm2Keys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, name := range pm2Aliases(k) {
			v, ok := all[name]
			if !ok {
				continue
			}
			claimed[name] = true
			if _, set := p.vals[k]; set {
				p.warnings = append(p.warnings, fmt.Sprintf("%s: ignored: %s is set, and PM2 reads it first", name, p.from[k]))
				continue
			}
			if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
				continue // PM2 takes null as not set
			}
			p.vals[k], p.from[k] = v, name
			if why := pm2Keys[k].ignored; why != "" && string(bytes.TrimSpace(v)) != pm2Keys[k].same {
				p.warnings = append(p.warnings, fmt.Sprintf("%s: ignored: %s", name, why))
			}
		}
	}
	var unknown []string
	for name, v := range all {
		switch {
		case claimed[name]:
		case strings.HasPrefix(name, "env_"):
			p.envs[strings.TrimPrefix(name, "env_")] = v
		default:
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	for _, name := range unknown {
		msg := fmt.Sprintf("%s: ignored: not a key of a PM2 7 ecosystem file", name)
		if near := nearestKey(name); near != "" {
			msg += "; did you mean " + near + "?"
		}
		p.warnings = append(p.warnings, msg)
	}
	return p
}

// nearestKey returns the PM2 key within two edits of name, or of one of
// its aliases, or "".
func nearestKey(name string) string {
	best, bestD := "", 3
	keys := make([]string, 0, len(pm2Keys))
	for k := range pm2Keys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, a := range pm2Aliases(k) {
			if d := editDistance(strings.ToLower(name), strings.ToLower(a)); d < bestD {
				best, bestD = k, d
			}
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// has reports whether the app sets key.
func (p *pm2App) has(key string) bool { _, ok := p.vals[key]; return ok }

// str decodes a string key; "" when unset.
func (p *pm2App) str(key string) (string, error) {
	v, ok := p.vals[key]
	if !ok {
		return "", nil
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return "", fmt.Errorf("%s: want a string, not %s", p.from[key], short(v))
	}
	return s, nil
}

// boolean decodes a true/false key; def when unset.
func (p *pm2App) boolean(key string, def bool) (bool, error) {
	v, ok := p.vals[key]
	if !ok {
		return def, nil
	}
	var b bool
	if json.Unmarshal(v, &b) != nil {
		return false, fmt.Errorf("%s: want true or false, not %s", p.from[key], short(v))
	}
	return b, nil
}

// number decodes a number key, also from a string that holds one, as PM2
// does ("3000"); ok is false when unset.
func (p *pm2App) number(key string) (f float64, ok bool, err error) {
	v, ok := p.vals[key]
	if !ok {
		return 0, false, nil
	}
	if json.Unmarshal(v, &f) == nil {
		return f, true, nil
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil && !math.IsInf(f, 0) {
			return f, true, nil
		}
	}
	return 0, true, fmt.Errorf("%s: want a number, not %s", p.from[key], short(v))
}

// millis decodes a key in milliseconds (a whole number, not negative).
func (p *pm2App) millis(key string) (int64, bool, error) {
	f, ok, err := p.number(key)
	if err != nil || !ok {
		return 0, ok, err
	}
	if f < 0 || f != math.Trunc(f) || f > math.MaxInt64/1e6 {
		return 0, true, fmt.Errorf("%s: want whole milliseconds, 0 or more, not %s", p.from[key], short(p.vals[key]))
	}
	return int64(f), true, nil
}

// list decodes args or node_args: a list of strings (numbers written as
// JavaScript writes them), or a string split as PM2 splits it (pm2Split).
func (p *pm2App) list(key string) ([]string, error) {
	v, ok := p.vals[key]
	if !ok {
		return nil, nil
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		return pm2Split(s), nil
	}
	var raw []json.RawMessage
	if json.Unmarshal(v, &raw) != nil {
		return nil, fmt.Errorf("%s: want a string or a list of strings, not %s", p.from[key], short(v))
	}
	out := make([]string, 0, len(raw))
	for _, r := range raw {
		s, set, err := jsString(r)
		if err != nil || !set {
			return nil, fmt.Errorf("%s: want a string or a list of strings, not a list holding %s", p.from[key], short(r))
		}
		out = append(out, s)
	}
	return out, nil
}

// short shows a JSON value in an error, cut to 40 bytes.
func short(v json.RawMessage) string {
	s := string(bytes.TrimSpace(v))
	if len(s) > 40 {
		i := 40
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i] + "…"
	}
	return s
}

// pm2Split splits a string of args as PM2 7 does: on white space, where a
// token that starts and ends with the same quote (' or ") loses those
// quotes, a quoted run ("My App") is one token, and a KEY="a b" or
// KEY='a b' token keeps its quotes (--title="My App" stays as written).
// Empty tokens ("") are dropped.
func pm2Split(s string) []string {
	var out []string
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' }
	for i := 0; i < len(s); {
		if isSpace(s[i]) {
			i++
			continue
		}
		tok, n := pm2Token(s[i:], isSpace)
		i += n
		if (tok[0] == '"' || tok[0] == '\'') && tok[len(tok)-1] == tok[0] {
			tok = tok[1:max(len(tok)-1, 1)] // a lone quote is empty
		}
		if strings.TrimSpace(tok) != "" {
			out = append(out, tok)
		}
	}
	return out
}

// pm2Token returns the token at the start of s (which is not white space)
// and its length: KEY="..." or KEY='...' (KEY without space, quote or =),
// a quoted run, or else everything up to the next white space.
func pm2Token(s string, isSpace func(byte) bool) (string, int) {
	key := 0
	for key < len(s) && !isSpace(s[key]) && s[key] != '"' && s[key] != '\'' && s[key] != '=' {
		key++
	}
	if key > 0 && key+1 < len(s) && s[key] == '=' && (s[key+1] == '"' || s[key+1] == '\'') {
		if end := strings.IndexByte(s[key+2:], s[key+1]); end >= 0 {
			n := key + 2 + end + 1
			return s[:n], n
		}
	}
	if s[0] == '"' || s[0] == '\'' {
		if end := strings.IndexByte(s[1:], s[0]); end >= 0 {
			return s[:end+2], end + 2
		}
	}
	n := 0
	for n < len(s) && !isSpace(s[n]) {
		n++
	}
	return s[:n], n
}

// jsString returns an env or args value as the string the program gets,
// as JavaScript's String() writes it: a string as is, a number in its
// shortest form (10485760, not 1.048576e+07; 1e21 and up with an
// exponent), true and false. null is no value (set is false); objects and
// lists are errors.
func jsString(v json.RawMessage) (s string, set bool, err error) {
	v = bytes.TrimSpace(v)
	switch {
	case len(v) == 0 || string(v) == "null":
		return "", false, nil
	case v[0] == '"':
		err := json.Unmarshal(v, &s)
		return s, err == nil, err
	case string(v) == "true" || string(v) == "false":
		return string(v), true, nil
	case v[0] == '{' || v[0] == '[':
		return "", false, errors.New("want a string, number or boolean")
	}
	var f float64
	if err := json.Unmarshal(v, &f); err != nil {
		return "", false, err
	}
	return jsNumber(f), true, nil
}

// jsNumber writes f as JavaScript's String(f) does: plain digits from
// 1e-6 up to 1e21, else d.ddde±x.
func jsNumber(f float64) string {
	a := math.Abs(f)
	if f == 0 {
		return "0"
	}
	if a >= 1e-6 && a < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	mant, exp, _ := strings.Cut(strconv.FormatFloat(f, 'e', -1, 64), "e")
	sign, digits := exp[:1], strings.TrimLeft(exp[1:], "0")
	return mant + "e" + sign + digits
}

// pm2Interpreters are the interpreters PM2 7 picks by the script's
// extension (lib/API/interpreter.json), with herd's choice for .py
// (python3, not python) and for .cjs and .mjs (node, which PM2 reaches by
// another way: a text file without a known extension).
var pm2Interpreters = map[string]string{
	".js": "node", ".cjs": "node", ".mjs": "node",
	".ts": "bun", ".tsx": "bun",
	".py": "python3", ".sh": "bash", ".rb": "ruby", ".php": "php", ".pl": "perl",
	".coffee": "coffee", ".ls": "lsc",
}

// scriptSpec is what a PM2 app says about its program.
type scriptSpec struct {
	dir         string   // the app's cwd, absolute
	script      string   // as written
	interpreter string   // exec_interpreter, "" when unset
	interpArgs  []string // node_args
	args        []string
}

// pm2Command returns the command PM2 7 would run for s, and warnings:
//   - a script with a space in it runs as `bash -c SCRIPT` (sh without
//     bash), args and interpreter left out, as PM2 does;
//   - a relative script is looked up in the app's cwd, then in PATH; not
//     found is an error;
//   - the interpreter, when not given, comes from the extension
//     (pm2Interpreters); a file without a known one runs as it is when it
//     is a binary or an executable script with a #! line, else under node,
//     as PM2 runs every text file it does not know;
//   - interpreter "none" runs the script as it is.
//
// An interpreter that is not in PATH is an error that says what to do.
func pm2Command(s scriptSpec) (cmd []string, warns []string, err error) {
	if strings.Contains(s.script, " ") {
		shell := "bash"
		if _, err := exec.LookPath("bash"); err != nil {
			shell = "sh"
		}
		if len(s.args) > 0 {
			warns = append(warns, fmt.Sprintf("args: ignored: a script with a space runs as %s -c SCRIPT, as PM2 runs it: put the arguments in the script", shell))
		}
		if s.interpreter != "" || len(s.interpArgs) > 0 {
			warns = append(warns, fmt.Sprintf("interpreter and node_args: ignored: a script with a space runs as %s -c SCRIPT, as PM2 runs it", shell))
		}
		return []string{shell, "-c", s.script}, warns, nil
	}
	path := s.script
	if !filepath.IsAbs(path) {
		path = filepath.Join(s.dir, path)
	}
	arg, fromPath := s.script, false // the script as the command gives it
	if _, err := os.Stat(path); err != nil {
		lp, lerr := exec.LookPath(s.script)
		if strings.Contains(s.script, "/") || lerr != nil {
			return nil, nil, fmt.Errorf("script %s: not found in the app's cwd (%s) nor in PATH", s.script, s.dir)
		}
		path, fromPath = lp, true
	}
	interp := s.interpreter
	if interp == "" {
		interp = pm2Interpreters[filepath.Ext(path)]
		if interp == "python3" && !inPath("python3") && inPath("python") {
			interp = "python"
		}
	}
	if interp == "" {
		interp = "node"
		if runsItself(path) {
			interp = "none"
			if line := shebang(path); line != "" && !strings.Contains(line, "node") {
				warns = append(warns, fmt.Sprintf("script %s: runs as it is, under its %s line; PM2 7 runs a text file without a known extension under node", s.script, line))
			}
		}
	}
	if interp == "none" {
		if len(s.interpArgs) > 0 {
			warns = append(warns, "node_args: ignored: the script runs without an interpreter")
		}
		if !fromPath && !strings.Contains(arg, "/") {
			arg = "./" + arg // in cwd, not looked up in PATH
		}
		return append([]string{arg}, s.args...), warns, nil
	}
	if !inPath(interp) {
		why := fmt.Sprintf("script %s runs under %s, which is not in PATH", s.script, interp)
		switch {
		case interp == "bun":
			why += " (PM2 7 runs .ts files with bun): install bun, or set interpreter: node with node_args: --experimental-strip-types (Node 22.6+), or interpreter: tsx"
		case s.interpreter == "":
			why += fmt.Sprintf(" (PM2 picks it for %s files): install it, or set interpreter", filepath.Ext(path))
		default:
			why += ": install it, or fix interpreter"
		}
		return nil, nil, errors.New(why)
	}
	if fromPath {
		arg = path // the interpreter reads the file PATH found
	}
	return append(append(append([]string{interp}, s.interpArgs...), arg), s.args...), warns, nil
}

// inPath reports whether name is a program in PATH.
func inPath(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}

// runsItself reports whether the file at path runs without an
// interpreter: a binary (PM2's test: a NUL byte, or more than 10% of the
// first 512 bytes neither text nor UTF-8), or an executable file starting
// with #!. PM2 runs an executable script of its own under node; herd
// honours its #! line.
func runsItself(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, 512)
	n, _ := f.Read(b)
	b = b[:n]
	if isBinary(b) {
		return true
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&0o111 != 0 && bytes.HasPrefix(b, []byte("#!"))
}

// shebang returns the #! line that starts the file at path, or "".
func shebang(path string) string {
	b, err := os.ReadFile(path)
	if err != nil || !bytes.HasPrefix(b, []byte("#!")) {
		return ""
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	return strings.TrimSpace(string(line))
}

// isBinary reports whether b, the start of a file, looks binary: a NUL
// byte, or more than 10% of bytes that are neither text nor valid UTF-8.
func isBinary(b []byte) bool {
	if len(b) == 0 || bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}) {
		return false
	}
	if bytes.IndexByte(b, 0) >= 0 {
		return true
	}
	odd := 0
	for i := 0; i < len(b); {
		c := b[i]
		if c >= 7 && c <= 14 || c >= 32 && c <= 127 {
			i++
			continue
		}
		if r, size := utf8.DecodeRune(b[i:]); r != utf8.RuneError && size > 1 {
			i += size
			continue
		}
		odd++
		i++
	}
	return odd*10 > len(b)
}

// pm2Name is the name PM2 gives an app without one: the script's base
// name up to its last dot.
func pm2Name(script string) string {
	n := filepath.Base(script)
	if i := strings.LastIndexByte(n, '.'); i > 0 {
		n = n[:i]
	}
	return n
}
