package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/herdrun/herd/internal/testutil"
)

// A PM2 user's ecosystem.config.js runs unchanged: cluster mode on the
// port from env, the env_production block, and PM2's wait_ready.
func TestRunEcosystemJS(t *testing.T) {
	testutil.RequireNode(t)
	dir := t.TempDir()
	port := testutil.FreePort(t)
	os.WriteFile(filepath.Join(dir, "app.js"), []byte(`const http = require('http');
http.createServer((q, s) => s.end(process.env.NODE_ENV + ' ' + process.env.HERD_INSTANCE)).listen(process.env.PORT, () => process.send('ready'));
`), 0o644)
	cfg := `module.exports = {
  apps: [{
    name: 'api',
    script: 'app.js',
    instances: 2,
    exec_mode: 'cluster',
    wait_ready: true,
    env: { PORT: ` + strconv.Itoa(port) + `, NODE_ENV: 'development' },
    env_production: { NODE_ENV: 'production' },
  }],
};
`
	p := filepath.Join(dir, "ecosystem.config.js")
	os.WriteFile(p, []byte(cfg), 0o644)
	h := startHerd(t, []string{"NO_COLOR=1"}, "run", "-c", p, "--env", "production")
	waitOut(t, h, "herd api | cluster: ready workers=2", 1)
	code, body, err := testutil.Get(context.Background(), "http://127.0.0.1:"+strconv.Itoa(port)+"/")
	if err != nil || code != 200 || !strings.HasPrefix(body, "production ") {
		t.Fatalf("GET = %d %q %v", code, body, err)
	}
	syscall.Kill(h.p.Pid, syscall.SIGTERM)
	if code := h.wait(t); code != 0 {
		t.Fatalf("exit %d\n%s", code, h.stderr.String())
	}
	// A file node cannot load fails fast with exit 1 and node's message.
	os.WriteFile(p, []byte("module.exports = { apps: [ oops ] };\n"), 0o644)
	code, _, errOut := runHerd(t, nil, "run", "-c", p)
	if code != 1 || !strings.Contains(errOut, p+": node could not load it") || !strings.Contains(errOut, "oops is not defined") {
		t.Fatalf("bad file: exit %d, %q", code, errOut)
	}
}
