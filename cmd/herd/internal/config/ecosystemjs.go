package config

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/herdrun/herd/cmd/herd/internal/app"
)

// ecosystemJSTimeout bounds how long node may take to evaluate an
// ecosystem.config.js file.
const ecosystemJSTimeout = 10 * time.Second

// loadScript prints, as JSON, what a CommonJS or ES module exports (its
// default export, or the result of calling it when it is a function).
const loadScript = `const p = require('path').resolve(process.argv[1]);
import(require('url').pathToFileURL(p).href).then(async (m) => {
  let c = m.default !== undefined ? m.default : m;
  if (typeof c === 'function') c = await c();
  process.stdout.write(JSON.stringify(c === undefined ? null : c));
}).catch((e) => { process.stderr.write(String(e && e.stack || e) + '\n'); process.exit(1); });`

// jsonScript prints, as JSON, the value of a .json file read as PM2 reads
// it: a JavaScript expression, in a context of its own, within 1s.
const jsonScript = `const p = process.argv[1];
try {
  const c = require('vm').runInNewContext('(' + require('fs').readFileSync(p, 'utf8') + '\n)', {}, { filename: p, timeout: 1000 });
  process.stdout.write(JSON.stringify(c === undefined ? null : c));
} catch (e) { process.stderr.write(String(e && e.message || e) + '\n'); process.exit(1); }`

// isScriptConfig reports whether path names a JavaScript ecosystem file
// (PM2's default, ecosystem.config.js).
func isScriptConfig(path string) bool {
	switch filepath.Ext(path) {
	case ".js", ".cjs", ".mjs":
		return true
	}
	return false
}

// evalEcosystem runs node on a JavaScript ecosystem file and returns its
// export as JSON. The file runs in its own directory, as PM2 runs it.
func evalEcosystem(ctx context.Context, path string) ([]byte, error) {
	return runNode(ctx, path, loadScript)
}

// runNode runs node with script on the file at path, in the file's
// directory, and returns what it prints.
func runNode(ctx context.Context, path, script string) ([]byte, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, &ConfigError{File: path, Msg: "a .js ecosystem file is read by running node, which is not in PATH; convert it to JSON or install node"}
	}
	ctx, cancel := context.WithTimeout(ctx, ecosystemJSTimeout)
	defer cancel()
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, node, "-e", script, abs)
	cmd.Dir = filepath.Dir(abs)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, &ConfigError{File: path, Msg: fmt.Sprintf("node did not finish reading it within %v", ecosystemJSTimeout)}
		}
		msg := strings.TrimSpace(stderr.String())
		if i := strings.Index(msg, "\n    at "); i > 0 {
			msg = msg[:i] // the error, without node's stack
		}
		if msg == "" {
			msg = err.Error()
		}
		return nil, &ConfigError{File: path, Msg: "node could not load it: " + msg}
	}
	return stdout.Bytes(), nil
}

// parseJSONAsJS reads a .json ecosystem file that is not strict JSON as
// PM2 does, as a JavaScript expression, through node. Errors name the app
// but no line.
func parseJSONAsJS(path, envName string) ([]app.App, error) {
	b, err := runNode(context.Background(), path, jsonScript)
	if err != nil {
		return nil, err
	}
	apps, err := parseEcosystem(path, b, envName)
	var ce *ConfigError
	if errors.As(err, &ce) {
		ce.Line = 0
	}
	return apps, err
}

// parseEcosystemJS reads a JavaScript ecosystem file through node. Errors
// name the app but no line: the lines of node's JSON are not the file's.
func parseEcosystemJS(path, envName string) ([]app.App, error) {
	b, err := evalEcosystem(context.Background(), path)
	if err != nil {
		return nil, err
	}
	apps, err := parseEcosystem(path, b, envName)
	var ce *ConfigError
	if errors.As(err, &ce) {
		ce.Line = 0
	}
	return apps, err
}
